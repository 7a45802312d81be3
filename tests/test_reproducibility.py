"""Same seed, same numbers; a killed and resumed run ends like an uninterrupted one."""
import json
import os

import pytest

pytest.importorskip("dassl", reason="Dassl not installed (pip install it from GitHub, see README)")

from train_harness import REPO, train_py  # noqa: E402

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


def args_for(root, out, clip_file, epochs=3):
    return ["--root", str(root), "--seed", "3", "--trainer", "ADU",
            "--dataset-config-file", "configs/datasets/office_home.yaml",
            "--config-file", "configs/trainers/ADU/vit_b16_ep50.yaml",
            "--output-dir", str(out), "--forget-domains", "clipart",
            "MODEL.BACKBONE.NAME", clip_file, "INPUT.SIZE", "(32, 32)",
            "OPTIM.MAX_EPOCH", str(epochs), "DATALOADER.NUM_WORKERS", "0",
            "DATALOADER.TRAIN_X.BATCH_SIZE", "8", "DATASET.NUM_SHOTS", "2",
            "TRAINER.ADU.PREC", "fp32", "TRAIN.CHECKPOINT_FREQ", "1",
            "TRAINER.ADU.PROMPT_DEPTH_VISION", "3", "TRAINER.ADU.INSTAPG_LAYERS", "[3]"]


def run(code_or_args, expect=0):
    if isinstance(code_or_args, str):
        return train_py(code=code_or_args, expect=expect)
    return train_py(*code_or_args, expect=expect)


def scores(out):
    res = json.load(open(os.path.join(out, "results.json")))
    return {k: res[k] for k in SCORES}


@pytest.fixture(scope="module")
def data_root(office_home_root):
    return office_home_root


@pytest.fixture(scope="module")
def uninterrupted(data_root, tiny_clip_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("full")
    run(args_for(data_root, out, tiny_clip_file))
    return out


def test_same_seed_gives_identical_results(uninterrupted, data_root, tiny_clip_file, tmp_path):
    run(args_for(data_root, tmp_path, tiny_clip_file))
    assert scores(tmp_path) == scores(uninterrupted)


def test_killed_and_resumed_run_matches_the_uninterrupted_run(
        uninterrupted, data_root, tiny_clip_file, tmp_path):
    args = args_for(data_root, tmp_path, tiny_clip_file)
    run(KILLING_RUNNER.format(repo=REPO, args=args, kill_after=1), expect=9)
    assert not os.path.exists(tmp_path / "results.json")
    assert os.path.isfile(tmp_path / "learner" / "model.pth.tar-1")
    resumed = run(["--resume", str(tmp_path)] + args)
    assert "Resuming learner" in resumed.stdout and "(epoch 1)" in resumed.stdout
    assert scores(tmp_path) == scores(uninterrupted)


# Runs train.py with every checkpoint() call of the prompted encoder counted.
COUNTING_RUNNER = """
import sys
sys.path.insert(0, {repo!r})
import train
import trainers.modules.vision_prompts as vision_prompts
calls = []
def counted(*args, **kwargs):
    calls.append(1)
    return checkpoint(*args, **kwargs)
checkpoint, vision_prompts.checkpoint = vision_prompts.checkpoint, counted
train.run({args!r})
print("checkpointed block calls:", len(calls))
"""


def test_gradient_checkpointing_is_wired_and_changes_no_number(
        uninterrupted, data_root, tiny_clip_file, tmp_path):
    args = args_for(data_root, tmp_path, tiny_clip_file) + [
        "TRAINER.ADU.GRAD_CHECKPOINTING", "True"]
    proc = run(COUNTING_RUNNER.format(repo=REPO, args=args))
    assert "checkpointed block calls: 0" not in proc.stdout
    assert "checkpointed block calls:" in proc.stdout
    assert scores(tmp_path) == scores(uninterrupted)
