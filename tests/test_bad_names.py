"""Names only Dassl or open_clip would check are refused by train.py before
any folder (issue 37, part 5), in test_bad_input.py's way: exit 2, one line,
nothing left behind. And the lists they are checked against are Dassl's and
clip's own.
"""
import os

import pytest

pytest.importorskip("dassl", reason="Dassl not installed (pip install it from GitHub, see README)")

from test_bad_input import base_args, check_refusal, make_context, write  # noqa: E402
from trainers import config_checks  # noqa: E402


@pytest.fixture(scope="module")
def context(tmp_path_factory, tiny_clip_file):
    return make_context(tmp_path_factory.mktemp("bad_names"), tiny_clip_file)


def model_config(c, name, text):
    return ["MODEL.BACKBONE.NAME", f"open_clip:{write(c.tmp / name, text)}:{c.clip}"]


# name -> (extra arguments from the context, words of the one line).
BAD_NAMES = {
    "optimizer": (lambda c: ["OPTIM.NAME", "adamx"],
                  "OPTIM.NAME must be one of ('adam', 'amsgrad', 'sgd'"),
    "scheduler": (lambda c: ["OPTIM.LR_SCHEDULER", "cos"],
                  "OPTIM.LR_SCHEDULER must be one of ('cosine'"),
    "warm-up type": (lambda c: ["OPTIM.WARMUP_EPOCH", "1", "OPTIM.WARMUP_TYPE", "linea"],
                     "OPTIM.WARMUP_TYPE must be one of"),
    "transform": (lambda c: ["INPUT.TRANSFORMS", "['random_flip', 'normalise']"],
                  "unknown transform 'normalise'; did you mean 'normalize'?"),
    "interpolation": (lambda c: ["INPUT.INTERPOLATION", "bilinar"],
                      "INPUT.INTERPOLATION must be one of"),
    "a Dassl dataset": (lambda c: ["DATASET.NAME", "OfficeHome"],
                        "DATASET.NAME OfficeHome is a Dassl dataset without the domain-aware"),
    "size of a CLIP name": (lambda c: ["MODEL.BACKBONE.NAME", "ViT-B/16"],
                            "ViT-B/16 takes 224x224 images, but INPUT.SIZE is (32, 32)"),
    "size of a CLIP file": (lambda c: ["INPUT.SIZE", "(48, 48)"],
                            "takes 32x32 images, but INPUT.SIZE is (48, 48)"),
    "model config not JSON": (lambda c: model_config(c, "cut.json", '{"embed_dim": 8,'),
                              "cut.json, line 1 column 17: not valid JSON"),
    "model config a list": (lambda c: model_config(c, "list.json", "[1, 2]"),
                            "list.json holds a list, not an object"),
    "model config part missing": (lambda c: model_config(
        c, "half.json", '{"embed_dim": 8, "vision_cfg": {}}'),
        "half.json: text_cfg must be an object, got missing"),
}


@pytest.mark.parametrize("name", sorted(BAD_NAMES))
def test_a_bad_name_is_refused_in_one_line_leaving_nothing(name, context, capsys, tmp_path):
    make, words = BAD_NAMES[name]
    args = base_args(context.root, tmp_path / "out" / "run", context.clip) + make(context)
    check_refusal(args, words, capsys, context.tmp.parent)


def test_the_lists_are_dassls_and_clips_own():
    import clip
    from dassl.data.transforms import transforms
    from dassl.optim import lr_scheduler, optimizer
    assert set(config_checks.OPTIMIZERS) == set(optimizer.AVAI_OPTIMS)
    assert set(config_checks.SCHEDULERS) == set(lr_scheduler.AVAI_SCHEDS)
    assert set(config_checks.TRANSFORMS) == set(transforms.AVAI_CHOICES)
    assert set(config_checks.INTERPOLATIONS) == set(transforms.INTERPOLATION_MODES)
    assert set(config_checks.CLIP_IMAGE_SIDES) == set(clip.available_models())


def test_a_good_model_config_passes(tmp_path):
    good = write(tmp_path / "good.json", '{"embed_dim": 8, "vision_cfg": {}, "text_cfg": {}}')
    config_checks.check_model_config_json(good)
    config_checks.check_model_config_json(os.path.join(str(tmp_path), "absent.json"))


@pytest.mark.parametrize("script, args", [
    ("main.sh", ["toy_domains", "sketch", "--", "DATASET.FORGET_DOMAINS", "clipart"]),
    ("sweep.sh", ["toy_domains", "1", "--", "SEED", "7"]),
    ("compare.sh", ["toy_domains", "sketch", "--", "dataset.num_shots", "2"]),
    ("sensitivity.sh", ["toy_domains", "sketch", "TRAINER.ADU.DDL_LAMBDA", "1", "--",
                        "OUTPUT_DIR", "x"]),
    ("demo.sh", ["--", "TEST.METHOD_TAG", "mine"]),
])
def test_a_script_refuses_options_that_contradict_its_own_arguments(script, args, capsys,
                                                                     tmp_path):
    """Given after `--`, a key the script sets from its arguments (forget
    domains, seeds, shots, output) would silently win or lose."""
    import sys

    from experiments.launch import cli
    env = {"PYTHON": sys.executable, "DRY_RUN": "1", "OUTPUT": str(tmp_path / "out")}
    assert cli.call(script, args, env) == 2
    err = capsys.readouterr().err
    key = args[args.index("--") + 1]
    assert err == f"{script}: error: {key} after -- would contradict the script's own " \
                  f"setting; set it with {err.rsplit('set it with ', 1)[1]}"
    assert not os.path.exists(tmp_path / "out")


def test_an_offline_open_clip_tag_is_one_line_without_open_clips_logged_copy(monkeypatch,
                                                                           caplog):
    """open_clip logs the failed download (ERROR:root:...) before it raises
    the same text, which train.py prints as its one line."""
    open_clip = pytest.importorskip("open_clip")
    from open_clip import factory

    from trainers.modules.open_clip_backbone import load_open_clip
    from user_errors import DownloadError

    def offline(*args, **kwargs):
        raise OSError("We couldn't connect to 'https://huggingface.co'")
    monkeypatch.setattr(factory, "download_pretrained", offline)
    assert open_clip.get_pretrained_cfg("ViT-B-32", "laion2b_s34b_b79k")
    with caplog.at_level("ERROR"), pytest.raises(DownloadError, match="Could not download"):
        load_open_clip("open_clip:ViT-B-32:laion2b_s34b_b79k")
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == []
