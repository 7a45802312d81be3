"""Train and evaluate a trainer on an ADU dataset (CoOp / MaPLe command line).

    python train.py --root DATA --seed 1 --trainer ADU \
        --dataset-config-file configs/datasets/office_home.yaml \
        --config-file configs/trainers/ADU/vit_b16_ep50.yaml \
        --output-dir output/run --forget-domains art

Config precedence: Dassl defaults < the project's keys (trainers/config.py)
and the CoOp family's (trainers/run/coop_family.py) < each trainer file's
own `extend_cfg(cfg)` hook, if it has one < dataset yaml < method yaml <
command-line arguments < trailing opts.

Every file in trainers/ is a trainer (trainers.register_trainers imports
them all): a CoOp-family trainer file dropped there trains unchanged.
"""
import os
import sys
import warnings

try:
    import dassl  # noqa: F401
except ImportError:
    sys.exit(f"train.py: error: Dassl is not installed for {sys.executable}; run "
             "train.py with .venv/bin/python (or activate .venv) if `make setup` made it, "
             "else install Dassl from GitHub as README.md 'Install' step 2 says.")

# Dassl imports wilds, whose `outdated` check would try the network.
os.environ.setdefault("OUTDATED_IGNORE", "1")
# ...and `outdated` imports pkg_resources, which setuptools flags on every
# import although setuptools<81 is installed: nothing a user can act on.
warnings.filterwarnings("ignore", message="pkg_resources is deprecated",
                        module="outdated")

import torch  # noqa: E402
from dassl.data.datasets import DATASET_REGISTRY  # noqa: E402
from dassl.engine import TRAINER_REGISTRY, build_trainer  # noqa: E402
from dassl.utils import set_random_seed, setup_logger  # noqa: E402

import datasets  # noqa: E402
import trainers  # noqa: E402
from datasets.adu_base import adu_datasets, check_forget_domains  # noqa: E402
from datasets.domain_lists import DOMAINS  # noqa: E402
from trainers.engine.evaluation import install_domain_test  # noqa: E402
from trainers.modules.clip_loading import check_backbone_name  # noqa: E402
from trainers.run.checkpoint import checkpoints_found  # noqa: E402
from trainers.run.config_summary import config_summary  # noqa: E402
from trainers.run.files import repo_path  # noqa: E402
from trainers.run.fingerprint import check_run_folder, results_match  # noqa: E402
from trainers.run.os_errors import os_error_line  # noqa: E402
from trainers.run.run_folder import RunFolder  # noqa: E402
from trainers.run.run_info import describe_device, write_run_info  # noqa: E402
from trainers.run.threads import set_threads  # noqa: E402
# The command line and its config: shared with the launcher's skip test.
from trainers.run.resolve import cpu_count, default_cfg, parse_args, setup_cfg  # noqa: E402,F401
from trainers.run.values import check_values  # noqa: E402
from user_errors import ConfigError, MissingFileError, UserError  # noqa: E402

datasets.register_datasets()
trainers.register_trainers()


def check_names(cfg):
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


def check_trainer_cfg(trainer_cls, cfg):
    """The trainer's own `check_cfg`, before any folder or data (Dassl calls
    it again when it builds the trainer). The checks read the config and
    class attributes only, so they run on an instance not yet initialised."""
    trainer_cls.__new__(trainer_cls).check_cfg(cfg)


def check_model_dir(args):
    """--eval-only: the weights must be there before any data is read."""
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
    names, the meaning of values, the trainer's own checks, the forget
    domains, the backbone and --eval-only's weights."""
    check_names(cfg)
    check_test_split(cfg)
    trainer_cls = TRAINER_REGISTRY.get(cfg.TRAINER.NAME)
    trains = not (args.eval_only or args.no_train) and getattr(trainer_cls, "trains_weights",
                                                               True)
    check_values(cfg, trains)
    check_trainer_cfg(trainer_cls, cfg)
    if cfg.DATASET.NAME in DOMAINS:
        check_forget_domains(cfg.DATASET.FORGET_DOMAINS, DOMAINS[cfg.DATASET.NAME],
                             cfg.DATASET.NAME)
    if cfg.MODEL.BACKBONE.NAME:  # unset without a method config: named when CLIP loads
        check_backbone_name(repo_path(cfg.MODEL.BACKBONE.NAME))
    if args.eval_only:
        check_model_dir(args)
    if cfg.RESUME and not os.path.isdir(cfg.RESUME):
        raise MissingFileError(f"--resume {os.path.abspath(cfg.RESUME)} is no folder: pass "
                               "the output directory of the run to resume")


def log_config(cfg):
    """The full config into the log file only; a summary on the terminal."""
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
