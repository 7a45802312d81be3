"""Messages that point the right way, each triggered on purpose: a CLIP
download that fails, an unknown dataset, --eval-only without weights, and
more loader workers than CPUs."""
import io
import os
import urllib.error
import warnings

import pytest

from trainers.modules import clip_loading
from trainers.modules.clip_loading import load_clip
from user_errors import BadFileError, DownloadError


def fail_download(monkeypatch):
    """No network: clip's urlopen fails as it does offline."""
    def urlopen(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")
    monkeypatch.setattr(clip_loading.clip.clip.urllib.request, "urlopen", urlopen)


def test_failed_download_is_named_with_the_real_cache_path_and_the_offline_fix(
        monkeypatch, tmp_path):
    fail_download(monkeypatch)
    with pytest.raises(DownloadError) as info:
        load_clip("ViT-B/16", download_root=str(tmp_path))
    text = str(info.value)
    assert text.startswith("Could not download the CLIP weights for 'ViT-B/16'")
    assert str(tmp_path / "ViT-B-16.pt") in text  # clip's file name, not ViT-B/16
    assert "URLError" in text and "network" in text
    assert "MODEL.BACKBONE.NAME /path/ViT-B-16.pt" in text
    assert "corrupt" not in text


def test_bad_download_is_a_bad_file_at_the_real_cache_path(monkeypatch, tmp_path):
    class Response(io.BytesIO):  # a download that completes with the wrong bytes
        def info(self):
            return {"Content-Length": "5"}
    monkeypatch.setattr(clip_loading.clip.clip.urllib.request, "urlopen",
                        lambda *args, **kwargs: Response(b"trunc"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(BadFileError) as info:
            load_clip("ViT-B/16", download_root=str(tmp_path))
    text = str(info.value)
    assert "corrupt or truncated" in text and str(tmp_path / "ViT-B-16.pt") in text


def test_train_py_reports_a_failed_download_in_one_line(
        monkeypatch, tmp_path, capsys, office_home_root):
    pytest.importorskip("dassl", reason="Dassl not installed")
    from train_harness import TINY_OPTS, run_in_process
    fail_download(monkeypatch)
    monkeypatch.setenv("HOME", str(tmp_path))  # clip's default root is ~/.cache/clip
    err = run_in_process(
        ["--root", str(office_home_root), "--trainer", "ADU", "--forget-domains", "art",
         "--dataset-config-file", "configs/datasets/office_home.yaml",
         "--config-file", "configs/trainers/ADU/vit_b16_ep50.yaml",
         "--output-dir", str(tmp_path / "run"), *TINY_OPTS, "INPUT.SIZE", "(224, 224)"],
        capsys)
    assert err.count("\n") == 1, err
    assert "Could not download" in err
    assert str(tmp_path / ".cache" / "clip" / "ViT-B-16.pt") in err


def test_unknown_dataset_lists_the_adu_datasets_only(capsys):
    pytest.importorskip("dassl", reason="Dassl not installed")
    from train_harness import run_in_process
    err = run_in_process(["--trainer", "ADU", "DATASET.NAME", "officehome"], capsys)
    assert err.count("\n") == 1, err
    assert ("unknown dataset 'officehome'; ADU datasets: domainnet, imagenet, "
            "mini_domainnet, office_home, pacs, toy_domains") in err
    assert "OfficeHomeDG" not in err and "CIFAR10" not in err  # Dassl's own
    assert "domain-aware" in err and "ADUDatasetBase" in err


def test_eval_without_epoch_says_what_it_looked_for(tmp_path):
    pytest.importorskip("dassl", reason="Dassl not installed")
    from trainers.run.checkpoint import find_checkpoint
    with pytest.raises(FileNotFoundError) as info:
        find_checkpoint(str(tmp_path), "learner")
    text = str(info.value)
    assert "for the last epoch (model.pth.tar-N) or model-best.pth.tar" in text
    assert str(tmp_path / "learner" / "model.pth.tar-*") in text
    assert str(tmp_path / "learner" / "model-best.pth.tar") in text
    assert "(last)" not in text


@pytest.fixture
def setup_cfg_with():
    pytest.importorskip("dassl", reason="Dassl not installed")
    import train

    def setup(*opts):
        return train.setup_cfg(train.parse_args(["--trainer", "ADU", *opts]))
    return setup


def test_more_workers_than_cpus_are_capped_with_one_notice(setup_cfg_with, capsys):
    import torch.utils.data

    import train
    asked = train.cpu_count() + 6
    cfg = setup_cfg_with("DATALOADER.NUM_WORKERS", str(asked))
    out = capsys.readouterr().out
    assert cfg.DATALOADER.NUM_WORKERS == train.cpu_count()
    assert out.count(f"Note: DATALOADER.NUM_WORKERS={asked}") == 1
    # torch's own check agrees, so it stays silent
    loader = torch.utils.data.DataLoader(range(4), num_workers=cfg.DATALOADER.NUM_WORKERS)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loader.check_worker_number_rationality()


def test_workers_within_the_cpu_count_are_kept_silently(setup_cfg_with, capsys):
    cfg = setup_cfg_with("DATALOADER.NUM_WORKERS", "1")
    assert cfg.DATALOADER.NUM_WORKERS == 1
    assert "NUM_WORKERS" not in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.parametrize("entry", ["train.py", "tools/check_data.py", "tools/analyze.py",
                                   "tools/robustness.py"])
def test_entry_points_print_no_pkg_resources_warning(entry):
    # Dassl -> wilds -> outdated imports pkg_resources; setuptools' deprecation
    # warning about it advises nothing a user of this project can do.
    pytest.importorskip("dassl", reason="Dassl not installed")
    import subprocess
    import sys
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    result = subprocess.run([sys.executable, os.path.join(repo, entry), "--help"],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout
    assert "pkg_resources" not in result.stdout + result.stderr
