"""A finished run's model rebuilt as `train.py --eval-only --model-dir RUN`
builds it, for export.

Unlike experiments/analysis/finished_run.py, a zero-shot run (which saves no
learner) is accepted: its model is the frozen CLIP and the template. The
trainer name is checked against the exportable ones from config.yaml alone,
before any data or model is built.
"""
import glob
import json
import os.path as osp
from typing import NamedTuple

import yaml

from experiments.analysis.run_folder import check_finished_folder, check_loaded_weights
from user_errors import ConfigError, MissingFileError

from .parts import EXPORTABLE


class ExportRun(NamedTuple):
    trainer: object   # the run's Dassl trainer, last checkpoint loaded, eval mode
    results: dict     # the run's results.json
    run_info: dict    # the run's run_info.json ({} when absent)


def recorded_trainer(run_dir: str) -> str:
    with open(osp.join(run_dir, "config.yaml")) as f:
        cfg = yaml.safe_load(f) or {}
    return str((cfg.get("TRAINER") or {}).get("NAME", ""))


def check_exportable_run(run_dir: str) -> str:
    """The run's trainer name; one clear error unless `run_dir` holds a
    finished run of an exportable trainer."""
    check_finished_folder(run_dir)
    name = recorded_trainer(run_dir)
    if name not in EXPORTABLE:
        raise ConfigError(f"{run_dir} is a run of trainer '{name}', which cannot be exported "
                          f"(its model is not known to be image -> logits); exportable "
                          f"trainers: {', '.join(sorted(EXPORTABLE))}.")
    if name != "ZeroshotCLIP" and not glob.glob(osp.join(run_dir, "*", "model.pth.tar-*")):
        raise MissingFileError(f"{run_dir} holds no saved learner (<model>/model.pth.tar-N): "
                               "the run did not save its weights; train it again.")
    return name


def load_export_run(run_dir: str, root: str = "") -> ExportRun:
    """The run's trainer on the CPU with its last checkpoint; `root` replaces
    the DATASET.ROOT the run recorded (the class names come from the dataset)."""
    check_exportable_run(run_dir)
    results = check_finished_folder(run_dir)
    import train
    train.register()  # the datasets and trainers; Dassl only from here on
    from dassl.utils import set_random_seed

    argv = ["--config-file", osp.join(run_dir, "config.yaml"), "--output-dir", run_dir,
            "USE_CUDA", "False"]
    if root:
        argv[4:4] = ["--root", root]
    cfg = train.setup_cfg(train.parse_args(argv), quiet=True)
    train.check_names(cfg)
    if cfg.SEED >= 0:
        set_random_seed(cfg.SEED)
    trainer = train.build(cfg)
    if trainer.get_model_names():
        trainer.load_model(run_dir)
    check_loaded_weights(run_dir, trainer, results)
    trainer.set_model_mode("eval")
    info_path = osp.join(run_dir, "run_info.json")
    run_info = {}
    if osp.isfile(info_path):
        with open(info_path) as f:
            run_info = json.load(f)
    return ExportRun(trainer, results, run_info)
