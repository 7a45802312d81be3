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
from trainers.config_checks import check_values, merge_opts, merge_yaml_file  # noqa: E402
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


def check_names(cfg):
    from dassl.data.datasets import DATASET_REGISTRY
    from dassl.engine import TRAINER_REGISTRY

    from datasets.adu_base import adu_datasets
    trainers_ = sorted(TRAINER_REGISTRY.registered_names())
    if cfg.TRAINER.NAME not in trainers_:
        broken = "".join(f"; {path} failed to import ({err})"
                         for path, err in sorted(trainers.BROKEN.items()))
        raise ConfigError(f"unknown trainer '{cfg.TRAINER.NAME}'; registered trainers: "
                          f"{', '.join(trainers_)}{broken}")
    if cfg.DATASET.NAME not in DATASET_REGISTRY.registered_names():
        raise ConfigError(f"unknown dataset '{cfg.DATASET.NAME}'; ADU datasets: "
                          f"{', '.join(adu_datasets())} (another dataset needs a "
                          "domain-aware class, a subclass of ADUDatasetBase in "
                          "datasets/adu_base.py)")


def check_test_split(cfg):
    """The ADU datasets have a test split only. Dassl's best_val picks the
    epoch that scores best on the validation split; here it would pick on the
    test split and report a number selected on the data it is scored on."""
    from datasets.adu_base import adu_datasets
    if cfg.DATASET.NAME not in adu_datasets():
        return
    if cfg.TEST.FINAL_MODEL == "best_val":
        raise ConfigError(
            f"TEST.FINAL_MODEL best_val selects the model on a validation split, which "
            f"{cfg.DATASET.NAME} does not have (it would select on the test split); "
            "use TEST.FINAL_MODEL last_step")
    if cfg.TEST.SPLIT != "test":
        raise ConfigError(f"TEST.SPLIT {cfg.TEST.SPLIT}: {cfg.DATASET.NAME} has a test split "
                          "only; use TEST.SPLIT test")


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


def check_early(cfg, args):
    """Every check that needs neither data nor a model, before any folder:
    names, the meaning of values, the trainer's own `check_cfg` (Dassl calls
    it again when it builds the trainer; it reads the config and class
    attributes only), the forget domains, the backbone and --eval-only's weights."""
    from dassl.engine import TRAINER_REGISTRY

    from datasets.adu_base import check_forget_domains
    from datasets.domain_lists import DOMAINS
    from trainers.modules.clip_loading import check_backbone_name
    check_names(cfg)
    check_test_split(cfg)
    trainer_cls = TRAINER_REGISTRY.get(cfg.TRAINER.NAME)
    trains = not (args.eval_only or args.no_train) and getattr(trainer_cls, "trains_weights",
                                                               True)
    check_values(cfg, trains)
    trainer_cls.__new__(trainer_cls).check_cfg(cfg)
    if cfg.DATASET.NAME in DOMAINS:
        check_forget_domains(cfg.DATASET.FORGET_DOMAINS, DOMAINS[cfg.DATASET.NAME],
                             cfg.DATASET.NAME)
    if cfg.MODEL.BACKBONE.NAME:  # unset without a method config: named when CLIP loads
        check_backbone_name(repo_path(cfg.MODEL.BACKBONE.NAME))
    if oc.is_open_clip_name(cfg.MODEL.BACKBONE.NAME):  # a timm tower: this trainer?
        name = oc.parse_name(cfg.MODEL.BACKBONE.NAME, repo_path)
        refusal = getattr(trainer_cls, "timm_tower_refusal", None)
        oc.check_trainer(name, oc.model_config(name), cfg.TRAINER.NAME,
                         refusal(cfg) if refusal else "it is not one of the project's trainers")
    if args.eval_only:
        check_model_dir(args)
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
    register()
    cfg = setup_cfg(args)
    if args.check_done:
        raise SystemExit(0 if results_match(cfg, cfg.OUTPUT_DIR) else 1)
    check_early(cfg, args)
    # One run per folder, locked before anything in it is read (run_folder.py).
    folder = RunFolder(cfg.OUTPUT_DIR, lock_wait_s())
    try:
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
    write_run_info(cfg, trainer.device)
    if args.eval_only:
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
