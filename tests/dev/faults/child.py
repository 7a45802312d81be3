"""train.py with fault hooks: what a fault-injection trial runs instead of train.py.

    python -m tests.dev.faults.child [--kill PHASE:K] [--count FILE] -- TRAIN.PY ARGS

--kill SIGKILLs the run at the K-th event of PHASE (hooks.py); --count
writes the events of every phase to FILE (JSON) when the run ends. Without
either it is train.py. Run it from the repository root.
"""
import argparse
import sys

from .hooks import PHASES, FaultPoints, install


def kill_target(value: str) -> tuple:
    """PHASE:K -> (PHASE, K)."""
    phase, _, count = value.partition(":")
    if phase not in PHASES or not count.isdigit() or int(count) < 1:
        raise argparse.ArgumentTypeError(
            f"{value!r}: expected PHASE:K with PHASE one of {', '.join(PHASES)} and K >= 1")
    return phase, int(count)


def parse_args(argv=None):
    """(the child's options, train.py's arguments: everything after `--`)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--" not in argv:
        argv.append("--")
    split = argv.index("--")
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kill", type=kill_target, default=("", 0), metavar="PHASE:K",
                        help=f"SIGKILL at the K-th event of PHASE ({', '.join(PHASES)})")
    parser.add_argument("--count", default="", metavar="FILE",
                        help="write the events of every phase to FILE (JSON) at exit")
    return parser.parse_args(argv[:split]), argv[split + 1:]


def main(argv=None):
    args, train_argv = parse_args(argv)
    import train
    train.register()  # Dassl, the datasets and the trainers: before their seams are wrapped
    points = FaultPoints(*args.kill)
    if args.count:
        points.write_counts_at_exit(args.count)
    install(points)
    sys.argv = [train.__file__, *train_argv]  # the run's log and run_info.json: as train.py's
    train.run(train_argv)


if __name__ == "__main__":
    main()
