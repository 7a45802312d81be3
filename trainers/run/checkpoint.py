"""Saving, finding and loading a trainer's weights.

Checkpoints also hold the RNG states, so a resumed run ends with the same
numbers as an uninterrupted one, and loading errors say where we looked.

Dassl saves each registered model under `<run dir>/<model name>/` as
`model.pth.tar-<epoch>` (and `model-best.pth.tar` for best-val runs). Its
`load_model` only tries one file and crashes on runs saved without a
validation result, so the project's trainers load through here. `--model-dir`
may be the run directory, a model's folder, or a checkpoint file.

A run may be killed at any moment (a preempted job, a dead node). Dassl's
`save_checkpoint` writes in place, so a kill during a save left a truncated
file that the next run died on. Here every file is written atomically
(files.atomic_write), under the names Dassl uses, with the same `checkpoint`
pointer file, so Dassl's own tools still find them; and resuming checks each
checkpoint before trusting it, setting aside one that does not load.
"""
import os
import os.path as osp
import pickle
import random
import re
import shutil
from collections import OrderedDict

import numpy as np
import torch

from user_errors import BadFileError, ConfigError, MissingFileError

from .checkpoint_digest import digest_path, verify, write_digest
from .files import atomic_write, stale_temporaries
from .os_errors import os_error_of_save

CKPT_PATTERN = re.compile(r"^model\.pth\.tar-(\d+)$")
# Dassl's file naming the model's last saved checkpoint (one line).
POINTER_FILE = "checkpoint"
BEST_FILE = "model-best.pth.tar"


def saved_epochs(folder: str):
    if not osp.isdir(folder):
        return []
    return sorted(int(m.group(1)) for f in os.listdir(folder)
                  if (m := CKPT_PATTERN.match(f)))


def checkpoints_found(model_dir: str) -> dict:
    """{folder: saved epochs} of `model_dir` and the models' folders inside
    it, and whether any holds Dassl's best-val file: what --eval-only can
    load, asked before any data is read (find_checkpoint names the file later)."""
    model_dir = osp.abspath(osp.expanduser(model_dir))
    folders = [model_dir] + [osp.join(model_dir, f) for f in sorted(os.listdir(model_dir))
                             if osp.isdir(osp.join(model_dir, f))]
    found = {f: epochs for f in folders if (epochs := saved_epochs(f))}
    best = any(osp.isfile(osp.join(f, BEST_FILE)) for f in folders)
    return found, best


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
        try:
            checkpoint = read_checkpoint(path)
        except pickle.UnpicklingError as err:  # the weights-only reader refused an object
            raise BadFileError(
                f"{path} holds more than weights ({refused_global(err)}); it was refused "
                "unread and its code was not run. Pass a checkpoint a train.py run saved "
                "(--model-dir <run dir>)") from err
        except Exception as err:  # torch and pickle raise many types on bad files
            raise BadFileError(
                f"{path} does not load ({first_line(err)}): it is truncated or damaged. "
                "Pass --load-epoch <an earlier epoch> (its saved epochs: "
                f"{saved_epochs(osp.dirname(path)) or 'none'}).") from err
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
        trainer.loaded_checkpoints = {**(getattr(trainer, "loaded_checkpoints", None) or {}),
                                      name: path}
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


def save_checkpoint(state: dict, folder: str, is_best=False, model_name="") -> str:
    """Dassl's save_checkpoint with every file written atomically: the
    checkpoint (`model_name`, default model.pth.tar-<epoch>), the `checkpoint`
    pointer naming it, and a copy as model-best.pth.tar when `is_best`."""
    # As Dassl: no DataParallel "module." prefix, so a bare model loads it.
    weights = OrderedDict((k.removeprefix("module."), v)
                          for k, v in state["state_dict"].items())
    path = osp.join(folder, model_name or f"model.pth.tar-{state['epoch']}")
    try:
        with atomic_write(path, "wb") as f:
            torch.save({**state, "state_dict": weights}, f)
    except RuntimeError as err:  # a failed write (disk full): the OSError, with the path
        cause = os_error_of_save(err, path)
        if cause is None:
            raise
        raise cause from err
    write_digest(path)
    print(f"Checkpoint saved to {path}")
    write_pointer(folder, osp.basename(path))
    if is_best:
        best = osp.join(folder, BEST_FILE)
        with atomic_write(best, "wb") as f, open(path, "rb") as source:
            shutil.copyfileobj(source, f)
        write_digest(best)
        print(f"Best checkpoint saved to {best}")
    return path


def write_pointer(folder: str, filename: str) -> None:
    """The `checkpoint` file as Dassl writes it: the last checkpoint's name."""
    with atomic_write(osp.join(folder, POINTER_FILE)) as f:
        f.write(f"{filename}\n")


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
            "loader_workers": loader_workers(trainer),
        }, osp.join(directory, name), is_best=is_best, model_name=model_name)


def loader_workers(trainer) -> list:
    """[[first epoch, DATALOADER.NUM_WORKERS], ...]: the loader's worker
    count over the run, one entry per change (a resume on a machine with
    fewer CPUs, where train.py lowers it)."""
    history = getattr(trainer, "loader_workers", None)
    if history:
        return [list(h) for h in history]
    cfg = getattr(trainer, "cfg", None)
    return [[1, cfg.DATALOADER.NUM_WORKERS]] if cfg is not None else None


def resumed_loader_workers(trainer, recorded, start_epoch: int) -> list:
    """The worker history after resuming at `start_epoch` (0-based): another
    count than the checkpoint's is kept and recorded, not replaced. Each
    worker draws its own augmentations, so the weights then equal neither
    uninterrupted run's; results.json says so (evaluation.run_record)."""
    cfg = getattr(trainer, "cfg", None)
    if cfg is None:
        return recorded
    now = cfg.DATALOADER.NUM_WORKERS
    history = [list(h) for h in recorded] if recorded else [[1, now]]
    if history[-1][1] != now:
        print(f"Note: the run trained with DATALOADER.NUM_WORKERS={history[-1][1]} and "
              f"resumes with {now} from epoch {start_epoch + 1}; results.json records "
              "the change (loader_workers)")
        history.append([start_epoch + 1, now])
    return history


def read_checkpoint(path: str) -> dict:
    """A checkpoint's content on the CPU (load_state_dict moves it to the
    model's device), once its recorded sha256 matches (checkpoint_digest.py)."""
    verify(path)
    checkpoint = safe_load(path)
    if not isinstance(checkpoint, dict) or not {"state_dict", "epoch"} <= set(checkpoint):
        raise ValueError("no state_dict or epoch in it")
    return checkpoint


def safe_load(path, map_location="cpu"):
    """torch.load that reads tensors and plain containers only, whatever the
    environment says (an explicit weights_only=True wins over
    TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD): a pickle with code is refused unrun."""
    return torch.load(path, map_location=map_location, weights_only=True)


def refused_global(err: Exception) -> str:
    """What torch's weights-only reader refused to build, as it names it."""
    match = re.search(r"GLOBAL ([\w.]*\w)", str(err))
    return f"it would call {match.group(1)}" if match else "objects a pickle would build"


def first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def load_or_set_aside(path: str):
    """The checkpoint at `path`, or None when it does not load (truncated,
    damaged): the file is then renamed to `<path>.corrupt`, which no checkpoint
    search matches, and named in one line."""
    try:
        checkpoint = read_checkpoint(path)
    except Exception as err:  # any failure to read it means: do not trust it
        aside = f"{path}.corrupt"
        os.replace(path, aside)
        if osp.isfile(digest_path(path)):
            os.replace(digest_path(path), digest_path(aside))
        print(f"Checkpoint {path} does not load ({first_line(err)}); moved it to {aside}")
        return None
    return checkpoint


def discard_temporaries(folders) -> None:
    """Remove what a killed run's unfinished atomic writes left behind."""
    for path in (p for folder in folders for p in stale_temporaries(folder)):
        os.remove(path)
        print(f"Removed {path}, an unfinished write of an interrupted run")


def newest_loadable(directory: str, names) -> tuple:
    """(epoch, {name: checkpoint}) of the newest epoch whose checkpoint loads
    for every model (a run killed while saving has it for some only), and
    whether a file was set aside; epoch 0 and {} when there is none."""
    epochs = set()
    for name in names:
        epochs.update(saved_epochs(osp.join(directory, name)))
    set_aside = False
    for epoch in sorted(epochs, reverse=True):
        loaded = {}
        for name in names:
            path = osp.join(directory, name, f"model.pth.tar-{epoch}")
            if not osp.isfile(path):
                print(f"Not resuming from epoch {epoch}: {name} has no checkpoint for it")
                break
            checkpoint = load_or_set_aside(path)
            if checkpoint is None:
                set_aside = True
                break
            loaded[name] = checkpoint
        if len(loaded) == len(names):
            return epoch, loaded, set_aside
    return 0, {}, set_aside


def resume_models(trainer, directory: str) -> int:
    """Load the newest checkpoint that loads for every model in `directory`;
    return the epoch to start from (0 when there is nothing to resume)."""
    names = trainer.get_model_names()
    if not names:
        return 0  # nothing trainable (zero-shot): nothing to resume
    discard_temporaries([trainer.output_dir, directory]
                        + [osp.join(directory, name) for name in names])
    epoch, loaded, set_aside = newest_loadable(directory, names)
    if not loaded:
        why = "no checkpoint loads" if set_aside else "no checkpoint"
        print(f"{why.capitalize()} in {directory}: training from scratch")
        return 0
    for name, checkpoint in loaded.items():
        trainer._models[name].load_state_dict(checkpoint["state_dict"])
        if trainer._optims[name] is not None and checkpoint.get("optimizer"):
            trainer._optims[name].load_state_dict(checkpoint["optimizer"])
        if trainer._scheds[name] is not None and checkpoint.get("scheduler"):
            trainer._scheds[name].load_state_dict(checkpoint["scheduler"])
        if set_aside:  # Dassl's tools follow the pointer: not to a file set aside
            write_pointer(osp.join(directory, name), f"model.pth.tar-{epoch}")
        print(f"Resuming {name} from {osp.join(directory, name, f'model.pth.tar-{epoch}')} "
              f"(epoch {checkpoint['epoch']})")
    state = checkpoint
    if state.get("rng_state"):
        set_rng_state(state["rng_state"])
    scaler = getattr(trainer, "scaler", None)
    if scaler is not None and state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    # What the evaluation reports as the epochs trained when no epoch is left to run.
    trainer.epoch = state["epoch"] - 1
    trainer.loader_workers = resumed_loader_workers(trainer, state.get("loader_workers"),
                                                    state["epoch"])
    return state["epoch"]
