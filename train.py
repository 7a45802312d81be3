"""Train and evaluate a trainer on an ADU dataset (CoOp / MaPLe command line).

    python train.py --root DATA --seed 1 --trainer ADU \
        --dataset-config-file configs/datasets/office_home.yaml \
        --config-file configs/trainers/ADU/vit_b16_ep50.yaml \
        --output-dir output/run --forget-domains art

The config is built CoOp's way: `extend_cfg` adds every key the project
adds (trainers/config.py) to Dassl's defaults, then `setup_cfg` merges the
dataset yaml < the method yaml < `reset_cfg` (the command-line arguments) <
the trailing KEY VALUE opts, each merge checked (trainers/config_checks.py).
A script written for CoOp's train.py calls these functions as it did there.

Importing this file registers nothing and imports neither torch nor Dassl's
engine: `register()` imports the datasets and trainers into Dassl's
registries (every file in trainers/ is a trainer: a CoOp-family trainer file
dropped there trains unchanged), `build(cfg)` builds the trainer of a config,
`main(args)` runs one command line. The launcher and the tools call these
functions.
"""
import argparse
import os
import sys
import warnings
from typing import NamedTuple

# Dassl imports wilds, whose `outdated` check would try the network; and
# `outdated` imports pkg_resources, which setuptools flags on every import:
# nothing a user can act on. (Set here, before anything imports Dassl's data.)
os.environ.setdefault("OUTDATED_IGNORE", "1")
warnings.filterwarnings("ignore", message="pkg_resources is deprecated", module="outdated")

try:
    from dassl.config import get_cfg_default
except ImportError:
    sys.exit(f"train.py: error: Dassl is not installed for {sys.executable}; run "
             "train.py with .venv/bin/python (or activate .venv) if `make setup` made it, "
             "else install Dassl from GitHub as README.md 'Install' step 2 says.")

import trainers  # noqa: E402
import trainers.config  # noqa: E402
from trainers.config_checks import (  # noqa: E402
    CLIP_IMAGE_SIDES, check_dassl_names, check_image_side, check_model_config_json, check_values,
    merge_opts, merge_yaml_file)
from trainers.modules import open_clip_backbone as oc  # noqa: E402
from trainers.run.files import repo_path  # noqa: E402
from trainers.run.threads import cpu_count  # noqa: E402
from user_errors import ConfigError, MissingFileError, UserError  # noqa: E402

_registered = False
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
    parser.add_argument("--cross-eval", action="store_true",
                        help="--eval-only of weights trained with another config (another "
                             "dataset, forget domains, backbone, trainer or method keys): "
                             "scored and labelled as a cross-evaluation "
                             "(results_cross_eval_epoch<E>.json)")
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


def extend_cfg(cfg):
    """Every key the project adds (trainers/config.py), then the keys of an
    `extend_cfg(cfg)` hook that an imported third-party trainer file defines."""
    trainers.config.extend_cfg(cfg)
    for hook in trainers.extend_cfg_hooks():
        hook(cfg)


def default_cfg():
    """The config before any yaml: Dassl's defaults and every added key."""
    cfg = get_cfg_default()
    extend_cfg(cfg)
    return cfg


def setup_cfg(args, quiet=None):
    """The frozen config of parsed arguments; ConfigError or MissingFileError
    for a bad one. `quiet` (default: with --check-done) leaves out the notes."""
    cfg = default_cfg()
    for path, what in ((args.dataset_config_file, "dataset config file"),
                       (args.config_file, "method config file")):
        if path and not os.path.isfile(path):
            raise MissingFileError(f"{what} not found: {os.path.abspath(path)}")
        if path:
            merge_yaml_file(cfg, path)
    reset_cfg(cfg, args)
    merge_opts(cfg, args.opts)
    # `sketch,sketch` is the run of `sketch`, with its fingerprint.
    cfg.DATASET.FORGET_DOMAINS = list(dict.fromkeys(str(d) for d in cfg.DATASET.FORGET_DOMAINS))
    quiet = getattr(args, "check_done", False) if quiet is None else quiet
    cap_workers(cfg, quiet)
    resolve_open_clip(cfg, quiet)
    cfg.freeze()
    return cfg


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
    """An open_clip backbone (trainers/modules/open_clip_backbone.py) is
    checked from its config before any data or model is built, and the
    transforms normalise with the constants it was trained with (its
    preprocess config), not the yaml's OpenAI ones."""
    if not oc.is_open_clip_name(cfg.MODEL.BACKBONE.NAME):
        return
    name = oc.parse_name(cfg.MODEL.BACKBONE.NAME, repo_path)
    if name.arch_is_file:
        check_model_config_json(name.arch)
    config = oc.model_config(name)
    oc.check_config(name, config, cfg.INPUT.SIZE)
    tokenizer = cfg.MODEL.BACKBONE.TOKENIZER
    oc.check_tokenizer(name, config, repo_path(tokenizer) if tokenizer else "")
    mean, std = (list(v) for v in oc.preprocess_mean_std(name))
    given = [round(v, 6) for v in (*cfg.INPUT.PIXEL_MEAN, *cfg.INPUT.PIXEL_STD)]
    if given != [round(v, 6) for v in (*mean, *std)]:
        if not quiet:
            print(f"Note: INPUT.PIXEL_MEAN/PIXEL_STD set to {mean} / {std}, the "
                  f"preprocessing of {name}.")
        cfg.INPUT.PIXEL_MEAN, cfg.INPUT.PIXEL_STD = mean, std


def register():
    """Import the datasets and trainers into Dassl's registries (once)."""
    global _registered
    if _registered:
        return
    import datasets
    datasets.register_datasets()
    trainers.register_trainers()
    _registered = True


class Names(NamedTuple):
    """What a config's names are checked against: {trainer name: whether it
    trains weights}, the ADU datasets, Dassl's other datasets."""
    trainers: dict
    adu_datasets: tuple
    dassl_datasets: tuple


def declared_names():
    """The Names read from the trainer files' and Dassl's source, without
    importing torch or Dassl (trainers.declared_trainers); None where only
    Dassl's registries tell: they are loaded in this process already, or a
    trainer file is read in full only by importing it (an `extend_cfg` hook)."""
    if "dassl.engine" in sys.modules:
        return None
    found, complete = trainers.declared_trainers()
    if not complete:
        return None
    from datasets.domain_lists import DOMAINS
    dassl_sets, _ = trainers.declared_classes(trainers.dassl_sources("data/datasets"),
                                              "DATASET_REGISTRY")
    return Names(found, tuple(sorted(DOMAINS)), tuple(sorted(dassl_sets)))


def registered_names():
    """The Names of Dassl's registries, the datasets and trainers registered first."""
    from dassl.data.datasets import DATASET_REGISTRY
    from dassl.engine import TRAINER_REGISTRY

    from datasets.adu_base import adu_datasets
    register()
    found = {n: getattr(TRAINER_REGISTRY.get(n), "trains_weights", True)
             for n in TRAINER_REGISTRY.registered_names()}
    adu = tuple(adu_datasets())
    return Names(found, adu, tuple(sorted(set(DATASET_REGISTRY.registered_names()) - set(adu))))


def check_names(cfg, names: Names = None):
    """The trainer is registered (or declared), the dataset an ADU dataset."""
    names = names or registered_names()
    if cfg.TRAINER.NAME not in names.trainers:
        broken = "".join(f"; {path} failed to import ({err})"
                         for path, err in sorted(trainers.BROKEN.items()))
        raise ConfigError(f"unknown trainer '{cfg.TRAINER.NAME}'; registered trainers: "
                          f"{', '.join(sorted(names.trainers))}{broken}")
    if cfg.DATASET.NAME in names.dassl_datasets:
        raise ConfigError(f"DATASET.NAME {cfg.DATASET.NAME} is a Dassl dataset without the "
                          "domain-aware splits ADU trains on; ADU datasets: "
                          f"{', '.join(names.adu_datasets)} (another dataset needs a "
                          "domain-aware class, a subclass of ADUDatasetBase in "
                          "datasets/adu_base.py)")
    if cfg.DATASET.NAME not in names.adu_datasets:
        raise ConfigError(f"unknown dataset '{cfg.DATASET.NAME}'; ADU datasets: "
                          f"{', '.join(names.adu_datasets)} (another dataset needs a "
                          "domain-aware class, a subclass of ADUDatasetBase in "
                          "datasets/adu_base.py)")


def check_test_split(cfg):
    """The ADU datasets have a test split only. Dassl's best_val picks the
    epoch that scores best on the validation split; here it would pick on the
    test split and report a number selected on the data it is scored on."""
    if cfg.TEST.FINAL_MODEL == "best_val":
        raise ConfigError(
            f"TEST.FINAL_MODEL best_val selects the model on a validation split, which "
            f"{cfg.DATASET.NAME} does not have (it would select on the test split); "
            "use TEST.FINAL_MODEL last_step")
    if cfg.TEST.SPLIT != "test":
        raise ConfigError(f"TEST.SPLIT {cfg.TEST.SPLIT}: {cfg.DATASET.NAME} has a test split "
                          "only; use TEST.SPLIT test")


def check_before_folder(cfg, args, names: Names):
    """Every check of names and values that needs no trainer class, data or
    model, before the run folder: with `names` from declared_names, before
    torch and Dassl's engine are imported (a refusal in a fraction of a second)."""
    from datasets.domain_lists import DOMAINS, check_forget_domains
    check_names(cfg, names)
    check_test_split(cfg)
    trains = not (args.eval_only or args.no_train) and names.trainers[cfg.TRAINER.NAME]
    check_values(cfg, trains)
    check_dassl_names(cfg)
    if cfg.DATASET.NAME in DOMAINS:
        check_forget_domains(cfg.DATASET.FORGET_DOMAINS, DOMAINS[cfg.DATASET.NAME],
                             cfg.DATASET.NAME)
    if cfg.MODEL.BACKBONE.NAME in CLIP_IMAGE_SIDES:  # a file's side is checked when it loads
        check_image_side(cfg.INPUT.SIZE, CLIP_IMAGE_SIDES[cfg.MODEL.BACKBONE.NAME],
                         cfg.MODEL.BACKBONE.NAME)


def check_model_dir(args):
    """--eval-only: the weights must be there before any data is read."""
    from trainers.run.checkpoint import checkpoints_found
    if not args.model_dir:
        raise ConfigError("--eval-only needs --model-dir (the training run's output "
                          "directory or a checkpoint file)")
    if not os.path.exists(args.model_dir):
        raise MissingFileError(f"--model-dir {os.path.abspath(args.model_dir)} does not "
                               "exist: pass the training run's --output-dir")
    if os.path.isfile(args.model_dir):
        return
    found, best = checkpoints_found(args.model_dir)
    epoch = args.load_epoch
    if (epoch is None and (found or best)) or any(epoch in e for e in found.values()):
        return
    wanted = f"epoch {epoch} (model.pth.tar-{epoch})" if epoch is not None else "any epoch"
    listed = "; ".join(f"{f}: epochs {e}" for f, e in found.items()) or "none"
    raise MissingFileError(
        f"--model-dir {os.path.abspath(args.model_dir)} holds no checkpoint of {wanted}, in "
        f"itself or a model's folder inside it. Checkpoints found: {listed}. Pass the "
        "training run's --output-dir, and a --load-epoch it saved")


# Keys an evaluation may set otherwise than the run that trained the weights:
# how it loads, batches and prints, not what the model is or means.
EVAL_MAY_DIFFER = ("DATALOADER.", "OPTIM.", "TRAIN.", "TEST.", "USE_CUDA")


def source_run(model_dir: str) -> str:
    """The run folder --model-dir's weights belong to: the folder itself, or
    the run above a model's folder or a checkpoint file."""
    from trainers.run.fingerprint import recorded
    path = os.path.abspath(os.path.expanduser(model_dir))
    folder = os.path.dirname(path) if os.path.isfile(path) else path
    for candidate in (folder, os.path.dirname(folder)):
        if recorded(candidate) is not None:
            return candidate
    return folder


def check_weights_source(cfg, args) -> dict:
    """What the evaluation's record says of the weights' training run
    (`weights_source`): --eval-only refuses weights whose run recorded another
    config in a key that changes the model or its meaning, or recorded none,
    unless --cross-eval asks for it (the record then says so)."""
    from trainers.run.fingerprint import (backbone_change, cfg_keys, describe_differences,
                                          differences, recorded, recorded_backbone)
    run = source_run(args.model_dir)
    found = recorded(run)
    cross = "cross-evaluation" if args.cross_eval else "evaluation"
    source = {"kind": cross, "model_dir": os.path.abspath(args.model_dir)}
    if found is None:
        if not args.cross_eval:
            raise ConfigError(
                f"--model-dir {os.path.abspath(args.model_dir)} records no training config "
                f"(no config.yaml or results.json in {run}), so nothing tells what its "
                "weights were trained for: pass the training run's --output-dir, or add "
                "--cross-eval to score them as a cross-evaluation")
        return source
    _, old_fingerprint, old_keys = found
    if old_fingerprint:
        source["fingerprint"] = old_fingerprint
    new_keys = cfg_keys(cfg)
    meaning = {k for k in set(old_keys) | set(new_keys) if not k.startswith(EVAL_MAY_DIFFER)
               and not k.endswith(".PREC")}
    old = {k: v for k, v in old_keys.items() if k in meaning}
    new = {k: v for k, v in new_keys.items() if k in meaning}
    changed = backbone_change(cfg, recorded_backbone(run))
    if (differences(old, new) or changed) and not args.cross_eval:
        what = "; ".join(filter(None, [describe_differences(old, new) if differences(old, new)
                                       else "", changed]))
        raise ConfigError(
            f"--model-dir {run} was trained with another config than this evaluation's "
            f"(run -> this command: {what}): evaluate with the run's own config "
            f"(--config-file {os.path.join(run, 'config.yaml')}), or add --cross-eval to "
            "score these weights under this config as a cross-evaluation")
    return source


def check_early(cfg, args):
    """The checks that need the trainer's class, before any data: the
    names against Dassl's registries, the trainer's own `check_cfg` (Dassl
    calls it again when it builds the trainer; it reads the config and class
    attributes only), the backbone and --eval-only's weights."""
    from dassl.engine import TRAINER_REGISTRY

    from trainers.modules.clip_loading import check_backbone_name
    check_before_folder(cfg, args, registered_names())
    trainer_cls = TRAINER_REGISTRY.get(cfg.TRAINER.NAME)
    trainer_cls.__new__(trainer_cls).check_cfg(cfg)
    if cfg.MODEL.BACKBONE.NAME:  # unset without a method config: named when CLIP loads
        check_backbone_name(repo_path(cfg.MODEL.BACKBONE.NAME))
    if oc.is_open_clip_name(cfg.MODEL.BACKBONE.NAME):  # a timm tower: this trainer?
        name = oc.parse_name(cfg.MODEL.BACKBONE.NAME, repo_path)
        refusal = getattr(trainer_cls, "timm_tower_refusal", None)
        oc.check_trainer(name, oc.model_config(name), cfg.TRAINER.NAME,
                         refusal(cfg) if refusal else "it is not one of the project's trainers")
    if args.eval_only:
        check_model_dir(args)
        args.weights_source = check_weights_source(cfg, args)
    elif args.cross_eval:
        raise ConfigError("--cross-eval labels an evaluation: use it with --eval-only "
                          "--model-dir RUN")
    if cfg.RESUME and not os.path.isdir(cfg.RESUME):
        raise MissingFileError(f"--resume {os.path.abspath(cfg.RESUME)} is no folder: pass "
                               "the output directory of the run to resume")


def build(cfg):
    """The registered trainer of `cfg`, built by Dassl (data, model, optimiser),
    its test scoring each domain (trainers/engine/evaluation.py)."""
    from dassl.engine import build_trainer

    from trainers.engine.evaluation import install_domain_test
    register()
    trainer = build_trainer(cfg)
    install_domain_test(trainer)
    return trainer


def log_config(cfg):
    """The full config into the log file only; a summary on the terminal."""
    from trainers.run.config_summary import config_summary
    log = getattr(sys.stdout, "file", None)
    if log is not None:
        log.write(f"{cfg}\n")
        log.flush()
    print(config_summary(cfg, default_cfg(), os.path.join(cfg.OUTPUT_DIR, "log.txt")))


def lock_wait_s() -> float:
    """ADU_LOCK_WAIT: seconds to wait for the folder's lock (a SLURM requeue
    waits for its previous attempt to end); 0 refuses a taken folder at once."""
    try:
        return float(os.environ.get("ADU_LOCK_WAIT", "0") or 0)
    except ValueError:
        raise ConfigError(f"ADU_LOCK_WAIT={os.environ['ADU_LOCK_WAIT']!r}: give seconds, "
                          "e.g. ADU_LOCK_WAIT=300") from None


def main(args):
    from trainers.run.fingerprint import results_match
    from trainers.run.run_folder import RunFolder
    # Names are read from the source where that tells them all: a command
    # line is refused before torch and Dassl's engine are imported.
    names = declared_names()
    if names is None:
        register()
    cfg = setup_cfg(args)
    if args.check_done:
        raise SystemExit(0 if results_match(cfg, cfg.OUTPUT_DIR) else 1)
    check_before_folder(cfg, args, names or registered_names())
    # One run per folder, locked before anything in it is read (run_folder.py);
    # a refusal after it removes what it made.
    folder = RunFolder(cfg.OUTPUT_DIR, lock_wait_s())
    try:
        check_early(cfg, args)
        return run_in_folder(cfg, args)
    except UserError:
        folder.discard_if_refused()
        raise


def run_in_folder(cfg, args):
    import torch
    from dassl.utils import set_random_seed, setup_logger

    from trainers.run.fingerprint import check_run_folder
    from trainers.run.run_info import describe_device, write_run_info
    from trainers.run.threads import set_threads
    # A run folder belongs to one config: never resume or overwrite another's.
    check_run_folder(cfg, cfg.OUTPUT_DIR)
    if cfg.RESUME and not args.eval_only:
        check_run_folder(cfg, cfg.RESUME, "--resume")
    set_threads()
    if cfg.SEED >= 0:
        set_random_seed(cfg.SEED)
    setup_logger(cfg.OUTPUT_DIR)
    if torch.cuda.is_available() and cfg.USE_CUDA:
        torch.backends.cudnn.benchmark = True
    print(f"Command: {' '.join(sys.argv)}")
    log_config(cfg)

    trainer = build(cfg)
    print(describe_device(trainer.device))
    # An evaluation in the training run's own folder keeps that run's files.
    write_run_info(cfg, trainer.device, keep=args.eval_only)
    if args.eval_only:
        trainer.weights_source = getattr(args, "weights_source", None) or {
            "kind": "evaluation", "model_dir": os.path.abspath(args.model_dir)}
        trainer.load_model(args.model_dir, epoch=args.load_epoch)
        if getattr(trainer, "loaded_epoch", None) is None:  # a trainer with its own loader
            trainer.loaded_epoch = args.load_epoch
        trainer.test()
        return trainer
    if not args.no_train:
        trainer.train()
    return trainer


def run(argv=None):
    """main(), with the errors the user can fix (user_errors.UserError: a
    config value, missing data, a failed download...) printed as one line and
    exit status 2; the scripts stop on that status instead of repeating the
    error for every seed. Any other exception is a bug: its traceback is kept.
    ADU_DEBUG=1 shows the traceback of a UserError too."""
    from trainers.run.os_errors import os_error_line
    try:
        return main(parse_args(argv))
    except UserError as err:
        if os.environ.get("ADU_DEBUG"):
            raise
        fail(str(err))
    except OSError as err:  # a full disk, a read-only folder...: one line when it is the OS's
        line = os_error_line(err)
        if line is None or os.environ.get("ADU_DEBUG"):
            raise
        fail(line)


def fail(line: str):
    print(f"train.py: error: {line}", file=sys.stderr)
    sys.exit(2)


if __name__ == "__main__":
    run()
