"""CoOp-family trainer files run unchanged through train.py.

The config nodes of CoOp's and MaPLe's train.py, a trainer file's own
`extend_cfg` hook, trainer discovery in trainers/ (a broken file named, the
others registered), the shim over clip's private loading calls, and two
trainer files written in CoOp's and CoCoOp's style (tests/coop_family_*.py)
trained with warm-up and scored per domain, `--eval-only` reproducing it.
"""
import json
import os
import sys

import pytest

pytest.importorskip("dassl", reason="Dassl not installed (pip install it from GitHub, see README)")

from train_harness import REPO, train_py  # noqa: E402

import trainers  # noqa: E402
from train import parse_args, setup_cfg  # noqa: E402
from trainers.run.fingerprint import kept_keys  # noqa: E402


pytestmark = pytest.mark.slow  # end-to-end runs: `make test`, not `make test-fast`


def test_the_config_has_the_coop_family_nodes_at_their_authors_defaults():
    cfg = setup_cfg(parse_args([]), quiet=True)
    assert cfg.TRAINER.COOP.N_CTX == 16 and cfg.TRAINER.COOP.CSC is False
    assert cfg.TRAINER.COOP.CLASS_TOKEN_POSITION == "end"
    assert cfg.TRAINER.COCOOP.N_CTX == 16 and cfg.TRAINER.COCOOP.CTX_INIT == ""
    assert cfg.TRAINER.MAPLE.N_CTX == 2 and cfg.TRAINER.MAPLE.PROMPT_DEPTH == 9
    assert cfg.TRAINER.IVLP.PROMPT_DEPTH_TEXT == 9 and cfg.TRAINER.IVLP.N_CTX_TEXT == 2
    assert cfg.TRAINER.VPT.PROMPT_DEPTH_VISION == 1
    for node in ("COOP", "COCOOP", "MAPLE", "IVLP", "VPT"):
        assert cfg.TRAINER[node].PREC == "fp16"
    assert cfg.DATASET.SUBSAMPLE_CLASSES == "all"
    # At their defaults they stay out of the fingerprint (older run folders keep theirs).
    assert not [k for k in kept_keys(cfg) if k.startswith(("TRAINER.COOP.", "TRAINER.VPT."))]
    cfg.defrost()
    cfg.TRAINER.COOP.N_CTX = 4
    assert kept_keys(cfg)["TRAINER.COOP.N_CTX"] == 4


def test_every_file_in_the_folder_registers_and_a_broken_one_is_named(tmp_path, capsys,
                                                                     monkeypatch):
    package = tmp_path / "dropin_trainers"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "config.py").write_text("raise RuntimeError('config is not a trainer')\n")
    (package / "good_one.py").write_text(
        "from dassl.engine import TRAINER_REGISTRY, TrainerX\n"
        "@TRAINER_REGISTRY.register()\nclass DropInGood(TrainerX):\n    pass\n")
    (package / "broken_one.py").write_text("import a_module_that_does_not_exist\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(trainers, "BROKEN", {})
    assert trainers.trainer_files(str(package)) == ["broken_one", "good_one"]
    trainers.register_trainers(str(package), "dropin_trainers")
    from dassl.engine import TRAINER_REGISTRY
    assert "DropInGood" in TRAINER_REGISTRY.registered_names()
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "broken_one.py failed to import" in line and "a_module_that_does_not_exist" in line
    assert list(trainers.BROKEN) == [os.path.relpath(package / "broken_one.py")]


def test_the_project_registers_every_file_of_trainers():
    trainers.register_trainers()
    from dassl.engine import TRAINER_REGISTRY
    assert not trainers.BROKEN
    assert {"ADU", "CoOpADU", "MaPLeADU", "ZeroshotCLIP"} <= set(
        TRAINER_REGISTRY.registered_names())
    assert "config" not in trainers.trainer_files()


def test_an_unknown_trainer_names_the_file_that_failed(monkeypatch):
    import train
    from user_errors import ConfigError
    monkeypatch.setitem(trainers.BROKEN, "trainers/coop.py", "ImportError: no clip")
    cfg = setup_cfg(parse_args(["--trainer", "CoOp"]), quiet=True)
    with pytest.raises(ConfigError, match=r"trainers/coop.py failed to import \(ImportError"):
        train.check_names(cfg)


def test_clips_private_calls_take_a_local_file_and_download_to_clips_cache(
        tiny_clip_file, monkeypatch):
    from clip import clip
    from trainers.modules import clip_compat
    clip_compat.install_clip_fixes()
    clip_compat.install_clip_fixes()  # idempotent
    assert clip._MODELS[tiny_clip_file] == tiny_clip_file
    assert clip._download(clip._MODELS[tiny_clip_file]) == tiny_clip_file
    assert "ViT-B/16" in clip.available_models() and tiny_clip_file not in clip._MODELS
    with pytest.raises(KeyError):
        clip._MODELS["ViT-Nonexistent/1"]
    calls = []
    monkeypatch.setattr(clip_compat, "original_download",
                        lambda url, root: calls.append((url, root)) or "fetched")
    url = clip._MODELS["ViT-B/16"]
    assert url.startswith("https://") and clip._download(url) == "fetched"
    assert clip._download(url, "/elsewhere") == "fetched"
    assert calls == [(url, os.path.expanduser("~/.cache/clip")), (url, "/elsewhere")]


# CoOp-style yamls: the authors' optimisation with a warm-up epoch, tiny sizes.
YAML = """\
DATALOADER:
  TRAIN_X:
    BATCH_SIZE: 8
  TEST:
    BATCH_SIZE: 16
  NUM_WORKERS: 0
INPUT:
  SIZE: (32, 32)
  INTERPOLATION: "bicubic"
  PIXEL_MEAN: [0.48145466, 0.4578275, 0.40821073]
  PIXEL_STD: [0.26862954, 0.26130258, 0.27577711]
  TRANSFORMS: ["random_resized_crop", "random_flip", "normalize"]
OPTIM:
  NAME: "sgd"
  LR: 0.002
  MAX_EPOCH: 2
  LR_SCHEDULER: "cosine"
  WARMUP_EPOCH: 1
  WARMUP_TYPE: "{warmup}"
  WARMUP_CONS_LR: 1e-5
  WARMUP_MIN_LR: 1e-5
TRAIN:
  PRINT_FREQ: 1
TRAINER:
  {node}:
    N_CTX: 4
    PREC: "fp32"
{extra}"""
FILES = {
    "CoOp": ("coop_family_coop", dict(warmup="constant", node="COOP", extra="")),
    "CoCoOp": ("coop_family_cocoop",
               dict(warmup="linear", node="COCOOP", extra="    META_RATIO: 8\n")),
}


def command(name, root, clip_file, yaml_path, out, *extra):
    return [FILES[name][0], "--root", str(root), "--seed", "1", "--trainer", name,
            "--dataset-config-file", os.path.join(REPO, "configs/datasets/office_home.yaml"),
            "--config-file", str(yaml_path), "--output-dir", str(out),
            "--forget-domains", "art", *extra, "MODEL.BACKBONE.NAME", clip_file,
            "DATASET.NUM_SHOTS", "2"]


@pytest.mark.parametrize("name", sorted(FILES))
def test_a_coop_family_file_trains_with_warm_up_and_is_scored_per_domain(
        name, office_home_root, tiny_clip_file, tmp_path):
    yaml_path = tmp_path / f"{name}.yaml"
    yaml_path.write_text(YAML.format(**FILES[name][1]))
    run_dir = tmp_path / "run"
    proc = train_py(*command(name, office_home_root, tiny_clip_file, yaml_path, run_dir),
                    script="tests/run_train_with.py")
    assert "lr 1.0000e-05" in proc.stdout  # the warm-up epoch, from Dassl's scheduler
    res = json.load(open(run_dir / "results.json"))
    assert res["trainer"] == name and res["forget_domains"] == ["art"]
    assert set(res["per_domain"]) == {"art", "clipart", "product", "real_world"}
    for key in ("mem", "for", "h"):
        assert 0.0 <= res[key] <= 100.0
    assert "Mem " in proc.stdout and " H " in proc.stdout
    if name == "CoCoOp":  # the file's own extend_cfg hook ran before the yaml
        assert "META_RATIO: 8" in (run_dir / "config.yaml").read_text()
    eval_dir = tmp_path / "eval"
    train_py(*command(name, office_home_root, tiny_clip_file, yaml_path, eval_dir,
                      "--eval-only", "--model-dir", str(run_dir), "--load-epoch", "2"),
             script="tests/run_train_with.py")
    again = json.load(open(eval_dir / "results_eval_epoch2.json"))
    assert again["per_domain"] == res["per_domain"]
    assert [again[k] for k in ("mem", "for", "h")] == [res[k] for k in ("mem", "for", "h")]
