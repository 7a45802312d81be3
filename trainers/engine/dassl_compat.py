"""Dassl's warm-up schedulers on current torch, for every trainer file.

Dassl's `_BaseWarmupScheduler` (dassl/optim/lr_scheduler.py), behind
`dassl.optim.build_lr_scheduler` with `OPTIM.WARMUP_EPOCH > 0`, fails twice
on current torch:

- its constructor passes `verbose` to torch's `LRScheduler.__init__`, which
  torch 2.7 and later no longer take (a TypeError at build time);
- its `state_dict` holds the successor scheduler as an object (with its
  optimizer), which `torch.load`'s weights-only default (torch 2.6 on)
  refuses, so Dassl's `load_checkpoint` could not read its own checkpoints
  (`--eval-only`, `--resume` of a CoOp-family file).

Dassl's `load_checkpoint` (behind its `load_model`, `resume_model_if_exist`
and the CoOp-family files' own `load_model`) calls `torch.load` without
`weights_only`, so TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 in a user's environment
would run the code of a pickle given as --model-dir: it is replaced by the
project's loader (run/checkpoint.safe_load, weights only, on the CPU when
there is no GPU as Dassl's).

`install_dassl_fixes` (called by trainers.register_trainers, so at train.py's
start) replaces that class's constructor (same attributes, `verbose` only
where torch takes it) and its state_dict / load_state_dict (the successor
saved as its own state_dict; an old checkpoint holding the object still
loads). The schedule is unchanged: a test compares its learning rates with
trainers/engine/lr_scheduler.py's.
"""
import inspect

from torch.optim.lr_scheduler import _LRScheduler


def torch_takes_verbose() -> bool:
    return "verbose" in inspect.signature(_LRScheduler.__init__).parameters


def safe_load_checkpoint(fpath):
    """Dassl's load_checkpoint, reading weights only."""
    import os.path as osp

    import torch

    from ..run.checkpoint import safe_load
    if fpath is None:
        raise ValueError("File path is None")
    if not osp.exists(fpath):
        raise FileNotFoundError(f'File is not found at "{fpath}"')
    return safe_load(fpath, None if torch.cuda.is_available() else "cpu")


def install_safe_loading() -> None:
    """Every name Dassl's `load_checkpoint` is reached by, weights only."""
    import dassl.engine.trainer as dassl_trainer
    import dassl.utils as dassl_utils
    import dassl.utils.torchtools as torchtools
    for module in (dassl_utils, torchtools, dassl_trainer):
        module.load_checkpoint = safe_load_checkpoint


def install_dassl_fixes() -> None:
    """Patch Dassl's warm-up scheduler base class and its checkpoint loading
    once (idempotent)."""
    install_safe_loading()
    from dassl.optim import lr_scheduler as dassl_sched
    base = dassl_sched._BaseWarmupScheduler
    if getattr(base, "adu_fixed", False):
        return
    takes_verbose = torch_takes_verbose()

    def __init__(self, optimizer, successor, warmup_epoch, last_epoch=-1, verbose=False):
        self.successor = successor
        self.warmup_epoch = warmup_epoch
        if takes_verbose:
            _LRScheduler.__init__(self, optimizer, last_epoch, verbose)
        else:
            _LRScheduler.__init__(self, optimizer, last_epoch)

    def state_dict(self):
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "successor")}
        state["successor"] = self.successor.state_dict()
        return state

    def load_state_dict(self, state_dict):
        state = dict(state_dict)
        successor = state.pop("successor", None)
        self.__dict__.update(state)
        if isinstance(successor, dict):
            self.successor.load_state_dict(successor)
        elif successor is not None:  # a checkpoint saved before the fix
            self.successor = successor

    base.__init__ = __init__
    base.state_dict = state_dict
    base.load_state_dict = load_state_dict
    base.adu_fixed = True
