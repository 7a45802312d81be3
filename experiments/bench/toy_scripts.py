"""Time the scripts on the toy benchmark beside the demo, per run.

The logic of tools/toy_scripts_bench.py, whose docstring gives the usage and what it measures.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# name -> (script, arguments, extra environment).
SCRIPTS = {
    "demo": ("demo.sh", [], {}),
    "main": ("main.sh", ["toy_domains", "sketch"], {}),
    "compare": ("compare.sh", ["toy_domains", "sketch"], {"METHODS": "CoOpADU ADU"}),
    "ablation": ("ablation.sh", ["toy_domains", "sketch"], {}),
}
BUSY = "while True:\n    pass\n"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default="data", help="DATA: the toy is generated there on first use")
    p.add_argument("--out", default="", help="folder for the runs (default: a temporary one, "
                                             "removed)")
    p.add_argument("--busy", action="store_true",
                   help="measure beside one process that keeps a core busy")
    p.add_argument("--scripts", default="demo,main,compare,ablation",
                   help=f"comma-separated, from {', '.join(SCRIPTS)} (demo first: the ratio's "
                        "base)")
    p.add_argument("--seed", default="1", help="SEEDS of every script")
    p.add_argument("--epochs", type=int, default=0,
                   help="OPTIM.MAX_EPOCH of every run (default: the config's 10); a smaller "
                        "value is a quick check that the tool works, not the target's measure")
    args = p.parse_args(argv)
    args.scripts = args.scripts.split(",")
    unknown = [s for s in args.scripts if s not in SCRIPTS]
    if unknown or not args.scripts:
        p.error(f"--scripts: unknown {unknown}; choose from {', '.join(SCRIPTS)}")
    return args


def script_env(args, out: str, extra: dict, dry: bool) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DRY_RUN", "QUIET", "OUTPUT")}
    env.update(extra, DATA=os.path.abspath(args.data), SEEDS=args.seed, OUTPUT=out,
               PYTHON=os.environ.get("PYTHON", sys.executable))
    if dry:
        env["DRY_RUN"] = "1"
    return env


def call(name: str, args, out: str, dry: bool) -> subprocess.CompletedProcess:
    script, script_args, extra = SCRIPTS[name]
    epochs = ["--", "OPTIM.MAX_EPOCH", str(args.epochs)] if args.epochs else []
    return subprocess.run(["bash", os.path.join(REPO, "scripts", "adu", script), *script_args,
                           *epochs],
                          cwd=REPO, env=script_env(args, out, extra, dry), capture_output=True,
                          text=True)


def runs_planned(name: str, args, out: str) -> int:
    proc = call(name, args, out, dry=True)
    found = re.search(r"(\d+) would run", proc.stdout + proc.stderr)
    if proc.returncode != 0 or not found:
        sys.exit(f"toy_scripts_bench.py: error: {name} (dry run) failed: "
                 f"{(proc.stderr or proc.stdout).strip()[-300:]}")
    return int(found.group(1))


def measure(args, top: str) -> list:
    rows = []
    for name in args.scripts:
        out = os.path.join(top, name)
        runs = runs_planned(name, args, out)
        start = time.perf_counter()
        proc = call(name, args, out, dry=False)
        seconds = time.perf_counter() - start
        if proc.returncode != 0:
            sys.exit(f"toy_scripts_bench.py: error: {name} failed (exit {proc.returncode}): "
                     f"{(proc.stderr or proc.stdout).strip()[-300:]}")
        rows.append((name, seconds, runs))
        print(f"{name}: {seconds:.1f} s for {runs} runs", flush=True)
    return rows


def measure_main(argv=None) -> int:
    args = parse_args(argv)
    busy = subprocess.Popen([sys.executable, "-c", BUSY]) if args.busy else None
    try:
        if args.out:
            rows = measure(args, os.path.abspath(args.out))
        else:
            with tempfile.TemporaryDirectory(prefix="toy_scripts_bench_") as top:
                rows = measure(args, top)
    finally:
        if busy is not None:
            busy.kill()
            busy.wait()
    base = dict((n, s / r) for n, s, r in rows).get("demo")
    print(f"\n{'script':<10} {'seconds':>8} {'runs':>5} {'s/run':>7} {'x demo':>7}   "
          f"(busy process: {'yes' if args.busy else 'no'}; "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}; {os.cpu_count()} CPUs)")
    for name, seconds, runs in rows:
        ratio = f"{seconds / runs / base:7.2f}" if base else "      -"
        print(f"{name:<10} {seconds:8.1f} {runs:5d} {seconds / runs:7.1f} {ratio}")
    return 0

