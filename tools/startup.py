"""Time the command line's answers that need neither data nor a model.

    python tools/startup.py [--repo PATH] [--reps 3]

Runs, each in a fresh Python from the checkout at --repo (default: this
one): `train.py --help`, six refusals of train.py (a misspelt key, a bad
value, an unknown trainer, an unknown forget domain, a missing config file,
a folder another run holds), the launcher's usage and one of its refusals,
and `--help` of the tools; prints the median wall time of each and its
exit status. The target (issue 38): under 2 s each on an idle core.
OMP_NUM_THREADS=1 is set for every command.
"""
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from experiments.bench.startup import measure_main, parse_args  # noqa: E402,F401


def tools_help(repo: str) -> list:
    """`--help` of every tool of the checkout at `repo`."""
    tools = sorted(f for f in os.listdir(osp.join(repo, "tools")) if f.endswith(".py"))
    return [(f"tools/{t} --help", [sys.executable, osp.join(repo, "tools", t), "--help"])
            for t in tools]


def main(argv=None) -> int:
    return measure_main(argv, tools_help)


if __name__ == "__main__":
    sys.exit(main())
