"""Every script on the toy benchmark runs as the demo does (issue 38, part 1):
the toy config, one torch thread unless OMP_NUM_THREADS is set, one progress
line per run and per epoch unless QUIET is set; a ViT-B/16 config chosen on
the toy says, when its download fails, that toy_tiny needs none.
tools/toy_scripts_bench.py times the scripts beside the demo.
"""
import os
import sys

import pytest

from experiments.launch import cli, scripts
from experiments.launch.settings import read_settings

CALLS = {
    "main.sh": ["toy_domains", "sketch"],
    "ablation.sh": ["toy_domains", "sketch"],
    "sweep.sh": ["toy_domains", "1"],
    "compare.sh": ["toy_domains", "sketch"],
    "sensitivity.sh": ["toy_domains", "sketch", "TRAINER.ADU.DDL_LAMBDA", "1"],
}


def dry_run(script, args, capsys, monkeypatch, tmp_path, **env):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(scripts, "busy_cpus", lambda: 1.0)  # beside one busy process
    environ = {"PYTHON": sys.executable, "DRY_RUN": "1", "SEEDS": "1",
               "OUTPUT": str(tmp_path / "out"), **env}
    seen = {}
    real = scripts.toy_defaults

    def spy(s, dataset):
        real(s, dataset)
        seen.update(quiet=s.quiet, threads=os.environ.get("OMP_NUM_THREADS"))
    monkeypatch.setattr(scripts, "toy_defaults", spy)
    assert cli.call(script, args, environ) == 0
    return capsys.readouterr().out, seen


@pytest.mark.parametrize("script", sorted(CALLS))
def test_every_script_picks_the_toy_config_one_thread_and_progress_lines(
        script, capsys, monkeypatch, tmp_path):
    out, seen = dry_run(script, CALLS[script], capsys, monkeypatch, tmp_path)
    commands = [line for line in out.splitlines() if "train.py" in line]
    assert commands and all("/toy_tiny.yaml" in c for c in commands), out
    assert "vit_b16" not in out
    assert seen == {"quiet": True, "threads": "1"}


@pytest.mark.parametrize("cpus, busy, threads", [
    (2, 0.05, 2), (2, 1.0, 1), (2, 2.0, 1), (2, None, 1), (1, 0.0, 1), (16, 3.0, 2)])
def test_the_toy_takes_two_threads_only_on_two_free_cpus(monkeypatch, cpus, busy, threads):
    monkeypatch.setattr(scripts, "cpu_count", lambda: cpus)
    assert scripts.toy_threads(busy) == threads


def test_busy_cpus_sees_a_busy_process():
    import subprocess
    burner = subprocess.Popen([sys.executable, "-c", "while 1: pass"])
    try:
        assert scripts.busy_cpus(1.0) >= 0.5  # the burner alone keeps one CPU busy
    finally:
        burner.kill()
        burner.wait()


def test_the_users_threads_and_quiet_are_kept(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    environ = {"PYTHON": sys.executable, "DRY_RUN": "1", "SEEDS": "1", "QUIET": "0",
               "OUTPUT": str(tmp_path / "out")}
    s = read_settings("main.sh", environ)
    from experiments.launch import plan
    scripts.toy_defaults(s, plan.load_dataset("toy_domains"))
    assert s.quiet is False and os.environ["OMP_NUM_THREADS"] == "2"


def test_another_dataset_keeps_the_paper_config_and_the_defaults(capsys, monkeypatch,
                                                                 tmp_path):
    out, seen = dry_run("main.sh", ["office_home", "art"], capsys, monkeypatch, tmp_path)
    assert "/vit_b16_ep50.yaml" in out and seen == {"quiet": False, "threads": None}


def test_vit_b16_on_the_toy_names_toy_tiny_when_its_download_fails(
        monkeypatch, tmp_path, capsys, toy_data_root):
    pytest.importorskip("dassl", reason="Dassl not installed")
    from test_messages import fail_download
    from train_harness import run_in_process
    fail_download(monkeypatch)
    monkeypatch.setenv("HOME", str(tmp_path))  # clip's default root is ~/.cache/clip
    err = run_in_process(
        ["--root", str(toy_data_root), "--trainer", "ADU", "--forget-domains", "sketch",
         "--dataset-config-file", "configs/datasets/toy_domains.yaml",
         "--config-file", "configs/trainers/ADU/vit_b16_ep50.yaml",
         "--output-dir", str(tmp_path / "run"), "DATASET.NUM_SHOTS", "1",
         "DATALOADER.NUM_WORKERS", "0"], capsys)
    assert err.count("\n") == 1, err
    assert "Could not download" in err
    assert "toy_tiny, configs/trainers/ADU/toy_tiny.yaml" in err
