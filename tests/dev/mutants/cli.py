"""tools/mutants.py's work: pick the mutants, run them, print the table."""
import argparse
import sys
import time

from tests.dev.mutants.catalogue import MUTANTS
from tests.dev.mutants.runner import outcome_markdown, outcome_table, run_mutants


def mutant_name(name: str) -> str:
    """An argparse type: `name` if it is a mutant's, else one clear error."""
    if name not in {m.name for m in MUTANTS}:
        raise argparse.ArgumentTypeError(
            f"no mutant is named '{name}'; python tools/mutants.py --list names them")
    return name


def positive_jobs(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got '{text}'")
    return int(text)


def select(only):
    """The mutants named in `only` (all when empty), in the catalogue's order."""
    return [m for m in MUTANTS if not only or m.name in only]


def list_lines(mutants) -> str:
    return "\n".join(f"{m.name}  {m.file}: {m.description} [{', '.join(m.killers)}]"
                     for m in mutants)


def run_mutation_tests(repo: str, only=(), jobs: int = 1, list_only: bool = False,
                       markdown: bool = False, python: str = sys.executable) -> int:
    """0 when every selected mutant is killed by the fast tier, 1 otherwise."""
    mutants = select(only)
    if list_only:
        print(list_lines(mutants))
        return 0
    start = time.monotonic()
    outcomes = run_mutants(repo, mutants, jobs, python)
    print(outcome_table(outcomes))
    if markdown:
        print(outcome_markdown(outcomes, mutants))
    print(f"{time.monotonic() - start:.0f} s, {jobs} job(s)")
    return 0 if all(o.status == "killed" for o in outcomes) else 1
