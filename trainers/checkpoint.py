"""Finding and loading a trainer's saved weights, with errors that say where we looked.

Dassl saves each registered model under `<run dir>/<model name>/` as
`model.pth.tar-<epoch>` (and `model-best.pth.tar` for best-val runs). Its
`load_model` only tries one file and crashes on runs saved without a
validation result, so the project's trainers load through here. `--model-dir`
may be the run directory, a model's folder, or a checkpoint file.
"""
import os
import os.path as osp
import re

from dassl.utils import load_checkpoint

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
        if epoch is None and epochs:
            return osp.join(folder, f"model.pth.tar-{epochs[-1]}")
        candidates = [f"model.pth.tar-{epoch}"] if epoch is not None else ["model-best.pth.tar"]
        for fname in candidates:
            path = osp.join(folder, fname)
            searched.append(path)
            if osp.isfile(path):
                return path
    found = {f: saved_epochs(f) for f in folders if saved_epochs(f)}
    epochs_msg = "; ".join(f"{f}: epochs {e}" for f, e in found.items()) or "none"
    raise FileNotFoundError(
        f"No saved weights of '{name}' for epoch "
        f"{'(last)' if epoch is None else epoch} under {model_dir}. Searched: "
        f"{', '.join(searched) or ', '.join(folders)}. Checkpoints found: {epochs_msg}. "
        "Pass --model-dir <run dir> (the training run's --output-dir) and "
        "--load-epoch <one of the epochs found>."
    )


def load_models(trainer, model_dir: str, epoch=None):
    """Load every registered model of `trainer`; strict, with a clear mismatch error."""
    if not model_dir:
        raise ValueError("No model directory given: pass --model-dir <run dir>.")
    for name in trainer.get_model_names():
        path = find_checkpoint(model_dir, name, epoch)
        checkpoint = load_checkpoint(path)
        state = checkpoint["state_dict"]
        module = trainer._models[name]
        own = set(module.state_dict())
        if set(state) != own:
            raise RuntimeError(
                f"{path} does not match this model: missing {sorted(own - set(state))[:5]}, "
                f"unexpected {sorted(set(state) - own)[:5]}. Was it trained with a "
                "different config (e.g. INSTAPG, DDL, PROMPT_DEPTH_VISION)? Use "
                "the run's own config file."
            )
        module.load_state_dict(state)
        print(f"Loaded {path} into {name} (epoch {checkpoint.get('epoch')})")
