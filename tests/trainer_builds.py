"""Trainers built in this process as train.py builds them (same config, seed
and test hook), on the tiny Office-Home tree and a tiny CLIP, and checks of
what they write: ADU with the whole training set in one batch, every
comparison trainer with steps large enough to move what it tunes.

Shared by test_progress, test_results_pooling (build_adu),
test_comparison_trainers, test_comparison_recipes and test_open_clip_e2e.
Import it after `pytest.importorskip("dassl")`.
"""
import json
import os
from itertools import chain

import pytest
import torch
from dassl.utils import set_random_seed
from train_harness import REPO, TINY_OPTS

import train

# The whole training set (2 shots x 3 classes x 4 domains) in one batch.
WHOLE_SET = ["DATALOADER.TRAIN_X.BATCH_SIZE", "24"]


def built(args):
    """The trainer of train.py's command line `args`, built as train.py
    builds it (registered, checked, seeded, the per-domain test), untrained."""
    train.register()
    cfg = train.setup_cfg(train.parse_args(args))
    train.check_names(cfg)
    set_random_seed(cfg.SEED)
    os.makedirs(cfg.OUTPUT_DIR, exist_ok=True)
    return train.build(cfg)


def build_adu(root, out, clip_file, *opts, forget="art", config="vit_b16_ep50"):
    """The ADU trainer train.py would build (configs/trainers/ADU/CONFIG.yaml),
    the whole training set in one batch unless `opts` say otherwise."""
    return built(["--root", str(root), "--seed", "1", "--trainer", "ADU",
                  "--dataset-config-file",
                  os.path.join(REPO, "configs/datasets/office_home.yaml"),
                  "--config-file", os.path.join(REPO, f"configs/trainers/ADU/{config}.yaml"),
                  "--output-dir", str(out), "--forget-domains", forget,
                  "MODEL.BACKBONE.NAME", clip_file, *TINY_OPTS, *WHOLE_SET, *opts])


COMPARISON = ["ZeroshotCLIP", "CoOpADU", "MaPLeADU", "LPPlusPlusADU", "CLIPFitADU", "BBFADU"]
# Steps large enough that every tuned tensor visibly moves in one epoch.
STEP_OPTS = ["OPTIM.WARMUP_EPOCH", "0", "OPTIM.LR", "0.01"]
# The tiny CLIP's text encoder has 2 blocks, so MaPLe prompts 2 blocks deep;
# a small CMA-ES population and two iterations keep BBF quick; LP++ runs
# the 10 epochs after which its blending ratios take their first step.
TRAINER_OPTS = {"MaPLeADU": ["TRAINER.MAPLEADU.PROMPT_DEPTH", "2"],
                "BBFADU": ["TRAINER.BBFADU.POPSIZE", "4", "TRAINER.BBFADU.ITERATIONS", "2"],
                "LPPlusPlusADU": ["OPTIM.MAX_EPOCH", "10"]}

def args_for(name, root, out, clip_file, *extra, opts=()):
    return ["--root", str(root), "--seed", "1", "--trainer", name,
            "--dataset-config-file", os.path.join(REPO, "configs/datasets/office_home.yaml"),
            "--config-file", os.path.join(REPO, f"configs/trainers/{name}/vit_b16_ep50.yaml"),
            "--output-dir", str(out), "--forget-domains", "art", *extra,
            "MODEL.BACKBONE.NAME", clip_file, *TINY_OPTS, *STEP_OPTS,
            *TRAINER_OPTS.get(name, []), *opts]


def build(name, root, out, clip_file, opts=()):
    """The trainer train.py would build (same config, seed and test hook)."""
    return built(args_for(name, root, out, clip_file, opts=opts))


def model_tensors(model):
    """Every parameter and buffer of the model (CLIP included), each once."""
    return dict(chain(model.named_parameters(), model.named_buffers()))


def pooled(per_domain, names):
    """Accuracy (%) over the images of the domains `names`, from the per-domain rows."""
    right = sum(per_domain[d]["accuracy"] * per_domain[d]["num_images"] for d in names)
    return right / sum(per_domain[d]["num_images"] for d in names)


def check_results(path, trainer_name):
    """results.json names the run and holds together: every domain accuracy is
    a count of right answers out of its images, Mem and For pool those
    counts, H is their harmonic mean."""
    res = json.load(open(path))
    assert res["trainer"] == res["method"] == trainer_name
    assert res["forget_domains"] == ["art"]
    per_domain = res["per_domain"]
    assert set(per_domain) == {"art", "clipart", "product", "real_world"}
    for row in per_domain.values():
        assert row["num_images"] == 6
        right = row["accuracy"] / 100 * row["num_images"]
        assert right == pytest.approx(round(right), abs=1e-6) and 0 <= round(right) <= 6
    assert res["mem"] == pytest.approx(pooled(per_domain, res["memorize_domains"]))
    assert res["for"] == pytest.approx(100 - pooled(per_domain, res["forget_domains"]))
    mem, forget = res["mem"], res["for"]
    assert res["h"] == pytest.approx(2 * mem * forget / (mem + forget) if mem + forget else 0)
    return res


CLASSNAMES = ["circle", "square", "star"]


def images(n=4, seed=1):
    return torch.randn(n, 3, 32, 32, generator=torch.Generator().manual_seed(seed))
