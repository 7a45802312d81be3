"""A train.py command line -> its resolved config, as train.py runs it.

    args = parse_args(["--config-file", ..., "OPTIM.MAX_EPOCH", "2"])
    cfg = setup_cfg(args)        # Dassl defaults < project keys < yamls < args < opts

The keys: Dassl's defaults, the project's (trainers/config.py), the CoOp
family's nodes (trainers/run/coop_family.py), then the `extend_cfg(cfg)` hook
of every imported trainer file (trainers.extend_cfg_hooks), before any yaml.

train.py and the launcher's skip test (experiments/launch/skip.py) both
resolve a command here, so that the fingerprint the launcher computes for a
command is the one train.py records for it. Imports yacs and Dassl's config
defaults only (no torch, no Dassl engine or data; open_clip for an open_clip
backbone); anything may import it.
"""
import argparse
import os

from dassl.config import get_cfg_default

from trainers import extend_cfg_hooks
from trainers.config import extend_cfg
from trainers.modules import open_clip_backbone as oc
from trainers.run.coop_family import add_coop_family_config
from trainers.run.files import repo_path
from trainers.run.merge import merge_opts, merge_yaml_file
from trainers.run.threads import cpu_count
from user_errors import MissingFileError

DESCRIPTION = "Train and evaluate a trainer on an ADU dataset (CoOp / MaPLe command line)."


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=DESCRIPTION)
    parser.add_argument("--root", type=str, default="", help="path to the datasets")
    parser.add_argument("--output-dir", type=str, default="", help="output directory")
    parser.add_argument("--resume", type=str, default="",
                        help="checkpoint directory to resume training from")
    parser.add_argument("--seed", type=int, default=-1,
                        help="only a positive value enables a fixed seed")
    parser.add_argument("--forget-domains", type=str, default="",
                        help="comma-separated domains to forget, e.g. art,clipart "
                             "(sets DATASET.FORGET_DOMAINS)")
    parser.add_argument("--config-file", type=str, default="", help="method config file")
    parser.add_argument("--dataset-config-file", type=str, default="",
                        help="dataset config file")
    parser.add_argument("--trainer", type=str, default="", help="name of the trainer")
    parser.add_argument("--backbone", type=str, default="",
                        help="CLIP model name or checkpoint path (MODEL.BACKBONE.NAME)")
    parser.add_argument("--eval-only", action="store_true", help="evaluation only")
    parser.add_argument("--model-dir", type=str, default="",
                        help="run directory or checkpoint file to load (--eval-only)")
    parser.add_argument("--load-epoch", type=int,
                        help="epoch of the checkpoint to load (default: the last saved)")
    parser.add_argument("--no-train", action="store_true", help="do not call trainer.train()")
    parser.add_argument("--check-done", action="store_true",
                        help="only say whether --output-dir holds the results.json of this "
                             "config (same fingerprint): exit 0 if so, else 1; loads no "
                             "data or model")
    parser.add_argument("opts", default=None, nargs=argparse.REMAINDER,
                        help="modify config options using the command line")
    return parser.parse_args(argv)


def reset_cfg(cfg, args):
    if args.root:
        cfg.DATASET.ROOT = args.root
    if args.output_dir:
        cfg.OUTPUT_DIR = args.output_dir
    if args.resume:
        cfg.RESUME = args.resume
    if args.seed >= 0:
        cfg.SEED = args.seed
    if args.forget_domains:
        cfg.DATASET.FORGET_DOMAINS = [d.strip() for d in args.forget_domains.split(",")
                                      if d.strip()]
    if args.trainer:
        cfg.TRAINER.NAME = args.trainer
    if args.backbone:
        cfg.MODEL.BACKBONE.NAME = args.backbone


def merge_file(cfg, path, what):
    if not path:
        return
    if not os.path.isfile(path):
        raise MissingFileError(f"{what} not found: {os.path.abspath(path)}")
    merge_yaml_file(cfg, path)


def unique_domains(names) -> list:
    """Forget domains with repeats dropped (first mention kept): `sketch,sketch`
    is the run of `sketch`, with its fingerprint."""
    return list(dict.fromkeys(str(d) for d in names))


def cap_workers(cfg, quiet=False):
    """More loader workers than CPUs only makes torch warn on every loader;
    use the CPU count instead, and say so once."""
    cpus = cpu_count()
    if cfg.DATALOADER.NUM_WORKERS > cpus:
        if not quiet:
            print(f"Note: DATALOADER.NUM_WORKERS={cfg.DATALOADER.NUM_WORKERS} but this "
                  f"machine has {cpus} CPUs; using {cpus} workers.")
        cfg.DATALOADER.NUM_WORKERS = cpus


def resolve_open_clip(cfg, quiet=False):
    """An open_clip backbone (modules/open_clip_backbone.py) is checked from
    its config before any data or model is built, and the transforms
    normalise with the constants it was trained with (its preprocess
    config), not the yaml's OpenAI ones."""
    if not oc.is_open_clip_name(cfg.MODEL.BACKBONE.NAME):
        return
    name = oc.parse_name(cfg.MODEL.BACKBONE.NAME, repo_path)
    oc.check_config(name, oc.model_config(name), cfg.INPUT.SIZE)
    mean, std = (list(v) for v in oc.preprocess_mean_std(name))
    given = [round(v, 6) for v in (*cfg.INPUT.PIXEL_MEAN, *cfg.INPUT.PIXEL_STD)]
    if given != [round(v, 6) for v in (*mean, *std)]:
        if not quiet:
            print(f"Note: INPUT.PIXEL_MEAN/PIXEL_STD set to {mean} / {std}, the "
                  f"preprocessing of {name}.")
        cfg.INPUT.PIXEL_MEAN, cfg.INPUT.PIXEL_STD = mean, std


def default_cfg():
    """The config before any yaml: Dassl's defaults and every trainer's keys."""
    cfg = get_cfg_default()
    extend_cfg(cfg)
    add_coop_family_config(cfg)
    for hook in extend_cfg_hooks():  # a trainer file's own keys
        hook(cfg)
    return cfg


def setup_cfg(args, quiet=None):
    """The frozen config of parsed train.py arguments; ConfigError or
    MissingFileError for a bad one. `quiet` (default: with --check-done)
    leaves out the note on capped loader workers."""
    cfg = default_cfg()
    merge_file(cfg, args.dataset_config_file, "dataset config file")
    merge_file(cfg, args.config_file, "method config file")
    reset_cfg(cfg, args)
    merge_opts(cfg, args.opts)
    cfg.DATASET.FORGET_DOMAINS = unique_domains(cfg.DATASET.FORGET_DOMAINS)
    quiet = getattr(args, "check_done", False) if quiet is None else quiet
    cap_workers(cfg, quiet=quiet)
    resolve_open_clip(cfg, quiet=quiet)
    cfg.freeze()
    return cfg
