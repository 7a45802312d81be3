"""The launcher's own guarantees (experiments/launch/): its in-process skip
test computes train.py's fingerprint, a skip decision imports no torch, and
the GPU queue runs at most one run per device at a time.

The scripts' behaviour (folders, DRY_RUN lines, skip, stop at exit 2, the
queue's output) is tests/test_scripts.py's.
"""
import glob
import json
import os
import subprocess
import sys

import pytest

from script_harness import needs_dassl, train_calls
from train_harness import QUIET_ENV, REPO, run_script

CONFIGS = os.path.join(REPO, "configs")
# A meta-path finder that refuses torch and Dassl's engine and data, then the
# launcher as the scripts run it (python -m experiments.launch SCRIPT ...).
BLOCKED_LAUNCH = """
import runpy, sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "torch" or name.startswith(("dassl.engine", "dassl.data")):
            raise ImportError(f"blocked: {name}")
sys.meta_path.insert(0, Block())
sys.argv = ["experiments.launch", *sys.argv[1:]]
runpy.run_module("experiments.launch", run_name="__main__", alter_sys=True)
"""


def toy_command(out, *opts):
    """train.py's arguments for a toy run, as the scripts build them."""
    return ["--root", "data", "--seed", "1", "--trainer", "ADU",
            "--dataset-config-file", os.path.join(CONFIGS, "datasets", "toy_domains.yaml"),
            "--config-file", os.path.join(CONFIGS, "trainers", "ADU", "toy_tiny.yaml"),
            "--output-dir", str(out), "--forget-domains", "sketch", "DATASET.NUM_SHOTS", "8",
            *opts]


def write_finished(folder, fingerprint):
    os.makedirs(folder, exist_ok=True)
    domains = ["photo", "sketch", "clipart", "painting"]
    with open(os.path.join(folder, "results.json"), "w") as f:
        json.dump({"dataset": "toy_domains", "method": "ADU", "seed": 1, "domains": domains,
                   "forget_domains": ["sketch"], "mem": 80.0, "for": 60.0, "h": 68.6,
                   "fingerprint": fingerprint}, f)


def launcher_says_done(runs) -> list:
    """skip.is_done of each (folder, train.py arguments), in a process with torch blocked."""
    code = BLOCKED_LAUNCH.split("sys.argv")[0] + (
        "from experiments.launch import skip\nimport json\n"
        f"print(json.dumps([skip.is_done(f, a) for f, a in {runs!r}]))\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, env=dict(os.environ, **QUIET_ENV))
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


@needs_dassl
def test_the_skip_test_computes_train_pys_fingerprint(tmp_path, capsys):
    """results.json records what train.py's own resolution gives; the
    launcher accepts exactly that, and train.py --check-done agrees."""
    import train
    from trainers.run.fingerprint import fingerprint

    variants = [[], ["OPTIM.MAX_EPOCH", "2"],
                ["TEST.METHOD_TAG", "ADU-Baseline", "TRAINER.ADU.INSTAPG", "False",
                 "TRAINER.ADU.DDL", "False"],
                ["INPUT.SIZE", "(32, 32)", "DATALOADER.NUM_WORKERS", "64"]]
    runs, changed = [], []
    for i, opts in enumerate(variants):
        out = tmp_path / f"run{i}"
        args = toy_command(out, *opts)
        write_finished(out, fingerprint(train.setup_cfg(train.parse_args(args))))
        runs.append((str(out), args))
        changed.append((str(out), args + ["TRAINER.ADU.DDL_GAMMA", "7.0"]))
        with pytest.raises(SystemExit) as done:
            train.run(["--check-done", *args])
        assert done.value.code == 0
    capsys.readouterr()
    assert launcher_says_done(runs) == [True] * len(variants)
    # Another value of a key that changes results: not done, for both.
    assert launcher_says_done(changed) == [False] * len(variants)
    with pytest.raises(SystemExit) as done:
        train.run(["--check-done", *changed[0][1]])
    assert done.value.code == 1


def test_a_skip_decision_imports_no_torch(fake_env, tmp_path):
    """The launcher plans and skips finished runs with torch and Dassl's
    engine and data made unimportable."""
    env = dict(fake_env, SEEDS="1 2")
    first = run_script("ablation.sh", "toy_domains", "sketch", "toy_tiny", env=env)
    assert first.returncode == 0, first.stderr
    assert len(train_calls(fake_env)) == 12
    script_env = dict(os.environ, **QUIET_ENV, **env, PYTHONPATH=REPO)
    proc = subprocess.run([sys.executable, "-c", BLOCKED_LAUNCH, "ablation.sh", "toy_domains",
                           "sketch", "toy_tiny"], cwd=REPO, capture_output=True, text=True,
                          env=script_env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("skip: ") == 12
    assert "ablation.sh: 0 ran, 12 skipped (done), 0 failed" in proc.stdout
    assert len(train_calls(fake_env)) == 12  # nothing ran again


def test_the_queue_runs_one_run_per_device_at_a_time(fake_env):
    env = dict(fake_env, DEVICES="0,1", SEEDS="1 2 3", FAKE_SLEEP="0.4")
    proc = run_script("sweep.sh", "office_home", "1", env=env)
    assert proc.returncode == 0, proc.stderr
    calls = train_calls(fake_env)
    assert len(calls) == 12 and {c["cuda"] for c in calls} == {"0", "1"}
    for device in ("0", "1"):
        spans = sorted((c["start"], os.path.getmtime(os.path.join(
            c["args"][c["args"].index("--output-dir") + 1], "results.json")))
            for c in calls if c["cuda"] == device)
        assert all(end <= next_start for (_, end), (next_start, _) in zip(spans, spans[1:]))
    records = glob.glob(os.path.join(fake_env["OUTPUT"], "**", "launch.json"), recursive=True)
    assert len(records) == 12
    assert all(json.load(open(r))["exit"] == 0 for r in records)
