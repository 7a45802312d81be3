"""Learning-rate schedules with Dassl's OPTIM keys and meaning.

Dassl's warm-up schedulers pass `verbose` to torch's LRScheduler, which
current torch rejects, so any OPTIM.WARMUP_EPOCH > 0 crashes inside
`dassl.optim.build_lr_scheduler`. This module builds the same schedules as
one closed-form, per-epoch function (stepped once per epoch, as Dassl does):

- epochs e < WARMUP_EPOCH: WARMUP_CONS_LR ("constant"), or WARMUP_MIN_LR at
  e = 0 and LR * e / WARMUP_EPOCH after ("linear");
- afterwards the main schedule at t = e - WARMUP_EPOCH (WARMUP_RECOUNT) or
  t = e: "cosine" LR * (1 + cos(pi * t / MAX_EPOCH)) / 2, "single_step" and
  "multi_step" LR * GAMMA ** (milestones passed).
"""
import bisect
import math

from torch.optim.lr_scheduler import LambdaLR

from user_errors import ConfigError

from ..config_checks import SCHEDULERS, WARMUP_TYPES


def epoch_lr_factor(epoch: int, optim_cfg) -> float:
    """Multiplier of OPTIM.LR for 0-based `epoch`."""
    base = optim_cfg.LR
    warmup = optim_cfg.WARMUP_EPOCH
    if warmup > 0 and epoch < warmup:
        if optim_cfg.WARMUP_TYPE == "constant":
            return optim_cfg.WARMUP_CONS_LR / base
        return optim_cfg.WARMUP_MIN_LR / base if epoch == 0 else epoch / warmup
    t = epoch - warmup if (warmup > 0 and optim_cfg.WARMUP_RECOUNT) else epoch
    name, max_epoch = optim_cfg.LR_SCHEDULER, optim_cfg.MAX_EPOCH
    if name == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * t / max_epoch))
    steps = optim_cfg.STEPSIZE
    if name == "single_step":
        step = steps[-1] if isinstance(steps, (list, tuple)) else steps
        step = max_epoch if step <= 0 else step
        return optim_cfg.GAMMA ** (t // step)
    return optim_cfg.GAMMA ** bisect.bisect_right(sorted(steps), t)


def build_lr_scheduler(optimizer, optim_cfg):
    """A per-epoch scheduler; `step()` after each epoch, as Dassl's trainer does."""
    if optim_cfg.LR_SCHEDULER not in SCHEDULERS:
        raise ConfigError(
            f"OPTIM.LR_SCHEDULER must be one of {SCHEDULERS}, got "
            f"'{optim_cfg.LR_SCHEDULER}'."
        )
    if optim_cfg.WARMUP_EPOCH > 0 and optim_cfg.WARMUP_TYPE not in WARMUP_TYPES:
        raise ConfigError(
            f"OPTIM.WARMUP_TYPE must be one of {WARMUP_TYPES}, got "
            f"'{optim_cfg.WARMUP_TYPE}'."
        )
    return LambdaLR(optimizer, lambda epoch: epoch_lr_factor(epoch, optim_cfg))
