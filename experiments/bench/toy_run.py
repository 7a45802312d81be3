"""A short ADU run on the toy benchmark through train.py in PREC fp16, and
the non-finite check over its logged losses and trained weights (for
tools/gpu_check.py)."""
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time

import torch

from trainers.run.files import PROJECT_ROOT as REPO

LOSS = re.compile(r"loss_(\w+) (\S+) \((\S+)\)")


def toy_run(out_dir, data_root, smoke):
    """2 epochs (smoke: 1, 2 shots) of ADU on the toy benchmark through
    train.py in PREC fp16; its H and the non-finite check over its steps."""
    run_dir = os.path.join(out_dir, "toy_run")
    shutil.rmtree(run_dir, ignore_errors=True)  # train.py would resume an old run
    epochs = 1 if smoke else 2
    command = [sys.executable, os.path.join(REPO, "train.py"), "--root", data_root,
               "--seed", "1", "--trainer", "ADU", "--forget-domains", "sketch",
               "--dataset-config-file", os.path.join(REPO, "configs", "datasets",
                                                     "toy_domains.yaml"),
               "--config-file", os.path.join(REPO, "configs", "trainers", "ADU", "toy_tiny.yaml"),
               "--output-dir", run_dir, "OPTIM.MAX_EPOCH", str(epochs),
               "TRAINER.ADU.PREC", "fp16", "TRAIN.PRINT_FREQ", "1"]
    if smoke:
        command += ["DATASET.NUM_SHOTS", "2"]
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True,
                          env=dict(os.environ, OUTDATED_IGNORE="1"))
    seconds = time.perf_counter() - start
    with open(os.path.join(out_dir, "toy_run.log"), "w") as f:
        f.write(proc.stdout + proc.stderr)
    entry = {"epochs": epochs, "seconds": seconds, "exit": proc.returncode,
             "command": command, "log": os.path.join(out_dir, "toy_run.log"),
             "prec": "fp32 (PREC fp16 fell back: no CUDA)"
             if "PREC=fp16 needs a CUDA device" in proc.stdout else "fp16"}
    entry.update(logged_losses(proc.stdout, proc.stderr))
    entry["non_finite_weights"] = (non_finite_weights(run_dir, epochs) if proc.returncode == 0
                                   else None)
    entry["finite"] = (proc.returncode == 0 and entry["steps_logged"] > 0
                       and not entry["non_finite_losses"] and entry["non_finite_weights"] == []
                       and not entry["overflow"])
    results = os.path.join(run_dir, "results.json")
    if proc.returncode == 0 and os.path.isfile(results):
        with open(results) as f:
            record = json.load(f)
        entry.update({k: record.get(k) for k in ("h", "mem", "for")})
    else:
        entry["error"] = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return entry


def logged_losses(stdout, stderr) -> dict:
    """What train.py's log says of its steps' losses (TRAIN.PRINT_FREQ 1: every
    step): how many, which were not finite, and whether train.py stopped on
    a non-finite loss (loss_log.LossLog.read's FloatingPointError)."""
    lines = [line for line in stdout.splitlines() if line.startswith("epoch [")]
    losses = [(name, float(value)) for line in lines for name, value, _ in LOSS.findall(line)]
    return {"steps_logged": len(lines), "losses_logged": len(losses),
            "non_finite_losses": [f"{n}={v}" for n, v in losses if not math.isfinite(v)],
            "overflow": "FloatingPointError" in stderr}


def non_finite_weights(run_dir, epoch):
    """Names of the trained tensors of the last checkpoint that hold a NaN or an inf."""
    from trainers.run.checkpoint import safe_load
    path = os.path.join(run_dir, "learner", f"model.pth.tar-{epoch}")
    if not os.path.isfile(path):
        return [f"no checkpoint {path}"]
    state = safe_load(path)["state_dict"]
    return [name for name, value in state.items()
            if torch.is_tensor(value) and value.is_floating_point()
            and not torch.isfinite(value).all()]
