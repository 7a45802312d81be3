"""DATASET.DOMAIN_LABELS: train on pseudo domain labels instead of the given ones.

With `pseudo` or `soft`, a trainer that supports it calls
`relabel_training_domains` once in build_model, with its frozen CLIP: the
training shots are encoded by the stock image encoder, clustered into
domains (modules/pseudo_domains.py), and the training loader's items get
the inferred domains. The forget/memorize split of the classification
losses follows those hard labels (the matched cluster's name); with `soft`
the domain CE reads the posteriors, the MMD still groups by the hard labels.
`dataset.train_x` keeps the true domains: the linear probes and the test
split are the measurement and use them.

The labels are saved in the run folder (pseudo_domains.json, atomically) and
read back by a resumed run, so that its epochs train on the same labels
even where k-means would round differently on another machine.
"""
import json
import os
import os.path as osp

import numpy as np
import torch
from dassl.data.datasets import Datum

from user_errors import ConfigError

from ..modules.clip_heads import encode_class_texts, frozen_image_features
from ..modules.pseudo_domains import infer_domains
from ..run.files import write_json_atomic
from .evaluation import shots_loader
from .training_step import autocast_context

MODES = ("given", "pseudo", "soft")
CACHE_FILE = "pseudo_domains.json"
# Samplers that read nothing but the item count, so relabelled items need no new sampler.
PLAIN_SAMPLERS = ("RandomSampler", "SequentialSampler")


def check_domain_labels(cfg, supported: bool) -> str:
    """DATASET.DOMAIN_LABELS, checked against the trainer and the sampler."""
    mode = cfg.DATASET.DOMAIN_LABELS
    if mode not in MODES:
        raise ConfigError(f"DATASET.DOMAIN_LABELS must be one of {MODES}, got '{mode}'.")
    if mode == "given":
        return mode
    if not supported:
        raise ConfigError(f"DATASET.DOMAIN_LABELS {mode} is supported by the ADU trainer "
                          f"only, not {cfg.TRAINER.NAME}; use DATASET.DOMAIN_LABELS given.")
    if cfg.DATALOADER.TRAIN_X.SAMPLER not in PLAIN_SAMPLERS:
        raise ConfigError(f"DATALOADER.TRAIN_X.SAMPLER {cfg.DATALOADER.TRAIN_X.SAMPLER} reads "
                          f"the domains before they are inferred; use one of {PLAIN_SAMPLERS} "
                          f"with DATASET.DOMAIN_LABELS {mode}.")
    if cfg.DATASET.SOFT_TEMPERATURE <= 0:
        raise ConfigError(f"DATASET.SOFT_TEMPERATURE must be > 0, got "
                          f"{cfg.DATASET.SOFT_TEMPERATURE}.")
    return mode


def check_enough_images(items, domains, per_domain: int):
    """Clustering needs an image per cluster; naming needs `per_domain` of each domain."""
    mode = "DATASET.DOMAIN_LABELS pseudo"
    if len(items) < len(domains):
        raise ConfigError(f"{mode} clusters {len(items)} training images into "
                          f"{len(domains)} domains, which needs at least one image per "
                          "domain; raise DATASET.NUM_SHOTS or use DATASET.DOMAIN_LABELS given.")
    if per_domain < 1:
        raise ConfigError(f"DATASET.LABELLED_PER_DOMAIN must be >= 1 (the labelled images "
                          f"name the clusters), got {per_domain}.")
    counts = [sum(it.domain == d for it in items) for d in range(len(domains))]
    fewest = min(counts)
    if per_domain > fewest:
        name = domains[counts.index(fewest)]
        raise ConfigError(f"DATASET.LABELLED_PER_DOMAIN {per_domain} is more than the "
                          f"{fewest} training images of domain '{name}'; use at most "
                          f"{fewest} or raise DATASET.NUM_SHOTS.")


@torch.no_grad()
def zero_shot_features(trainer, clip_model, template: str):
    """(stock image embeddings [N, D] of the training shots, in train_x order,
    class text features [C, D]), both fp32 on the CPU."""
    feats = []
    for batch in shots_loader(trainer):
        images, _ = trainer.parse_batch_test(batch)
        with autocast_context(trainer.prec, trainer.device):
            feats.append(frozen_image_features(clip_model, images).float().cpu())
    text = encode_class_texts(clip_model, trainer.dm.dataset.classnames, template)
    return torch.cat(feats), text.float().cpu()


def cached_labels(path: str, impaths: list, mode: str):
    """The record saved by an earlier start of this run, or None when there
    is none or it is of other training images."""
    if not osp.isfile(path):
        return None
    try:
        with open(path) as f:
            record = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("impaths") != impaths \
            or record.get("mode") != mode:
        return None
    return record


def infer_record(trainer, clip_model, template: str, mode: str) -> dict:
    cfg, dataset = trainer.cfg, trainer.dm.dataset
    items = dataset.train_x
    feats, text = zero_shot_features(trainer, clip_model, template)
    seed = cfg.SEED if cfg.SEED >= 0 else 0
    found = infer_domains(feats, text, [it.domain for it in items], len(dataset.domains),
                          cfg.DATASET.LABELLED_PER_DOMAIN, seed, cfg.DATASET.SOFT_TEMPERATURE)
    return {"mode": mode, "impaths": [it.impath for it in items],
            "labels": [int(d) for d in found.labels], "soft": found.soft.tolist(),
            "labelled": found.labelled, "agreement": found.agreement}


def relabel_training_domains(trainer, clip_model, template: str):
    """Give the training loader's items pseudo domains (DATASET.DOMAIN_LABELS
    pseudo/soft). Returns what results.json records of them, or None for
    given; sets `trainer.soft_domain_targets` ([N, num_domains] by loader
    index on the device, or None)."""
    cfg, dataset = trainer.cfg, trainer.dm.dataset
    trainer.soft_domain_targets = None
    mode = check_domain_labels(cfg, supported=True)
    if mode == "given":
        return None
    items = dataset.train_x
    check_enough_images(items, dataset.domains, cfg.DATASET.LABELLED_PER_DOMAIN)
    path = osp.join(trainer.output_dir, CACHE_FILE)
    record = cached_labels(path, [it.impath for it in items], mode)
    if record is None:
        print(f"Inferring the training domains ({mode}) from zero-shot CLIP features, "
              f"{cfg.DATASET.LABELLED_PER_DOMAIN} labelled image(s) per domain")
        record = infer_record(trainer, clip_model, template, mode)
        os.makedirs(trainer.output_dir, exist_ok=True)
        write_json_atomic(path, record)
    else:
        print(f"Pseudo domain labels read from {path}")
    trainer.train_loader_x.dataset.data_source = [
        Datum(impath=it.impath, label=it.label, domain=d, classname=it.classname)
        for it, d in zip(items, record["labels"])]
    if mode == "soft":
        trainer.soft_domain_targets = torch.tensor(
            np.asarray(record["soft"]), dtype=torch.float32, device=trainer.device)
    agree = record["agreement"]
    print(f"Pseudo domain labels agree with the true domains: ARI {agree['ari']:.3f}, "
          f"accuracy {agree['accuracy']:.1f}% (best matching {agree['best_match_accuracy']:.1f}%) "
          f"over {len(items)} training images")
    return {"mode": mode, "labelled_per_domain": cfg.DATASET.LABELLED_PER_DOMAIN, **agree}
