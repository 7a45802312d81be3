"""Kill a toy training run anywhere; the rerun must end exactly like an uninterrupted run.

The run: train.py with ADU on toy_domains, the shipped tiny CLIP
(configs/trainers/ADU/toy_tiny.yaml), `epochs` epochs of `shots` shots, a
checkpoint every epoch, no linear probes. An uninterrupted run through
child.py is the reference; it also counts the events of every phase
(hooks.py). Each trial then runs the same command through child.py in a
fresh folder with `--kill PHASE:K`, K drawn at random (seeded) from the
reference's count; the phases are dealt out in turn (in a seeded order), so
each gets an equal share of the trials. The train.py command itself is then
run again until it exits 0 (at most `max_reruns` times). A trial is
  killed      when the first run died of SIGKILL (in the chosen phase: the
              hook kills nowhere else),
  recovered   when a rerun finished, wrote results.json and left no
              temporary file behind, and
  identical   when every tensor of the final learner checkpoint is
              torch.equal to the reference's and results.json is equal.
"""
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

import torch

from datasets.toy_render import ensure_toy_domains
from trainers.run.files import PROJECT_ROOT as REPO
from trainers.run.files import TEMP_PATTERN

from .hooks import PHASES

# Dassl imports wilds, whose `outdated` check would try the network.
QUIET_ENV = {"OUTDATED_IGNORE": "1", "PYTHONWARNINGS": "ignore"}


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


def child_command(cmd: list, *options: str) -> list:
    """The train.py command `cmd` through child.py, with the child's `options`."""
    return [cmd[0], "-m", "tests.dev.faults.child", *options, "--", *cmd[2:]]


def run(cmd: list, log: str) -> int:
    """Run `cmd` with its output to `log` (appended); its exit status
    (negative: the signal that killed it)."""
    with open(log, "a") as f:
        return subprocess.run(cmd, cwd=REPO, stdout=f, stderr=subprocess.STDOUT,
                              env=dict(os.environ, **QUIET_ENV)).returncode


def final_weights(run_dir: str, epochs: int) -> dict:
    path = os.path.join(run_dir, "learner", f"model.pth.tar-{epochs}")
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


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
    log = os.path.join(workdir, "reference.log")
    rc = run(child_command(cmd_for(out), "--count", counts_file), log)
    if rc != 0 or results(out) is None:
        sys.exit(f"fault_inject.py: error: the uninterrupted run failed (exit {rc}); "
                 f"see {log}")
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
    first = run(child_command(cmd, "--kill", f"{phase}:{k}"), log)
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


def fault_trials(trials: int, seed: int = 0, root: str = "", workdir: str = "",
                 epochs: int = 2, shots: int = 1, run_seed: int = 1, max_reruns: int = 3,
                 jobs: int = 1) -> int:
    """Run the reference and `trials` killed runs (`jobs` at a time), print a
    line per trial and a table per phase; 0 only when every trial was
    killed, recovered and identical. `workdir` is kept (default: a
    temporary folder, removed); `root` holds toy_domains (default: under it)."""
    kept = workdir
    workdir = os.path.abspath(workdir or tempfile.mkdtemp(prefix="fault_inject_"))
    os.makedirs(workdir, exist_ok=True)
    root = os.path.abspath(root or os.path.join(workdir, "data"))
    ensure_toy_domains(os.path.join(root, "toy_domains"))

    def cmd_for(out):
        return train_command(root, out, epochs, shots, run_seed)

    start = time.time()
    print(f"Reference: an uninterrupted run ({epochs} epochs, {shots} shot(s)) in {workdir}")
    ref_dir, counts = reference_run(cmd_for, workdir)
    ref_weights, ref_results = final_weights(ref_dir, epochs), results(ref_dir)
    print("Events per phase in the reference run: "
          + ", ".join(f"{p} {counts[p]}" for p in PHASES))

    def trial(numbered):
        i, (phase, k) = numbered
        out = os.path.join(workdir, f"trial{i:02d}")
        outcome = run_trial(cmd_for(out), out, phase, k, max_reruns)
        got = results(out)
        leftovers = temporaries(out)
        recovered = outcome["finished"] and got is not None and not leftovers
        identical = (recovered and got == ref_results
                     and same_weights(final_weights(out, epochs), ref_weights))
        print(f"trial {i:2d}/{trials}: --kill {phase}:{k}: "
              + (f"killed, {outcome['reruns']} rerun(s)" if outcome["killed"]
                 else f"not killed (exit {outcome['first_exit']})")
              + (", recovered" if recovered else ", NOT recovered")
              + (f" (left {leftovers})" if leftovers else "")
              + (", identical" if identical else ", DIFFERENT" if recovered else ""),
              flush=True)
        return {"phase": phase, "killed": outcome["killed"], "recovered": recovered,
                "identical": identical}

    plan = list(enumerate(trial_plan(trials, counts, seed), 1))
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        rows = list(pool.map(trial, plan))
    where = f"; runs in {workdir}" if kept else ""
    print(f"\n{trials} trials (seed {seed}) in {time.time() - start:.0f} s{where}")
    print(table(rows))
    if not kept:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if all(r["killed"] and r["identical"] for r in rows) else 1
