"""FILE.json beside each exported file: what a user needs to feed the model
and to know what it forgot, readable without this code.

The image recipe is the run's test transform (Dassl's): resize the shorter
side to max(INPUT.SIZE) with INPUT.INTERPOLATION, center-crop INPUT.SIZE,
RGB in [0, 1]; the normalisation is done inside the exported module.
"""
import datetime
import os.path as osp

import torch


def normalisation(cfg):
    """(mean, std) the run's test transform applies: identity when its
    INPUT.TRANSFORMS do not normalise."""
    if "normalize" in cfg.INPUT.TRANSFORMS:
        return [float(v) for v in cfg.INPUT.PIXEL_MEAN], [float(v) for v in cfg.INPUT.PIXEL_STD]
    return [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]


def input_spec(cfg) -> dict:
    height, width = (int(v) for v in cfg.INPUT.SIZE)
    mean, std = normalisation(cfg)
    return {
        "size": [height, width],
        "layout": "float32 tensor [batch, 3, height, width], RGB in [0, 1]",
        "resize_shorter_side": max(height, width),
        "interpolation": cfg.INPUT.INTERPOLATION,
        "center_crop": [height, width],
        "normalization": {"mean": mean, "std": std, "inside_the_model": True},
    }


def export_metadata(run, run_dir: str, file_format: str, path: str, output_names,
                    fp16: bool) -> dict:
    """The json of one exported file of `run` (experiments.export.run_model.ExportRun)."""
    cfg, dataset, results = run.trainer.cfg, run.trainer.dm.dataset, run.results
    git = run.run_info.get("git", {})
    return {
        "file": osp.basename(path),
        "format": file_format,
        "precision": "fp16" if fp16 else "fp32",
        "outputs": list(output_names),
        "classnames": list(dataset.classnames),
        "domains": list(dataset.domains),
        "input": input_spec(cfg),
        "forget_domains": results["forget_domains"],
        "memorize_domains": results["memorize_domains"],
        "scores": {"mem": results["mem"], "for": results["for"], "h": results["h"],
                   "per_domain_accuracy": {d: row["accuracy"]
                                           for d, row in results["per_domain"].items()}},
        "trainer": cfg.TRAINER.NAME,
        "method": results.get("method", cfg.TRAINER.NAME),
        "backbone": cfg.MODEL.BACKBONE.NAME,
        "dataset": cfg.DATASET.NAME,
        "seed": cfg.SEED,
        "fingerprint": results.get("fingerprint"),
        "commit": git.get("commit"),
        "commit_dirty": git.get("dirty"),
        "run_dir": osp.abspath(run_dir),
        "torch": torch.__version__,
        "exported_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
