"""Saving, finding and loading a trainer's weights.

Checkpoints also hold the RNG states, so a resumed run ends with the same
numbers as an uninterrupted one, and loading errors say where we looked.

Dassl saves each registered model under `<run dir>/<model name>/` as
`model.pth.tar-<epoch>` (and `model-best.pth.tar` for best-val runs). Its
`load_model` only tries one file and crashes on runs saved without a
validation result, so the project's trainers load through here. `--model-dir`
may be the run directory, a model's folder, or a checkpoint file.
"""
import os
import os.path as osp
import random
import re

import numpy as np
import torch
from dassl.utils import load_checkpoint, save_checkpoint

from user_errors import BadFileError, ConfigError, MissingFileError

CKPT_PATTERN = re.compile(r"^model\.pth\.tar-(\d+)$")


def saved_epochs(folder: str):
    if not osp.isdir(folder):
        return []
    return sorted(int(m.group(1)) for f in os.listdir(folder)
                  if (m := CKPT_PATTERN.match(f)))


def find_checkpoint(model_dir: str, name: str, epoch=None) -> str:
    """Path of model `name`'s checkpoint for `epoch` (default: the last saved)."""
    model_dir = osp.abspath(osp.expanduser(model_dir))
    if osp.isfile(model_dir):
        return model_dir
    folders = [osp.join(model_dir, name), model_dir]
    searched = []
    for folder in folders:
        epochs = saved_epochs(folder)
        if epoch is None:
            if epochs:
                return osp.join(folder, f"model.pth.tar-{epochs[-1]}")
            searched.append(osp.join(folder, "model.pth.tar-*"))
        candidates = [f"model.pth.tar-{epoch}"] if epoch is not None else ["model-best.pth.tar"]
        for fname in candidates:
            path = osp.join(folder, fname)
            searched.append(path)
            if osp.isfile(path):
                return path
    found = {f: epochs for f in folders if (epochs := saved_epochs(f))}
    epochs_msg = "; ".join(f"{f}: epochs {e}" for f, e in found.items()) or "none"
    # Without an epoch: the last model.pth.tar-N, else Dassl's best-val model.
    wanted = (f"epoch {epoch}" if epoch is not None else
              "the last epoch (model.pth.tar-N) or model-best.pth.tar")
    raise MissingFileError(
        f"No saved weights of '{name}' for {wanted} under {model_dir}. Searched: "
        f"{', '.join(searched)}. Checkpoints found: {epochs_msg}. "
        "Pass --model-dir <run dir> (the training run's --output-dir) and "
        "--load-epoch <one of the epochs found>."
    )


def load_models(trainer, model_dir: str, epoch=None):
    """Load every registered model of `trainer`; strict, with a clear mismatch error."""
    if not model_dir:
        raise ConfigError("No model directory given: pass --model-dir <run dir>.")
    for name in trainer.get_model_names():
        path = find_checkpoint(model_dir, name, epoch)
        checkpoint = load_checkpoint(path)
        state = checkpoint["state_dict"]
        module = trainer._models[name]
        own = set(module.state_dict())
        if set(state) != own:
            raise BadFileError(
                f"{path} does not match this model: missing {sorted(own - set(state))[:5]}, "
                f"unexpected {sorted(set(state) - own)[:5]}. Was it trained with a "
                "different config (e.g. INSTAPG, DDL, PROMPT_DEPTH_VISION)? Use "
                "the run's own config file."
            )
        module.load_state_dict(state)
        trainer.loaded_epoch = checkpoint.get("epoch")
        print(f"Loaded {path} into {name} (epoch {trainer.loaded_epoch})")


def rng_state() -> dict:
    """Every random generator a training epoch draws from (weights_only-safe)."""
    np_state = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": (np_state[0], torch.from_numpy(np_state[1].copy()), *np_state[2:]),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy(), *rest))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_models(trainer, epoch: int, directory: str, is_best=False, val_result=None,
                model_name=""):
    """Dassl's save_model, plus the RNG states (and amp's loss scale) so that
    a resumed run continues exactly where the interrupted one stopped."""
    scaler = getattr(trainer, "scaler", None)
    for name in trainer.get_model_names():
        optim, sched = trainer._optims[name], trainer._scheds[name]
        save_checkpoint({
            "state_dict": trainer._models[name].state_dict(),
            "epoch": epoch + 1,
            "optimizer": optim.state_dict() if optim is not None else None,
            "scheduler": sched.state_dict() if sched is not None else None,
            "val_result": val_result,
            "rng_state": rng_state(),
            "scaler": scaler.state_dict() if scaler is not None else None,
        }, osp.join(directory, name), is_best=is_best, model_name=model_name)


def resume_models(trainer, directory: str) -> int:
    """Load the latest checkpoint of every model in `directory` if all exist;
    return the epoch to start from (0 when there is nothing to resume)."""
    names = trainer.get_model_names()
    if not names:
        return 0  # nothing trainable (zero-shot): nothing to resume
    latest = {}
    for name in names:
        epochs = saved_epochs(osp.join(directory, name))
        if not epochs:
            if latest or any(saved_epochs(osp.join(directory, n)) for n in names):
                raise MissingFileError(
                    f"Cannot resume from {directory}: model '{name}' has no checkpoint "
                    "while others do. Remove the folder or point --resume elsewhere.")
            print(f"No checkpoint in {directory}: training from scratch")
            return 0
        latest[name] = osp.join(directory, name, f"model.pth.tar-{epochs[-1]}")
    start_epoch, state = 0, None
    for name, path in latest.items():
        checkpoint = load_checkpoint(path)
        trainer._models[name].load_state_dict(checkpoint["state_dict"])
        if trainer._optims[name] is not None and checkpoint.get("optimizer"):
            trainer._optims[name].load_state_dict(checkpoint["optimizer"])
        if trainer._scheds[name] is not None and checkpoint.get("scheduler"):
            trainer._scheds[name].load_state_dict(checkpoint["scheduler"])
        start_epoch, state = checkpoint["epoch"], checkpoint
        print(f"Resuming {name} from {path} (epoch {start_epoch})")
    if state.get("rng_state"):
        set_rng_state(state["rng_state"])
    scaler = getattr(trainer, "scaler", None)
    if scaler is not None and state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    return start_epoch
