"""Run the fast tier against each mutant: its expected killers first (a
killed mutant then costs one short pytest run), the whole fast tier with -x
only when they pass."""
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from tests.dev.mutants.tree import StaleMutant, check_applies, copy_tree, mutated

FAST_TIER = ["-m", "not slow"]
PYTEST = ["-m", "pytest", "-x", "-q", "-p", "no:cacheprovider"]
FAILED_LINE = re.compile(r"^(?:FAILED|ERROR) (\S+)", re.M)


@dataclass
class Outcome:
    name: str
    status: str        # "killed", "survived", "stale" or "error"
    killed_by: str     # the first failing test, or why not
    seconds: float
    by_expected: bool = False


def run_pytest(tree: str, targets, python: str, timeout: int):
    """(return code, output) of the fast tier on `targets` inside `tree`."""
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"),
               PYTHONDONTWRITEBYTECODE="1", OUTDATED_IGNORE="1")
    env.pop("PYTHONPATH", None)
    try:
        proc = subprocess.run([python, *PYTEST, *FAST_TIER, *targets], cwd=tree, env=env,
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout} s"
    return proc.returncode, proc.stdout + proc.stderr


def first_failure(output: str) -> str:
    match = FAILED_LINE.search(output)
    return match.group(1) if match else "(no failing test named)"


def judge(rc, output):
    """"killed" (a test failed or errored), "passed", or "error" with why."""
    if rc in (1, 2) and FAILED_LINE.search(output):
        return "killed"
    if rc == 0:
        return "passed"
    if rc == 5:
        return "error: the tests named select nothing in the fast tier"
    tail = output.strip().splitlines()[-1:] or [""]
    return f"error: pytest exited {rc}: {tail[0][:120]}"


def run_mutant(tree: str, mutant, python: str, timeout: int = 900) -> Outcome:
    start = time.monotonic()
    try:
        with mutated(tree, mutant):
            rc, out = run_pytest(tree, list(mutant.killers), python, timeout)
            verdict = judge(rc, out)
            by_expected = verdict == "killed"
            if verdict == "passed":
                rc, out = run_pytest(tree, ["tests"], python, timeout)
                verdict = judge(rc, out)
                verdict = "survived" if verdict == "passed" else verdict
    except StaleMutant as err:
        return Outcome(mutant.name, "stale", str(err), time.monotonic() - start)
    seconds = time.monotonic() - start
    if verdict == "killed":
        return Outcome(mutant.name, "killed", first_failure(out), seconds, by_expected)
    if verdict == "survived":
        return Outcome(mutant.name, "survived", "-", seconds)
    return Outcome(mutant.name, "error", verdict[len("error: "):], seconds)


def check_all_apply(repo: str, mutants):
    """Stale mutants, named, before any test runs."""
    stale = []
    for m in mutants:
        try:
            with open(os.path.join(repo, m.file)) as f:
                check_applies(f.read(), m)
        except (StaleMutant, OSError) as err:
            stale.append(Outcome(m.name, "stale", str(err), 0.0))
    return stale


def run_mutants(repo: str, mutants, jobs: int = 1, python: str = sys.executable,
                progress=print):
    """Outcomes of every mutant, each on a worker's copy of the tree."""
    stale = check_all_apply(repo, mutants)
    if stale:
        return stale
    jobs = max(1, min(jobs, len(mutants)))
    with tempfile.TemporaryDirectory(prefix="mutants-") as tmp:
        trees = [copy_tree(repo, os.path.join(tmp, f"tree{i}")) for i in range(jobs)]
        queues = [mutants[i::jobs] for i in range(jobs)]

        def work(i):
            results = []
            for m in queues[i]:
                outcome = run_mutant(trees[i], m, python)
                progress(f"{outcome.status:<9} {m.name} ({outcome.seconds:.0f} s): "
                         f"{outcome.killed_by}")
                results.append(outcome)
            return results

        with ThreadPoolExecutor(jobs) as pool:
            done = [o for part in pool.map(work, range(jobs)) for o in part]
    order = {m.name: i for i, m in enumerate(mutants)}
    return sorted(done, key=lambda o: order[o.name])


def outcome_table(outcomes) -> str:
    """One line per mutant: status, time, the test that killed it."""
    width = max(len(o.name) for o in outcomes)
    lines = [f"{'mutant':<{width}}  {'status':<9} {'s':>5}  killed by"]
    for o in outcomes:
        note = "" if o.status != "killed" or o.by_expected else "  (not an expected killer)"
        lines.append(f"{o.name:<{width}}  {o.status:<9} {o.seconds:>5.0f}  {o.killed_by}{note}")
    killed = sum(o.status == "killed" for o in outcomes)
    lines.append(f"{killed} of {len(outcomes)} mutants killed")
    return "\n".join(lines)


def outcome_markdown(outcomes, mutants) -> str:
    """docs/TESTING.md's mutant table: mutant, file and what it breaks, the
    test that killed it (or its status)."""
    by_name = {m.name: m for m in mutants}
    lines = ["| Mutant | What it breaks | Killed by (fast tier) |", "|---|---|---|"]
    for o in outcomes:
        m = by_name[o.name]
        killer = f"`{o.killed_by}`" if o.status == "killed" else f"**{o.status}**"
        lines.append(f"| `{m.name}` | {m.file}: {m.description} | {killer} |")
    return "\n".join(lines)
