"""OpenAI CLIP's private loading calls, as the CoOp-family trainer files make them.

CoOp's `load_clip_to_cpu` (and CoCoOp's, and many copies) does

    url = clip._MODELS[cfg.MODEL.BACKBONE.NAME]
    model_path = clip._download(url)

against the clip package of CoOp's repository, whose `_download` has a
default root. openai-clip from PyPI requires the root, and `_MODELS` knows
model names only, while this project's offline convention is a checkpoint
path in MODEL.BACKBONE.NAME. `install_clip_fixes` (called by
trainers.register_trainers, at train.py's start) wraps the installed package
in place, without copying it:

- `clip.clip._MODELS[path]` of an existing local file is that path (names
  still give their URL; `in`, `get` and `available_models()` are unchanged);
- `clip.clip._download(url)` downloads into clip's usual cache,
  ~/.cache/clip, when no root is given, and returns a local file's path as is.
"""
import functools
import os

from .clip_loading import clip

DEFAULT_ROOT = "~/.cache/clip"
# The package's own `_download(url, root)`, which the wrapper calls.
original_download = None


class ModelsOrLocalFiles(dict):
    """clip's name -> URL table that also maps a local checkpoint to itself."""

    def __missing__(self, key):
        path = os.path.expanduser(key) if isinstance(key, str) else key
        if isinstance(path, str) and os.path.isfile(path):
            return path
        raise KeyError(key)


def install_clip_fixes() -> None:
    """Wrap clip.clip's `_MODELS` and `_download` once (idempotent)."""
    module = clip.clip
    if not isinstance(module._MODELS, ModelsOrLocalFiles):
        module._MODELS = ModelsOrLocalFiles(module._MODELS)
    global original_download
    if getattr(module._download, "adu_wrapped", False):
        return
    original_download = module._download

    @functools.wraps(original_download)
    def _download(url, root=None):
        if os.path.isfile(os.path.expanduser(url)):
            return os.path.expanduser(url)
        return original_download(url, os.path.expanduser(root or DEFAULT_ROOT))

    _download.adu_wrapped = True
    module._download = _download
