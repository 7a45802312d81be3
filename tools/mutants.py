"""Mutation testing: does the fast tier fail when a line of the method is broken?

    python tools/mutants.py                 # every mutant, one at a time
    python tools/mutants.py --list          # the mutants and their expected killers
    python tools/mutants.py --only loss-mmd-sign --only metrics-h-arithmetic-mean
    python tools/mutants.py --jobs 2        # two copies of the tree at once
    python tools/mutants.py --markdown      # also docs/TESTING.md's table of the results

Each mutant (tests/dev/mutants/catalogue.py) replaces one line or snippet of
the losses, the model, the engine, the metrics, the few-shot sampler or the
results table by a plausible slip. The tool copies the tree (git's files and a
link to .venv) into a temporary folder, applies one mutant, runs the mutant's
expected killer tests in the fast tier (`pytest -m "not slow" -x`), and only
if they pass the whole fast tier; then it restores the file. It prints one row
per mutant (killed or survived, by which test) and exits 1 if any mutant
survives, or if a mutant's original text is no longer in its file exactly once.
"""
import argparse
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from tests.dev.mutants.cli import (  # noqa: E402
    mutant_name, positive_jobs, run_mutation_tests)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--only", action="append", default=[], metavar="NAME", type=mutant_name,
                   help="run this mutant only (repeatable)")
    p.add_argument("--list", action="store_true", help="list the mutants and exit")
    p.add_argument("--jobs", type=positive_jobs, default=1, help="mutants run at once (default: 1)")
    p.add_argument("--markdown", action="store_true",
                   help="also print the results as docs/TESTING.md's mutant table")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    return run_mutation_tests(REPO, args.only, args.jobs, args.list, args.markdown)


if __name__ == "__main__":
    sys.exit(main())
