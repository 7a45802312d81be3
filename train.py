"""Train and evaluate a trainer on an ADU dataset (CoOp / MaPLe command line).

    python train.py --root DATA --seed 1 --trainer ADU \
        --dataset-config-file configs/datasets/office_home.yaml \
        --config-file configs/trainers/ADU/vit_b16_ep50.yaml \
        --output-dir output/run --forget-domains art

Config precedence: Dassl defaults < the project's keys (trainers/config.py)
< dataset yaml < method yaml < command-line arguments < trailing opts.
"""
import argparse
import os
import sys
import warnings

try:
    import dassl  # noqa: F401
except ImportError:
    sys.exit("train.py: error: Dassl is not installed; install it from GitHub as "
             "README.md 'Install' step 2 says.")

# Dassl imports wilds, whose `outdated` check would try the network.
os.environ.setdefault("OUTDATED_IGNORE", "1")
# ...and `outdated` imports pkg_resources, which setuptools flags on every
# import although setuptools<81 is installed: nothing a user can act on.
warnings.filterwarnings("ignore", message="pkg_resources is deprecated",
                        module="outdated")

import torch  # noqa: E402
from dassl.config import get_cfg_default  # noqa: E402
from dassl.data.datasets import DATASET_REGISTRY  # noqa: E402
from dassl.engine import TRAINER_REGISTRY, build_trainer  # noqa: E402
from dassl.utils import set_random_seed, setup_logger  # noqa: E402

import datasets  # noqa: E402,F401  (registers the ADU datasets)
import trainers  # noqa: E402,F401  (registers the trainers)
from datasets.adu_base import adu_datasets  # noqa: E402
from trainers.config import extend_cfg  # noqa: E402
from trainers.engine.evaluation import install_domain_test  # noqa: E402
from trainers.run.fingerprint import check_run_folder, results_match  # noqa: E402
from trainers.run.run_info import describe_device, write_run_info  # noqa: E402
from user_errors import ConfigError, MissingFileError, UserError  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
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
                             "data or model (the scripts' skip test)")
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


def config_error_message(cfg, err: Exception) -> str:
    """yacs names an unknown key; add the keys that do exist at that level."""
    text = str(err.args[0]) if err.args else str(err)
    if "Non-existent" not in text:
        return text
    key = text.rsplit(":", 1)[-1].strip()
    node, walked = cfg, []
    for part in key.split(".")[:-1]:
        if not isinstance(node.get(part), dict):
            break
        node = node[part]
        walked.append(part)
    prefix = "".join(p + "." for p in walked)
    return f"{text}; available keys: {', '.join(prefix + k for k in sorted(node))}"


def merge_file(cfg, path, what):
    if not path:
        return
    if not os.path.isfile(path):
        raise MissingFileError(f"{what} not found: {os.path.abspath(path)}")
    try:
        cfg.merge_from_file(path)
    except (KeyError, ValueError, AssertionError) as err:
        raise ConfigError(f"{path}: {config_error_message(cfg, err)}") from err


def cpu_count() -> int:
    """CPUs this process may use, the count torch's DataLoader checks against."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def cap_workers(cfg, quiet=False):
    """More loader workers than CPUs only makes torch warn on every loader;
    use the CPU count instead, and say so once."""
    cpus = cpu_count()
    if cfg.DATALOADER.NUM_WORKERS > cpus:
        if not quiet:
            print(f"Note: DATALOADER.NUM_WORKERS={cfg.DATALOADER.NUM_WORKERS} but this "
                  f"machine has {cpus} CPUs; using {cpus} workers.")
        cfg.DATALOADER.NUM_WORKERS = cpus


def setup_cfg(args):
    cfg = get_cfg_default()
    extend_cfg(cfg)
    merge_file(cfg, args.dataset_config_file, "dataset config file")
    merge_file(cfg, args.config_file, "method config file")
    reset_cfg(cfg, args)
    if len(args.opts) % 2:
        raise ConfigError(f"config options must come in KEY VALUE pairs, got {args.opts}")
    try:
        cfg.merge_from_list(args.opts)
    except (KeyError, ValueError, AssertionError) as err:
        raise ConfigError(f"config option: {config_error_message(cfg, err)}") from err
    cap_workers(cfg, quiet=getattr(args, "check_done", False))
    cfg.freeze()
    return cfg


def check_names(cfg):
    trainers_ = sorted(TRAINER_REGISTRY.registered_names())
    if cfg.TRAINER.NAME not in trainers_:
        raise ConfigError(f"unknown trainer '{cfg.TRAINER.NAME}'; registered trainers: "
                          f"{', '.join(trainers_)}")
    if cfg.DATASET.NAME not in DATASET_REGISTRY.registered_names():
        raise ConfigError(f"unknown dataset '{cfg.DATASET.NAME}'; ADU datasets: "
                          f"{', '.join(adu_datasets())} (another dataset needs a "
                          "domain-aware class, a subclass of ADUDatasetBase in "
                          "datasets/adu_base.py)")


def check_test_split(cfg):
    """The ADU datasets have a test split only. Dassl's best_val picks the
    epoch that scores best on the validation split; here it would pick on the
    test split and report a number selected on the data it is scored on."""
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


def main(args):
    cfg = setup_cfg(args)
    if args.check_done:
        raise SystemExit(0 if results_match(cfg, cfg.OUTPUT_DIR) else 1)
    check_names(cfg)
    check_test_split(cfg)
    if args.eval_only and not args.model_dir:
        raise ConfigError("--eval-only needs --model-dir (the training run's output "
                          "directory or a checkpoint file)")
    # A run folder belongs to one config: never resume or overwrite another's.
    check_run_folder(cfg, cfg.OUTPUT_DIR)
    if cfg.RESUME and not args.eval_only:
        check_run_folder(cfg, cfg.RESUME, "--resume")
    if cfg.SEED >= 0:
        set_random_seed(cfg.SEED)
    os.makedirs(cfg.OUTPUT_DIR, exist_ok=True)
    setup_logger(cfg.OUTPUT_DIR)
    if torch.cuda.is_available() and cfg.USE_CUDA:
        torch.backends.cudnn.benchmark = True
    print(f"Command: {' '.join(sys.argv)}")
    print(cfg)

    trainer = build_trainer(cfg)
    print(describe_device(trainer.device))
    write_run_info(cfg, trainer.device)
    install_domain_test(trainer)
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
    try:
        return main(parse_args(argv))
    except UserError as err:
        if os.environ.get("ADU_DEBUG"):
            raise
        print(f"train.py: error: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    run()
