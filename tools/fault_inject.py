"""Kill a toy training run anywhere; the rerun must end exactly like an uninterrupted run.

    python tools/fault_inject.py                      # 20 trials (about 15-30 min on a CPU)
    python tools/fault_inject.py --trials 4 --seed 1 --workdir output/fault_inject

Clusters preempt jobs and nodes die; a run killed at any moment and started
again with the same command must end with the same weights and the same
results. This tool tests that with fault injection rather than one lucky kill:
each trial runs the toy ADU run through tests/dev/faults/child.py, which
SIGKILLs it at a drawn moment of one phase (inside a training step, inside a
checkpoint's write, after a test batch is scored, or between results.json's
write and its rename), then reruns the plain train.py command until it
finishes (tests/dev/faults/trials.py). It prints one line per trial and a
table per phase; the exit status is 0 only when every trial was killed,
recovered and identical.
"""
import argparse
import os
import sys

os.environ.setdefault("OUTDATED_IGNORE", "1")  # Dassl -> wilds: no network check
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from tests.dev.faults.trials import fault_trials  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=20, help="runs to kill (default: 20)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the kill moments and the phase order (default: 0)")
    parser.add_argument("--root", default="",
                        help="dataset root holding (or to hold) toy_domains "
                             "(default: a folder under --workdir)")
    parser.add_argument("--workdir", default="",
                        help="folder for the runs, kept (default: a temporary folder, removed)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per run (default: 2)")
    parser.add_argument("--shots", type=int, default=1,
                        help="shots per (class, domain) (default: 1)")
    parser.add_argument("--run-seed", type=int, default=1,
                        help="train.py --seed of every run (default: 1)")
    parser.add_argument("--max-reruns", type=int, default=3,
                        help="reruns of a killed run before it counts as not recovered")
    parser.add_argument("--jobs", type=int, default=1,
                        help="trials run at a time (default: 1); a run's numbers do not "
                             "depend on it, only the wall time does")
    args = parser.parse_args(argv)
    if min(args.trials, args.shots, args.max_reruns, args.jobs) < 1 or args.epochs < 2:
        parser.error("--trials, --shots, --max-reruns and --jobs must be >= 1 and --epochs "
                     ">= 2 (a kill in the last epoch then has a checkpoint to resume from)")
    if args.workdir and os.path.isdir(args.workdir) and os.listdir(args.workdir):
        parser.error(f"--workdir {args.workdir} is not empty: give a new folder (a run "
                     "there would resume instead of starting afresh)")
    return args


def main(argv=None) -> int:
    return fault_trials(**vars(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
