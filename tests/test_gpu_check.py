"""scripts/adu/gpu_check.sh (tools/gpu_check.py): one line and exit 0 without
a GPU; the whole program at toy sizes on the CPU (--smoke), since the GPU
path cannot run here; the non-finite check on a log and weights that hold a NaN."""
import json
import os
import subprocess
import sys

import pytest
import torch
from train_harness import QUIET_ENV, REPO, run_script

from experiments.bench.toy_run import logged_losses, non_finite_weights


pytestmark = pytest.mark.slow  # end-to-end runs: `make test`, not `make test-fast`


def test_without_a_gpu_it_says_so_in_one_line_and_exits_0(tmp_path):
    out = tmp_path / "report"
    # No GPU visible, even on a machine that has one.
    proc = run_script("gpu_check.sh", str(out), env={"CUDA_VISIBLE_DEVICES": ""})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("\n") == 1 and proc.stderr == ""
    assert proc.stdout.startswith("gpu_check: no CUDA GPU on this machine")
    assert not out.exists()


def test_a_bad_call_is_one_line():
    proc = run_script("gpu_check.sh", "a", "b")
    assert proc.returncode == 2 and "usage: bash scripts/adu/gpu_check.sh [OUT]" in proc.stderr


def test_the_smoke_run_writes_one_table_and_the_json(toy_data_root, tmp_path):
    pytest.importorskip("dassl", reason="Dassl not installed")
    out = tmp_path / "report"
    proc = subprocess.run([sys.executable, os.path.join(REPO, "tools", "gpu_check.py"),
                           "--smoke", "--out", str(out), "--data", str(toy_data_root)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=900,
                          env=dict(os.environ, **QUIET_ENV))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    table = (out / "gpu_check.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| ")][1:]
    assert [r.split("|")[1].strip() for r in rows] == [
        "device", "ADU step", "evaluation", "host syncs", "data loader (dassl)",
        "data loader (persistent)", "data loader (cache)", "toy run", "fp16 non-finite check"]
    assert table in proc.stdout
    report = json.loads((out / "gpu_check.json").read_text())
    [step] = report["steps"]
    assert (step["prec"], step["prec_used"], step["batch"]) == ("fp16", "fp32", 4)
    assert step["step_seconds"]["adu"] > 0 and step["text_encoder_calls"] == 0
    # benchmark.py --skip 5,7: no MMD or text-recompute rows.
    assert {r["#"] for r in step["rows"]} == {"1", "2", "3", "3t", "3s", "4a", "4b", "6a", "6b",
                                              "6c"}
    assert step["host_syncs"]["per_step_call"] == 0 and step["host_syncs"]["per_read"] == 1
    for loader in report["loaders"].values():
        assert loader["image_shape"] == [3, 224, 224] and loader["images_per_second"] > 0
        assert loader["images"] == 2 * 16
    assert report["loaders"]["cache"]["cache_mib"] > 0
    toy = report["toy_run"]
    assert toy["exit"] == 0 and toy["finite"] and toy["non_finite_weights"] == []
    assert 0 <= toy["h"] <= 100 and toy["steps_logged"] >= 1
    assert (out / "toy_run" / "results.json").is_file()
    assert "pass" in rows[-1] and f"H {toy['h']:.2f}" in rows[-2]


def test_the_non_finite_check_names_a_nan_loss_and_weight(tmp_path):
    log = ("epoch [1/2] batch [1/10] time 0.1 (0.1) loss_memorize 1.5 (1.5) "
           "loss_total 2.0 (2.0) lr 1e-05\n"
           "epoch [1/2] batch [2/10] time 0.1 (0.1) loss_memorize nan (nan) "
           "loss_total inf (inf) lr 1e-05\n")
    found = logged_losses(log, "")
    assert found["steps_logged"] == 2 and found["losses_logged"] == 4
    assert found["non_finite_losses"] == ["memorize=nan", "total=inf"]
    assert not found["overflow"]
    assert logged_losses("", "FloatingPointError: Loss term 'total' is nan")[
        "overflow"]
    clean = logged_losses(log.splitlines()[0], "")
    assert clean["non_finite_losses"] == [] and clean["steps_logged"] == 1

    pytest.importorskip("dassl", reason="Dassl not installed")
    (tmp_path / "learner").mkdir()
    torch.save({"state_dict": {"ctx": torch.tensor([1.0, float("nan")]),
                               "head": torch.ones(2), "steps": torch.tensor(3)}},
               tmp_path / "learner" / "model.pth.tar-2")
    assert non_finite_weights(str(tmp_path), 2) == ["ctx"]
    assert non_finite_weights(str(tmp_path), 5)[0].startswith("no checkpoint")
