"""Running the project's programs from the tests: train.py (or another
Python program) in a subprocess as a user does, train.py in-process, and
the scripts of scripts/adu/.

Shared by the end-to-end, reproducibility, comparison-trainer, script,
demo and benchmark tests; KILLING_RUNNER and `scores` by the resume tests
(test_reproducibility, test_open_clip_e2e).
"""
import contextlib
import fcntl
import json
import os
import stat
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = os.path.join(REPO, "scripts", "adu")
# Dassl imports wilds, whose `outdated` check would try the network.
QUIET_ENV = {"OUTDATED_IGNORE": "1", "PYTHONWARNINGS": "ignore"}
# A tiny CLIP at 32 px, one epoch, two shots, fp32 on the CPU, no workers.
TINY_OPTS = [
    "INPUT.SIZE", "(32, 32)", "OPTIM.MAX_EPOCH", "1", "DATALOADER.NUM_WORKERS", "0",
    "DATALOADER.TRAIN_X.BATCH_SIZE", "8", "DATALOADER.TEST.BATCH_SIZE", "16",
    "DATASET.NUM_SHOTS", "2", "TRAINER.ADU.PREC", "fp32", "TRAIN.PRINT_FREQ", "1",
]
# The numbers of results.json that a resumed or repeated run must reproduce.
SCORES = ("mem", "for", "h", "domain_accuracy", "per_domain")

# Runs train.py, but hard-kills the process right after the checkpoint of
# epoch KILL_AFTER_EPOCH is written (as a crash or a cluster time limit would).
KILLING_RUNNER = """
import os, sys
sys.path.insert(0, {repo!r})
sys.argv = ["train.py"] + {args!r}
import train
from trainers.engine.base import UnlearningTrainer
saved = UnlearningTrainer.after_epoch
def after_epoch(self):
    saved(self)
    if self.epoch + 1 == {kill_after}:
        sys.stdout.flush()
        os._exit(9)
UnlearningTrainer.after_epoch = after_epoch
train.run(sys.argv[1:])
"""


def scores(out):
    """SCORES of the run folder `out`'s results.json."""
    res = json.load(open(os.path.join(out, "results.json")))
    return {k: res[k] for k in SCORES}


def tiny_adu_args(root, out, clip_file, *extra, forget="art", opts=()):
    """train.py's arguments for ADU (the paper's config) on the tiny
    Office-Home tree with a tiny CLIP: the run of conftest's
    `finished_adu_run`, and of the tests that train or evaluate beside it."""
    args = ["--root", str(root), "--seed", "1", "--trainer", "ADU",
            "--dataset-config-file", "configs/datasets/office_home.yaml",
            "--config-file", "configs/trainers/ADU/vit_b16_ep50.yaml",
            "--output-dir", str(out)]
    if forget:
        args += ["--forget-domains", forget]
    return args + list(extra) + ["MODEL.BACKBONE.NAME", clip_file, *TINY_OPTS, *opts]


# The settings of LAUNCHER=slurm (experiments/launch/slurm.py).
LAUNCHER_SETTINGS = ("LAUNCHER", "PARTITION", "TIMEOUT_MIN", "GPUS_PER_RUN", "CPUS_PER_RUN",
                     "MEM_GB", "ACCOUNT", "QOS", "ARRAY_PARALLELISM", "SBATCH_EXTRA")


def train_py(*args, check=True, script="train.py", code=None, expect=0, timeout=600):
    """Run `script` (or Python `code`) with `args`; fail with its output
    unless it exits with `expect` (when `check`)."""
    env = dict(os.environ, **QUIET_ENV)
    cmd = [sys.executable, "-c", code] if code else \
        [sys.executable, os.path.join(REPO, script), *args]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env, timeout=timeout)
    if check and proc.returncode != expect:
        raise AssertionError(f"{script} exited {proc.returncode}, expected {expect}:\n"
                             f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def train_py_runs(arg_lists, timeout=600):
    """Several train.py runs in one subprocess (one start-up: imports cost more
    than a tiny run); each run's log.txt holds its own output only."""
    code = ("import io, sys; sys.path.insert(0, %r); import train\n"
            "for args in %r:\n"
            # Dassl's logger would chain the runs' logs, and closes what it wraps when
            # collected: close its file, give it a stream of its own, start afresh.
            "    if sys.stdout is not sys.__stdout__:\n"
            "        sys.stdout.flush(); sys.stdout.file.close()\n"
            "        sys.stdout.file, sys.stdout.console = None, io.StringIO()\n"
            "    sys.stdout = sys.__stdout__\n"
            "    train.run(args)\n" % (REPO, [list(map(str, a)) for a in arg_lists]))
    return train_py(code=code, script="train.py (several runs)", timeout=timeout)


def run_in_process(args, capsys):
    """train.run in this process, for bad input that fails before training;
    returns what it printed to stderr."""
    import train
    with pytest.raises(SystemExit) as exit_info:
        train.run(args)
    assert exit_info.value.code != 0
    return capsys.readouterr().err


def shell_wrapper(path, *words) -> str:
    """An executable `path` (a pathlib.Path) that runs `words` followed by
    its own arguments: the fake `python` and SLURM commands of the tests."""
    quoted = " ".join(f'"{w}"' for w in words)
    path.write_text(f'#!/bin/sh\nexec {quoted} "$@"\n')
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def run_script(name, *args, env=None, cwd=None, timeout=300):
    """bash scripts/adu/NAME ARGS with only the settings in `env` (the
    scripts' own variables are cleared from this process's environment).
    PYTHON is this interpreter unless `env` names another: the `python` on
    PATH may be one without Dassl (a virtual environment not activated)."""
    full_env = dict(os.environ, **QUIET_ENV, PYTHON=sys.executable)
    for key in ("DATA", "TRAINER", "OUTPUT", "SEEDS", "TAG", "DEVICES", "DRY_RUN",
                "EVAL_OUTPUT", "QUIET", "FORGET", "METHODS", "CFG", "SHOTS",
                *LAUNCHER_SETTINGS):
        full_env.pop(key, None)
    full_env.update(env or {})
    return subprocess.run(["bash", os.path.join(SCRIPTS, name), *args], cwd=cwd or REPO,
                          env=full_env, capture_output=True, text=True, timeout=timeout)


@contextlib.contextmanager
def folder_held_by_another(out):
    """`out` made, its run lock held for the block as another train.py would
    hold it (another open file description, which flock treats alike), with
    the holder line "pid 4242 on elsewhere"."""
    from trainers.run.lock import lock_path
    out.mkdir()
    fd = os.open(lock_path(str(out)), os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.write(fd, b"pid 4242 on elsewhere\n")
    try:
        yield out
    finally:
        os.close(fd)
