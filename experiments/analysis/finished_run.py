"""A finished run rebuilt in memory, for the analyses that study it
(tools/analyze.py, tools/robustness.py).

`load_run` does what `train.py --eval-only --model-dir RUN` does: the run's
own config.yaml through train.py's config path (`train.register`,
`train.setup_cfg`), the trainer built as train.py builds it (`train.build`:
Dassl's trainer, its test scoring each domain), the last checkpoint loaded;
it only refuses, in one line, a folder that holds no finished run. `encode`
runs a model over a list of images with the test-time transform,
`zero_shot_outputs` gives zero-shot CLIP on the same backbone, and
`sample_per_class` draws seeded k-shot sets.
"""
import copy
import glob
import os
import os.path as osp
import random
import types
from collections import defaultdict
from typing import NamedTuple

# Dassl imports wilds, whose `outdated` check would try the network.
os.environ.setdefault("OUTDATED_IGNORE", "1")

import torch  # noqa: E402

import train  # noqa: E402  (its config path, registration and build)
from dassl.data.data_manager import build_data_loader  # noqa: E402
from dassl.data.datasets import Datum  # noqa: E402
from dassl.data.transforms import build_transform  # noqa: E402
from dassl.utils import set_random_seed  # noqa: E402

from datasets.adu_base import as_datum  # noqa: E402
from experiments.analysis.run_folder import (check_finished_folder,  # noqa: E402
                                             check_loaded_weights)
from trainers.run.checkpoint import find_checkpoint  # noqa: E402
from trainers.engine.evaluation import collect_outputs  # noqa: E402
from trainers.run.files import repo_path  # noqa: E402
from trainers.engine.precision import cast_clip  # noqa: E402
from trainers.engine.training_step import autocast_context  # noqa: E402
from trainers.modules.clip_heads import ZeroshotClassifier  # noqa: E402
from trainers.modules.clip_loading import backbone_in_repo, freeze, load_clip  # noqa: E402
from user_errors import ConfigError, MissingFileError  # noqa: E402


class LoadedRun(NamedTuple):
    trainer: object        # the run's Dassl trainer, its learner loaded
    results: dict          # the run's results.json
    initial_state: dict    # {model name: state_dict} before loading: an untrained learner


class Encoded(NamedTuple):
    """Per image: L2-normalised embedding [N, D], class prediction, label,
    domain, and the domain classifier's prediction (None without one)."""
    features: torch.Tensor
    pred: torch.Tensor
    label: torch.Tensor
    domain: torch.Tensor
    domain_pred: object


def check_finished_run(run_dir: str) -> dict:
    """One clear error unless `run_dir` holds a finished run; its results.json record."""
    record = check_finished_folder(run_dir)
    if not glob.glob(osp.join(run_dir, "*", "model.pth.tar-*")):
        raise MissingFileError(f"{run_dir} holds no saved learner (<model>/model.pth.tar-N; "
                               "a zero-shot run saves none): pass the folder of a trained "
                               "run; these tools set it beside zero-shot CLIP themselves.")
    return record


def load_run(run_dir: str, root: str = "", device: str = "") -> LoadedRun:
    """The run's trainer with its last checkpoint, as train.py --eval-only builds it.

    `root` replaces the DATASET.ROOT the run recorded (data moved); `device`
    "cpu" forces the CPU (default: CUDA when the run's config allows it).
    """
    results = check_finished_run(run_dir)
    argv = ["--config-file", osp.join(run_dir, "config.yaml"), "--output-dir", run_dir]
    if root:
        argv += ["--root", root]
    if device == "cpu":
        argv += ["USE_CUDA", "False"]
    train.register()
    cfg = train.setup_cfg(train.parse_args(argv))
    train.check_names(cfg)
    if cfg.SEED >= 0:
        set_random_seed(cfg.SEED)
    trainer = train.build(cfg)
    names = trainer.get_model_names()
    if not names:
        raise ConfigError(f"{cfg.TRAINER.NAME} saves no learner (zero-shot CLIP?): "
                          "these tools study a trained run; pass the folder of one.")
    for name in names:
        find_checkpoint(run_dir, name)  # the one-line error when none was saved
    initial = {n: copy.deepcopy(trainer._models[n].state_dict()) for n in names}
    trainer.load_model(run_dir)
    check_loaded_weights(run_dir, trainer, results)
    trainer.set_model_mode("eval")
    return LoadedRun(trainer, results, initial)


def items_loader(trainer, items):
    """Dassl Datums (or the datasets' Items) through the test-time transform, in order."""
    cfg = trainer.cfg
    datums = [it if isinstance(it, Datum) else as_datum(it) for it in items]
    return build_data_loader(
        cfg, sampler_type="SequentialSampler", data_source=datums,
        batch_size=cfg.DATALOADER.TEST.BATCH_SIZE, tfm=build_transform(cfg, is_train=False),
        is_train=False)


def zero_shot_outputs(trainer):
    """evaluation_outputs(images) -> dict of zero-shot CLIP on the run's backbone
    and text template: the "before unlearning" model."""
    cfg = trainer.cfg
    tokenizer = cfg.MODEL.BACKBONE.TOKENIZER
    clip_model = load_clip(backbone_in_repo(cfg.MODEL.BACKBONE.NAME, repo_path),
                           tokenizer=repo_path(tokenizer) if tokenizer else "")
    cast_clip(clip_model.to(trainer.device), trainer.prec)
    node = trainer.method_cfg
    template = node.get("TEXT_TEMPLATE", cfg.TRAINER.ZEROSHOTCLIP.TEXT_TEMPLATE)
    model = ZeroshotClassifier(freeze(clip_model), trainer.dm.dataset.classnames,
                               template).to(trainer.device).eval()

    @torch.no_grad()
    def outputs(images):
        with autocast_context(trainer.prec, trainer.device):
            logits, features = model.logits_and_features(images)
        return {"logits": logits.float(), "features": features.float()}
    outputs.model = model
    return outputs


def encode(trainer, items, outputs=None) -> Encoded:
    """The run's (or `outputs`', e.g. zero-shot CLIP's) outputs on `items`."""
    model = trainer if outputs is None else types.SimpleNamespace(
        parse_batch_test=trainer.parse_batch_test, evaluation_outputs=outputs)
    got = collect_outputs(model, items_loader(trainer, items))
    if got["features"] is None:
        raise ConfigError(f"{trainer.cfg.TRAINER.NAME} does not expose its image "
                          "embeddings (no 'features' in evaluation_outputs): these tools "
                          "need them; use a trainer that does (ADU, CoOpADU, MaPLeADU...).")
    return Encoded(got["features"], got["pred"], got["label"], got["domain"],
                   got["domain_pred"])


def train_pool(trainer):
    """Every training candidate of the run's dataset (the shots were drawn from it)."""
    return trainer.dm.dataset.read_splits()["train"]


def sample_per_class(items, k: int, seed: int):
    """Up to `k` items per class, drawn with `seed`; a smaller k draws the first
    items of a larger one's draw (same seed), so the k-shot sets are nested."""
    by_class = defaultdict(list)
    for item in sorted(items, key=lambda it: it.impath):
        by_class[item.label].append(item)
    rng = random.Random(seed)
    chosen = []
    for label in sorted(by_class):
        group = by_class[label]
        rng.shuffle(group)
        chosen += group[:k]
    return chosen
