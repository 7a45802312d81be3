"""Same seed, same numbers; a killed and resumed run ends like an uninterrupted one.

The runs train 4 epochs: the first at the 1e-5 warm-up rate, the others at
the real rate (0.0025, cosine), so a resume that lost any state (optimiser
momentum, schedule, random generators) ends with other weights; the learner's
saved weights are compared exactly, not the rounded metrics of a few images.
"""
import json
import os

import pytest
import torch

pytest.importorskip("dassl", reason="Dassl not installed (pip install it from GitHub, see README)")

from train_harness import KILLING_RUNNER, REPO, scores, train_py  # noqa: E402

pytestmark = pytest.mark.slow  # end-to-end runs: `make test`, not `make test-fast`


EPOCHS = 4


def args_for(root, out, clip_file, epochs=EPOCHS):
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


def learner_weights(out, epoch=EPOCHS):
    path = os.path.join(out, "learner", f"model.pth.tar-{epoch}")
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


def assert_same_weights(out, reference):
    ours, theirs = learner_weights(out), learner_weights(reference)
    assert set(ours) == set(theirs)
    differ = [k for k in ours if not torch.equal(ours[k], theirs[k])]
    assert not differ, f"learner tensors differ from the uninterrupted run's: {differ}"


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
    assert_same_weights(tmp_path, uninterrupted)
    assert scores(tmp_path) == scores(uninterrupted)


def test_the_learner_moves_at_the_real_rate_after_the_warm_up_epoch(uninterrupted):
    """Guards the resume test: epochs 3 and 4, the ones it resumes, change the weights."""
    second, last = learner_weights(uninterrupted, 2), learner_weights(uninterrupted)
    assert all((last[k] - second[k]).abs().max() > 1e-4 for k in last)


def test_killed_after_epoch_2_and_resumed_ends_with_the_uninterrupted_weights(
        uninterrupted, data_root, tiny_clip_file, tmp_path):
    args = args_for(data_root, tmp_path, tiny_clip_file)
    run(KILLING_RUNNER.format(repo=REPO, args=args, kill_after=2), expect=9)
    assert not os.path.exists(tmp_path / "results.json")
    assert os.path.isfile(tmp_path / "learner" / "model.pth.tar-2")
    assert not os.path.exists(tmp_path / "learner" / "model.pth.tar-3")
    resumed = run(["--resume", str(tmp_path)] + args)
    assert "Resuming learner" in resumed.stdout and "(epoch 2)" in resumed.stdout
    assert_same_weights(tmp_path, uninterrupted)
    assert scores(tmp_path) == scores(uninterrupted)


def test_killed_after_the_last_epoch_records_the_epoch_it_evaluated(
        uninterrupted, data_root, tiny_clip_file, tmp_path):
    """Killed between the last checkpoint and results.json: the rerun trains
    nothing, evaluates the epoch-4 weights and says so."""
    args = args_for(data_root, tmp_path, tiny_clip_file)
    run(KILLING_RUNNER.format(repo=REPO, args=args, kill_after=EPOCHS), expect=9)
    assert not os.path.exists(tmp_path / "results.json")
    resumed = run(args)
    assert f"(epoch {EPOCHS})" in resumed.stdout
    with open(tmp_path / "results.json") as f, open(uninterrupted / "results.json") as g:
        record, reference = json.load(f), json.load(g)
    assert record["epoch"] == EPOCHS
    assert record == reference


# Runs train.py with every checkpoint() call of the prompted encoder counted.
COUNTING_RUNNER = """
import sys
sys.path.insert(0, {repo!r})
import train
import trainers.modules.adu_model as adu_model
calls = []
def counted(*args, **kwargs):
    calls.append(1)
    return checkpoint(*args, **kwargs)
checkpoint, adu_model.checkpoint = adu_model.checkpoint, counted
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
    # The weights, not the scores: 24 test images round away changes that
    # the learner's tensors show (lr 0.0025 vs 0.003 gave the same scores).
    assert_same_weights(tmp_path, uninterrupted)
    assert scores(tmp_path) == scores(uninterrupted)
