"""Time the command line's answers that need neither data nor a model.

The logic of tools/startup.py, whose docstring gives the usage and what it measures.
"""
import argparse
import fcntl
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOY = ["--seed", "1", "--trainer", "ADU", "--dataset-config-file",
       "configs/datasets/toy_domains.yaml", "--config-file", "configs/trainers/ADU/toy_tiny.yaml",
       "--forget-domains", "sketch"]


def commands(repo: str, out: str, taken: str, more) -> list:
    """(label, argv) of every command timed; `more(repo)` adds the tools'."""
    train = [sys.executable, os.path.join(repo, "train.py"), "--root", out]
    run = ["--output-dir", os.path.join(out, "run")]
    return ([("train.py --help", train[:2] + ["--help"]),
             ("refuse: misspelt key", train + TOY + run + ["OPTIM.MAX_EPOCHS", "2"]),
             ("refuse: bad value", train + TOY + run + ["OPTIM.MAX_EPOCH", "0"]),
             ("refuse: unknown trainer", train + TOY + run + ["--trainer", "ADUU"]),
             ("refuse: unknown domain", train + TOY + run + ["--forget-domains", "sketchy"]),
             ("refuse: missing config file", train + TOY + run + ["--config-file", "no.yaml"]),
             ("refuse: locked folder", train + TOY + ["--output-dir", taken]),
             ("launcher usage", [sys.executable, "-m", "experiments.launch"]),
             ("launcher: unknown domain", [sys.executable, "-m", "experiments.launch", "main",
                                           "toy_domains", "sketchy"])]
            + more(repo))


def time_command(argv, repo: str, reps: int):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHON": sys.executable, "DRY_RUN": "1"}
    times, code = [], None
    for _ in range(reps):
        start = time.perf_counter()
        proc = subprocess.run(argv, cwd=repo, env=env, capture_output=True, timeout=600)
        times.append(time.perf_counter() - start)
        code = proc.returncode
    return statistics.median(times), code


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repo", default=HERE, help="the checkout whose commands are timed")
    p.add_argument("--reps", type=int, default=3, help="runs of each command (the median)")
    args = p.parse_args(argv)
    if args.reps < 1:
        p.error("--reps must be >= 1")
    return args


def measure_main(argv=None, more=lambda repo: []) -> int:
    """Time every command; `more(repo)`: (label, argv) of more commands."""
    args = parse_args(argv)
    repo = os.path.abspath(args.repo)
    with tempfile.TemporaryDirectory() as out:
        taken = os.path.join(out, "taken")
        os.makedirs(taken)
        fd = os.open(os.path.join(taken, ".run.lock"), os.O_RDWR | os.O_CREAT)
        fcntl.flock(fd, fcntl.LOCK_EX)  # held by this process while the others try
        try:
            print(f"{'command':<36} {'seconds':>8}  exit  ({repo}, median of {args.reps})")
            for label, command in commands(repo, out, taken, more):
                seconds, code = time_command(command, repo, args.reps)
                print(f"{label:<36} {seconds:8.2f}  {code:>4}", flush=True)
        finally:
            os.close(fd)
    return 0

