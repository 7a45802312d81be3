"""The CLIP a run starts from: loaded by model name or checkpoint path.

OpenAI's CLIP by name or file here; "open_clip:ARCH:PRETRAINED" names are
open_clip_backbone.py's (`load_clip` hands them over).

Every trainer gets its backbone from `load_clip`, which tells a failed
download (DownloadError) from a bad file (BadFileError) and a wrong name
(ConfigError); `require_vit` and `freeze` are the checks and the freezing
every trainer applies. The guarded `import clip` lives here: the other CLIP
modules import `clip` and `CLIP` from this one, so that openai-clip's import
warning is silenced wherever the package is first imported.
"""
import os
import urllib.error
import warnings

import torch

from user_errors import BadFileError, ConfigError, DownloadError, MissingFileError

from .open_clip_backbone import is_open_clip_name, load_open_clip, parse_name
from .timm_towers import timm_trunk

try:
    with warnings.catch_warnings():
        # openai-clip imports pkg_resources, which setuptools flags as
        # deprecated on every import: nothing a user of this project can act on.
        warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
        import clip
        from clip.model import CLIP, VisionTransformer
except ImportError as err:  # pragma: no cover - import guard
    raise ImportError(
        "OpenAI CLIP is not installed. Install it with "
        "`pip install 'setuptools<81' openai-clip` (see README.md)."
    ) from err


# The per-channel pixel mean and std OpenAI's CLIP was trained with (its
# `clip.load` preprocessing); the configs' INPUT.PIXEL_MEAN / PIXEL_STD too.
CLIP_PIXEL_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_PIXEL_STD = (0.26862954, 0.26130258, 0.27577711)


def clip_cache_path(backbone: str, download_root: str = None):
    """Where clip.load keeps a model name's weights (None for a local file).

    clip names the file after its download URL (ViT-B/16 -> ViT-B-16.pt), not
    after the model name, so this is the path a user can check or fill.
    """
    url = clip.clip._MODELS.get(backbone)
    if url is None:
        return None
    root = download_root or os.path.expanduser("~/.cache/clip")
    return os.path.join(os.path.abspath(root), os.path.basename(url))


def check_backbone_name(backbone: str) -> str:
    """`backbone` (user expanded) when it is a CLIP model name or a file;
    else the error naming both choices (train.py asks before any data).
    open_clip names are checked by open_clip_backbone.py (setup_cfg)."""
    if is_open_clip_name(backbone):
        return backbone
    backbone = os.path.expanduser(backbone)
    looks_like_path = backbone.endswith((".pt", ".pth")) or backbone.startswith(
        (".", os.sep, "~"))
    if backbone not in clip.available_models() and not os.path.isfile(backbone):
        if looks_like_path:
            raise MissingFileError(
                f"CLIP checkpoint not found: {os.path.abspath(backbone)}. "
                "Set MODEL.BACKBONE.NAME to an existing OpenAI-format "
                "checkpoint file or to a model name such as ViT-B/16."
            )
        raise ConfigError(
            f"Unknown CLIP backbone '{backbone}' (and no file at "
            f"{os.path.abspath(backbone)}). Use one of {clip.available_models()} "
            "or the path of a local checkpoint."
        )
    return backbone


def load_clip(backbone: str, download_root: str = None, tokenizer: str = "") -> CLIP:
    """Load CLIP on the CPU in fp32, by model name or by checkpoint path.

    `backbone` is a name from `clip.available_models()` (downloaded by
    `clip.load` into `download_root`, default ~/.cache/clip), the path of a
    local checkpoint in OpenAI's format (a TorchScript archive), or an
    open_clip backbone, "open_clip:ARCH:PRETRAINED" (open_clip_backbone.py),
    whose `tokenizer` folder (MODEL.BACKBONE.TOKENIZER) replaces the hub's.
    """
    if is_open_clip_name(backbone):
        return load_open_clip(backbone, tokenizer=tokenizer)
    backbone = check_backbone_name(backbone)
    cache_path = clip_cache_path(backbone, download_root)
    try:
        with warnings.catch_warnings():  # torch flags TorchScript as deprecated
            warnings.simplefilter("ignore", FutureWarning)
            model, _ = clip.load(backbone, device="cpu", jit=False,
                                 download_root=download_root)
    except Exception as err:  # torch/pickle raise many types on bad files
        problem = f"{type(err).__name__}: {err}"
        # No file after the attempt, or urllib's error: the download failed,
        # which is not a bad file (clip.load only opens what it downloaded).
        if cache_path and (isinstance(err, urllib.error.URLError)
                           or not os.path.isfile(cache_path)):
            raise DownloadError(
                f"Could not download the CLIP weights for '{backbone}' to "
                f"{cache_path} ({problem}). Check the network connection; to "
                f"work offline, copy {os.path.basename(cache_path)} there from a "
                "machine that has it, or set MODEL.BACKBONE.NAME "
                f"/path/{os.path.basename(cache_path)}."
            ) from err
        raise BadFileError(
            f"Could not read the CLIP weights for '{backbone}' "
            f"({cache_path or os.path.abspath(backbone)}): {problem}. The file may "
            "be corrupt or truncated: delete it and download it again (clip.load "
            "does so for model names), or re-create the local checkpoint."
        ) from err
    return model.float().eval()


def backbone_in_repo(backbone: str, repo_path) -> str:
    """MODEL.BACKBONE.NAME with the paths in it passed through `repo_path`
    (the file of an OpenAI checkpoint, the JSON and weights of an open_clip one)."""
    if is_open_clip_name(backbone):
        return str(parse_name(backbone, repo_path))
    return repo_path(backbone)


def is_class_token_vit(visual) -> bool:
    """Whether `visual` is a ViT whose embedding is its class token: OpenAI's
    VisionTransformer, or open_clip's without attention or average pooling
    (told by its class, so that open_clip need not be installed)."""
    if isinstance(visual, VisionTransformer):
        return True
    return (type(visual).__name__ == "VisionTransformer"
            and type(visual).__module__.startswith("open_clip")
            and getattr(visual, "attn_pool", None) is None
            and getattr(visual, "pool_type", "tok") == "tok")


def require_vit(model: CLIP, backbone: str, trainer: str):
    """Vision prompts need a ViT image encoder (CLIP's anatomy, or a timm
    VisionTransformer / Eva in open_clip, timm_towers.py); fail clearly on a ResNet."""
    if not is_class_token_vit(model.visual) and timm_trunk(model.visual) is None:
        raise ConfigError(
            f"{trainer} needs a ViT CLIP image encoder (it inserts prompt "
            f"tokens into the vision transformer), but '{backbone}' is a "
            "ResNet CLIP. Set MODEL.BACKBONE.NAME to ViT-B/16, ViT-B/32 or "
            "ViT-L/14."
        )


def freeze(model: torch.nn.Module) -> torch.nn.Module:
    for param in model.parameters():
        param.requires_grad_(False)
    return model
