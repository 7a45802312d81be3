"""Checkpoints verified (trainers/run/checkpoint_digest.py), and a resume
with another loader worker count recorded (trainers/run/checkpoint.py)."""
import os
import types

import pytest
import torch

from trainers.run.checkpoint import (load_or_set_aside, read_checkpoint,
                                     resumed_loader_workers, save_checkpoint)

PATTERN = torch.arange(4096, dtype=torch.float32)


def saved(tmp_path):
    return save_checkpoint({"state_dict": {"w": PATTERN.clone()}, "epoch": 2}, str(tmp_path))


def flip_a_tensor_byte(path):
    data = bytearray(open(path, "rb").read())
    at = data.index(PATTERN[1000:1004].numpy().tobytes()) + 2  # inside the tensor's bytes
    data[at] ^= 0x40
    open(path, "wb").write(bytes(data))


def test_each_checkpoint_gets_a_sha256_beside_it(tmp_path):
    path = saved(tmp_path)
    assert os.path.isfile(path + ".sha256")
    assert open(path + ".sha256").read().endswith("  model.pth.tar-2\n")
    assert torch.equal(read_checkpoint(path)["state_dict"]["w"], PATTERN)


def test_a_flipped_tensor_byte_is_set_aside_although_torch_loads_it(tmp_path, capsys):
    path = saved(tmp_path)
    flip_a_tensor_byte(path)
    # the guard: torch itself loads the damaged file, with other weights
    assert not torch.equal(torch.load(path, weights_only=True)["state_dict"]["w"], PATTERN)
    assert load_or_set_aside(path) is None
    out = capsys.readouterr().out
    assert f"Checkpoint {path} does not load (its sha256 differs from model.pth.tar-2.sha256" \
        in out
    assert not os.path.exists(path) and os.path.isfile(path + ".corrupt")
    assert os.path.isfile(path + ".corrupt.sha256")


def test_an_evaluation_refuses_a_damaged_checkpoint(tmp_path):
    path = saved(tmp_path)
    flip_a_tensor_byte(path)
    with pytest.raises(ValueError, match="sha256 differs"):
        read_checkpoint(path)


def test_a_checkpoint_without_a_digest_is_checked_by_loading_only(tmp_path):
    path = saved(tmp_path)
    os.remove(path + ".sha256")  # written before digests, or killed between the writes
    assert torch.equal(read_checkpoint(path)["state_dict"]["w"], PATTERN)


def test_a_resume_with_another_worker_count_records_the_change(capsys):
    trainer = types.SimpleNamespace(cfg=types.SimpleNamespace(
        DATALOADER=types.SimpleNamespace(NUM_WORKERS=1)))
    assert resumed_loader_workers(trainer, [[1, 2]], 3) == [[1, 2], [4, 1]]
    assert "resumes with 1 from epoch 4" in capsys.readouterr().out
    assert resumed_loader_workers(trainer, [[1, 1]], 3) == [[1, 1]]
    assert resumed_loader_workers(trainer, None, 3) == [[1, 1]]  # an older checkpoint
