"""Kill a toy training run anywhere; the rerun must end exactly like an uninterrupted run.

    python tools/fault_inject.py                      # 20 trials (about 15-30 min on a CPU)
    python tools/fault_inject.py --trials 4 --seed 1 --workdir output/fault_inject

Clusters preempt jobs and nodes die; a run killed at any moment and started
again with the same command must end with the same weights and the same
results. This tool tests that with fault injection rather than one lucky kill.

The run: train.py with ADU on toy_domains, the shipped tiny CLIP
(configs/trainers/ADU/toy_tiny.yaml), --epochs epochs of --shots shots, a
checkpoint every epoch, no linear probes. An uninterrupted run is the reference; it also
counts the events of every phase (ADU_FAULT_COUNT, trainers/engine/fault.py).
Each trial then runs the same command in a fresh folder with
ADU_FAULT_PHASE=PHASE:K, so that the run SIGKILLs itself at the K-th event of
one phase, K drawn at random (seeded) from the reference's count:

    step              inside a training step
    checkpoint_write  inside a checkpoint's write (K counts bytes: which
                      checkpoint and where in it), before its rename
    evaluation        after a test batch is scored
    results_write     results.json written to its temporary file, not renamed

The phases are dealt out in turn (in a seeded order), so each gets a quarter
of the trials. The same command is then run again, without the variable,
until it exits 0 (at most --max-reruns times). A trial is
  killed      when the first run died of SIGKILL (in the chosen phase: the
              hook kills nowhere else),
  recovered   when a rerun finished, wrote results.json and left no
              temporary file behind, and
  identical   when every tensor of the final learner checkpoint is
              torch.equal to the reference's and results.json is equal.
It prints one line per trial and a table per phase; the exit status is 0
only when every trial was killed, recovered and identical.
"""
import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

os.environ.setdefault("OUTDATED_IGNORE", "1")  # Dassl -> wilds: no network check
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

import torch  # noqa: E402

from datasets.toy_render import ensure_toy_domains  # noqa: E402
from trainers.engine.fault import COUNT_ENV, PHASE_ENV, PHASES  # noqa: E402
from trainers.engine.files import TEMP_PATTERN  # noqa: E402

# Dassl imports wilds, whose `outdated` check would try the network.
QUIET_ENV = {"OUTDATED_IGNORE": "1", "PYTHONWARNINGS": "ignore"}


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


def train_command(root: str, output_dir: str, epochs: int = 2, shots: int = 1,
                  seed: int = 1) -> list:
    """The toy run every trial repeats (also what scripts/adu/main.sh runs
    for `toy_domains sketch toy_tiny SHOTS -- <the options below>`)."""
    return [sys.executable, os.path.join(REPO, "train.py"), "--root", root,
            "--seed", str(seed), "--trainer", "ADU",
            "--dataset-config-file", os.path.join(REPO, "configs/datasets/toy_domains.yaml"),
            "--config-file", os.path.join(REPO, "configs/trainers/ADU/toy_tiny.yaml"),
            "--output-dir", output_dir, "--forget-domains", "sketch",
            "DATASET.NUM_SHOTS", str(shots), *run_options(epochs)]


def run_options(epochs: int) -> list:
    """The config options of the toy run, after the dataset and shots. The
    linear probes are left out: they would double the time of each
    evaluation and only refit on the features the evaluation already scores."""
    return ["OPTIM.MAX_EPOCH", str(epochs), "TRAIN.CHECKPOINT_FREQ", "1",
            "DATALOADER.TRAIN_X.BATCH_SIZE", "8", "TEST.LINEAR_PROBES", "False"]


def run(cmd: list, log: str, **env) -> int:
    """Run `cmd` with its output to `log` (appended); its exit status
    (negative: the signal that killed it)."""
    base = {k: v for k, v in os.environ.items() if k not in (PHASE_ENV, COUNT_ENV)}
    with open(log, "a") as f:
        return subprocess.run(cmd, cwd=REPO, stdout=f, stderr=subprocess.STDOUT,
                              env=dict(base, **QUIET_ENV, **env)).returncode


def final_weights(run_dir: str, epochs: int) -> dict:
    path = os.path.join(run_dir, "learner", f"model.pth.tar-{epochs}")
    return torch.load(path, map_location="cpu")["state_dict"]


def results(run_dir: str):
    path = os.path.join(run_dir, "results.json")
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def temporaries(run_dir: str) -> list:
    return [os.path.join(folder, name) for folder, _, names in os.walk(run_dir)
            for name in names if TEMP_PATTERN.match(name)]


def reference_run(cmd_for, workdir: str) -> tuple:
    """The uninterrupted run's folder and its event counts per phase."""
    out = os.path.join(workdir, "reference")
    counts_file = os.path.join(workdir, "reference_counts.json")
    rc = run(cmd_for(out), os.path.join(workdir, "reference.log"), **{COUNT_ENV: counts_file})
    if rc != 0 or results(out) is None:
        sys.exit(f"fault_inject.py: error: the uninterrupted run failed (exit {rc}); "
                 f"see {os.path.join(workdir, 'reference.log')}")
    with open(counts_file) as f:
        return out, json.load(f)


def trial_plan(trials: int, counts: dict, seed: int) -> list:
    """(phase, K) per trial: the phases in turn, each round in a seeded order,
    K uniform over the phase's events in the reference run."""
    rng = random.Random(seed)
    phases = []
    while len(phases) < trials:
        round_ = list(PHASES)
        rng.shuffle(round_)
        phases += round_
    return [(phase, rng.randint(1, counts[phase])) for phase in phases[:trials]]


def run_trial(cmd: list, folder: str, phase: str, k: int, max_reruns: int) -> dict:
    """Kill one run at (phase, K), rerun it until it finishes; what happened."""
    log = os.path.join(folder, "trial.log")
    os.makedirs(folder)
    first = run(cmd, log, **{PHASE_ENV: f"{phase}:{k}"})
    reruns, rc = 0, first
    while rc != 0 and reruns < max_reruns:
        reruns += 1
        rc = run(cmd, log)
    return {"killed": first == -signal.SIGKILL, "first_exit": first, "reruns": reruns,
            "finished": rc == 0}


def table(rows: list) -> str:
    headers = ["phase", "trials", "killed", "recovered", "identical"]
    lines = [f"{headers[0]:<18}" + "".join(f"{h:>11}" for h in headers[1:])]
    for phase in (*PHASES, "all"):
        sel = [r for r in rows if phase in ("all", r["phase"])]
        cells = [len(sel)] + [sum(r[key] for r in sel)
                              for key in ("killed", "recovered", "identical")]
        lines.append(f"{phase:<18}" + "".join(f"{c:>11}" for c in cells))
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    workdir = os.path.abspath(args.workdir or tempfile.mkdtemp(prefix="fault_inject_"))
    os.makedirs(workdir, exist_ok=True)
    root = os.path.abspath(args.root or os.path.join(workdir, "data"))
    ensure_toy_domains(os.path.join(root, "toy_domains"))

    def cmd_for(out):
        return train_command(root, out, args.epochs, args.shots, args.run_seed)

    start = time.time()
    print(f"Reference: an uninterrupted run ({args.epochs} epochs, {args.shots} shot(s)) "
          f"in {workdir}")
    ref_dir, counts = reference_run(cmd_for, workdir)
    ref_weights, ref_results = final_weights(ref_dir, args.epochs), results(ref_dir)
    print("Events per phase in the reference run: "
          + ", ".join(f"{p} {counts[p]}" for p in PHASES))
    def trial(numbered):
        i, (phase, k) = numbered
        out = os.path.join(workdir, f"trial{i:02d}")
        outcome = run_trial(cmd_for(out), out, phase, k, args.max_reruns)
        got = results(out)
        leftovers = temporaries(out)
        recovered = outcome["finished"] and got is not None and not leftovers
        identical = (recovered and got == ref_results
                     and same_weights(final_weights(out, args.epochs), ref_weights))
        print(f"trial {i:2d}/{args.trials}: {PHASE_ENV}={phase}:{k}: "
              + (f"killed, {outcome['reruns']} rerun(s)" if outcome["killed"]
                 else f"not killed (exit {outcome['first_exit']})")
              + (", recovered" if recovered else ", NOT recovered")
              + (f" (left {leftovers})" if leftovers else "")
              + (", identical" if identical else ", DIFFERENT" if recovered else ""),
              flush=True)
        return {"phase": phase, "killed": outcome["killed"], "recovered": recovered,
                "identical": identical}

    plan = list(enumerate(trial_plan(args.trials, counts, args.seed), 1))
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        rows = list(pool.map(trial, plan))
    kept = f"; runs in {workdir}" if args.workdir else ""
    print(f"\n{args.trials} trials (seed {args.seed}) in {time.time() - start:.0f} s{kept}")
    print(table(rows))
    if not args.workdir:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if all(r["killed"] and r["identical"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
