"""Config values checked for meaning, before any folder, data or model.

yacs checks a value's type only: `OPTIM.MAX_EPOCH 0` trained nothing and
recorded a zero-shot result under ADU's name, `DDL_LAMBDA -1` silently
flipped the MMD term's sign (minimising it, as domain adaptation does: the
opposite of ADU), `BATCH_SIZE 0` and `INPUT.SIZE (0, 0)` ended in
tracebacks. `check_values` refuses each with one line naming the key and
the fix. Plain Python (the config is read as a mapping).
"""
import math

from user_errors import ConfigError


def at_least(cfg, key: str, low: int, why: str = "") -> None:
    value = lookup(cfg, key)
    if value < low:
        raise ConfigError(f"{key} must be >= {low}, got {value}{why}")


def finite_non_negative(cfg, key: str, why: str) -> None:
    """A weight or rate: a finite number, and no negative one (`why` says
    what a negative value would mean, and so why it is refused)."""
    value = lookup(cfg, key)
    if not math.isfinite(value):
        raise ConfigError(f"{key} must be a finite number, got {value}")
    if value < 0:
        raise ConfigError(f"{key} must be >= 0, got {value}: {why}")


def lookup(cfg, key: str):
    node = cfg
    for part in key.split("."):
        node = node[part]
    return node


def check_input_size(cfg) -> None:
    size = cfg.INPUT.SIZE
    if len(size) != 2 or not all(isinstance(s, int) and s >= 1 for s in size):
        raise ConfigError(f"INPUT.SIZE must be two integers >= 1 (height, width), got "
                          f"{tuple(size)}; e.g. INPUT.SIZE \"(224, 224)\"")


def check_values(cfg, trains: bool = True) -> None:
    """Refuse values that run but mean nothing. `trains`: the run trains
    weights (not --eval-only, --no-train or a trainer that learns nothing)."""
    if trains:
        at_least(cfg, "OPTIM.MAX_EPOCH", 1, " (0 or less trains nothing; for the zero-shot "
                                           "row use --trainer ZeroshotCLIP)")
    at_least(cfg, "DATALOADER.TRAIN_X.BATCH_SIZE", 1)
    at_least(cfg, "DATALOADER.TEST.BATCH_SIZE", 1)
    at_least(cfg, "DATALOADER.NUM_WORKERS", 0, " (0 loads in the main process)")
    at_least(cfg, "TRAIN.PRINT_FREQ", 1, " (the training log prints every PRINT_FREQ steps)")
    at_least(cfg, "TRAIN.CHECKPOINT_FREQ", 0, " (0 saves the last epoch only)")
    at_least(cfg, "DATASET.NUM_SHOTS", 1, " (ADU uses 8 shots per (class, domain))")
    check_input_size(cfg)
    finite_non_negative(cfg, "OPTIM.LR", "a negative learning rate climbs the loss")
    finite_non_negative(cfg, "OPTIM.WEIGHT_DECAY", "negative decay grows the weights")
    adu = cfg.TRAINER.ADU
    finite_non_negative(cfg, "TRAINER.ADU.DDL_GAMMA",
                        "L_domain = gamma * CE - lambda * MMD^2, and a negative gamma would "
                        "make the domain classifier unlearn the domains; 0 turns the CE term "
                        "off (or set TRAINER.ADU.DDL_CE False)")
    finite_non_negative(cfg, "TRAINER.ADU.DDL_LAMBDA",
                        "a negative lambda flips the MMD term's sign (MMD^2 minimised, as "
                        "domain adaptation does: the opposite of ADU); 0 turns it off (or "
                        "set TRAINER.ADU.DDL_MMD False)")
    at_least(cfg, "TRAINER.ADU.N_CTX_VISION", 1)
    at_least(cfg, "TRAINER.ADU.PROMPT_DEPTH_VISION", 0, " (0 turns deep vision prompts off)")
    if adu.N_CTX_TEXT < 0:
        raise ConfigError(f"TRAINER.ADU.N_CTX_TEXT must be >= 0, got {adu.N_CTX_TEXT} "
                          "(0: the fixed template)")
