"""open_clip backbones (LAION, DataComp, MetaCLIP, ...): `open_clip:ARCH:PRETRAINED`.

MODEL.BACKBONE.NAME "open_clip:ViT-B-16:laion2b_s34b_b88k" builds open_clip's
ViT-B-16 and loads the weights of that pretrained tag (downloaded by
open_clip into its cache); PRETRAINED may instead be a local weights file
(open_clip's state dict: .pt, .pth, .bin or .safetensors), and ARCH the path
of an open_clip model-config JSON file (registered with open_clip's own
`add_model_config`, its name the file's stem).

open_clip's CLIP has the anatomy of OpenAI's (visual.conv1 / class_embedding /
positional_embedding / ln_pre / transformer.resblocks / ln_post / proj, and
token_embedding, positional_embedding, transformer, ln_final, text_projection,
logit_scale on the text side), so the project's modules use the model as
open_clip builds it. What differs is read from the model where it is used:
whether blocks are batch-first (clip_layout.py) and the text causal mask,
passed to each block; the tokenizer is open_clip's for ARCH, attached here as
`model.tokenizer`. Supported: ViTs whose image embedding is the class token
and whose text tower is CLIP's transformer (`unsupported_reason`); the rest
(RN50, ConvNeXt and other timm towers, CoCa, attention or average pooling,
Hugging Face text towers) is refused in one line before any data is built.

open_clip is imported only for open_clip backbones, so that the OpenAI path
does not depend on it.
"""
import contextlib
import logging
import os
from typing import NamedTuple, Optional

from user_errors import BadFileError, ConfigError, DownloadError, MissingFileError

PREFIX = "open_clip:"
WEIGHT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors")
SUPPORTED = ("open_clip ViTs with a class token and CLIP's text transformer, such as "
             "ViT-B-32, ViT-B-16, ViT-L-14, ViT-H-14 (and their -quickgelu variants)")
INSTALL = "pip install open-clip-torch==3.3.0 (see requirements.txt)"


class OpenCLIPName(NamedTuple):
    arch: str        # an open_clip model name, or the path of a model-config JSON
    pretrained: str  # a pretrained tag of ARCH, or the path of a weights file

    @property
    def arch_is_file(self) -> bool:
        return self.arch.endswith(".json")

    @property
    def pretrained_is_path(self) -> bool:
        return self.pretrained.endswith(WEIGHT_SUFFIXES) or self.pretrained.startswith(
            (".", os.sep, "~"))

    def __str__(self):
        return f"{PREFIX}{self.arch}:{self.pretrained}"


def is_open_clip_name(backbone) -> bool:
    return str(backbone).startswith(PREFIX)


def parse_name(backbone: str, resolve_path=os.path.expanduser) -> OpenCLIPName:
    """"open_clip:ARCH:PRETRAINED" -> OpenCLIPName; `resolve_path` maps the
    paths in it (a JSON config, a weights file) to files."""
    arch, _, pretrained = backbone[len(PREFIX):].partition(":")
    if not arch or not pretrained:
        raise ConfigError(
            f"MODEL.BACKBONE.NAME '{backbone}': an open_clip backbone is "
            "open_clip:ARCH:PRETRAINED, e.g. open_clip:ViT-B-16:laion2b_s34b_b88k or "
            "open_clip:ViT-B-32:/path/weights.safetensors.")
    name = OpenCLIPName(arch, pretrained)
    return OpenCLIPName(resolve_path(arch) if name.arch_is_file else arch,
                        resolve_path(pretrained) if name.pretrained_is_path else pretrained)


def import_open_clip():
    try:
        import open_clip
    except ImportError as err:
        raise ConfigError(f"open_clip backbones need the open_clip package: {INSTALL}.") from err
    return open_clip


def model_name(name: OpenCLIPName) -> str:
    """The name open_clip knows ARCH by (a JSON config registered under its stem)."""
    open_clip = import_open_clip()
    if not name.arch_is_file:
        return name.arch
    if not os.path.isfile(name.arch):
        raise MissingFileError(f"open_clip model config not found: {os.path.abspath(name.arch)}")
    open_clip.add_model_config(name.arch)
    stem = os.path.splitext(os.path.basename(name.arch))[0]
    if stem not in open_clip.list_models():
        raise ConfigError(f"{name.arch} is not an open_clip model config (it needs "
                          "embed_dim, vision_cfg and text_cfg).")
    return stem


def model_config(name: OpenCLIPName) -> dict:
    """open_clip's config of ARCH (embed_dim, vision_cfg, text_cfg)."""
    open_clip = import_open_clip()
    arch = model_name(name)
    config = open_clip.get_model_config(arch)
    if config is None:
        vits = [m for m in open_clip.list_models() if m.startswith("ViT-")][:6]
        raise ConfigError(f"open_clip has no model '{arch}'; use a name from "
                          f"open_clip.list_models() such as {', '.join(vits)}, or the path of "
                          "a model-config JSON file.")
    return config


def unsupported_reason(config: dict) -> Optional[str]:
    """Why the project cannot prompt or score an open_clip config (None: it can)."""
    vision, text = config.get("vision_cfg", {}), config.get("text_cfg", {})
    if "timm_model_name" in vision:
        return f"its image tower is the timm model {vision['timm_model_name']} (not a CLIP ViT)"
    if isinstance(vision.get("layers"), (list, tuple)):
        return "its image tower is a ResNet"
    if vision.get("attentional_pool"):
        return "its ViT pools by attention (no class token)"
    if vision.get("pool_type", "tok") != "tok":
        return f"its ViT pools by '{vision['pool_type']}' (not the class token)"
    if "hf_model_name" in text or config.get("custom_text"):
        return "its text tower is not CLIP's text transformer"
    if text.get("pool_type", "argmax") != "argmax" or text.get("proj_bias"):
        return "its text tower pools or projects differently from CLIP's"
    return None


def check_config(name: OpenCLIPName, config: dict, image_size=None):
    """ConfigError for an architecture the project does not support, or an
    INPUT.SIZE other than the model's."""
    reason = unsupported_reason(config)
    if reason:
        raise ConfigError(f"open_clip backbone '{name}': {reason}; supported are {SUPPORTED}.")
    size = config["vision_cfg"].get("image_size", 224)
    sizes = tuple(size) if isinstance(size, (list, tuple)) else (size, size)
    if image_size is not None and tuple(image_size) != sizes:
        raise ConfigError(f"open_clip backbone '{name}' takes {sizes[0]}x{sizes[1]} images, "
                          f"but INPUT.SIZE is {tuple(image_size)}: set INPUT.SIZE "
                          f"\"({sizes[0]}, {sizes[1]})\".")


def check_pretrained(name: OpenCLIPName, arch: str) -> dict:
    """open_clip's pretrained config of a tag ({} for a file); errors for neither."""
    open_clip = import_open_clip()
    if name.pretrained_is_path or os.path.isfile(name.pretrained):
        if not os.path.isfile(name.pretrained):
            raise MissingFileError(
                f"open_clip weights not found: {os.path.abspath(name.pretrained)}. Set "
                "MODEL.BACKBONE.NAME open_clip:ARCH:FILE to an existing weights file "
                "(open_clip's state dict) or to a pretrained tag.")
        return {}
    tag_cfg = open_clip.get_pretrained_cfg(arch, name.pretrained)
    if not tag_cfg:
        tags = open_clip.list_pretrained_tags_by_model(arch)
        raise ConfigError(
            f"open_clip has no pretrained tag '{name.pretrained}' for {arch} (and no file at "
            f"{os.path.abspath(name.pretrained)}); its tags: {', '.join(tags) or 'none'}.")
    return tag_cfg


def preprocess_mean_std(name: OpenCLIPName):
    """The pixel (mean, std) the model was trained with, from open_clip's
    preprocess config: the tag's, else open_clip's defaults (OpenAI's)."""
    import_open_clip()
    from open_clip.transform import PreprocessCfg, merge_preprocess_dict
    tag_cfg = check_pretrained(name, model_name(name))
    preprocess = merge_preprocess_dict(PreprocessCfg(), tag_cfg)
    return tuple(preprocess["mean"]), tuple(preprocess["std"])


@contextlib.contextmanager
def quiet_open_clip_errors():
    """open_clip logs a failed download with `logging.error` (an `ERROR:root:`
    line) and then raises the same text, which becomes our one line: drop
    the logged copy while it builds a model."""
    def from_open_clip(record):
        return f"{os.sep}open_clip{os.sep}" not in record.pathname
    root = logging.getLogger()
    root.addFilter(from_open_clip)
    try:
        yield
    finally:
        root.removeFilter(from_open_clip)


def load_open_clip(backbone: str, cache_dir: str = None):
    """The open_clip CLIP of "open_clip:ARCH:PRETRAINED" on the CPU in fp32, eval
    mode, its tokenizer as `.tokenizer`."""
    open_clip = import_open_clip()
    name = parse_name(backbone)
    config = model_config(name)
    check_config(name, config)
    arch = model_name(name)
    tag_cfg = check_pretrained(name, arch)
    try:
        with quiet_open_clip_errors():
            model = open_clip.create_model(arch, pretrained=name.pretrained, device="cpu",
                                           cache_dir=cache_dir)
    except Exception as err:  # open_clip wraps download errors in RuntimeError
        problem = f"{type(err).__name__}: {err}"
        if tag_cfg:
            raise DownloadError(
                f"Could not download the open_clip weights of {arch}:{name.pretrained} "
                f"({problem}). Check the network connection; to work offline, copy the "
                "weights file (open_clip_pytorch_model.bin or .safetensors) from a machine "
                f"that has it and set MODEL.BACKBONE.NAME open_clip:{name.arch}:/path/FILE."
            ) from err
        raise BadFileError(
            f"Could not read the open_clip weights {os.path.abspath(name.pretrained)} into "
            f"{arch} ({problem}). The file may be corrupt, truncated or of another "
            "architecture: re-create it, or name the ARCH it was saved from.") from err
    model.tokenizer = open_clip.get_tokenizer(arch)
    return model.float().eval()


def random_open_clip(arch: str, **overrides):
    """An open_clip CLIP with random weights (tests, benchmark), its tokenizer
    attached as `load_open_clip` does; `overrides` go to open_clip.create_model
    (e.g. force_image_size)."""
    open_clip = import_open_clip()
    arch = model_name(OpenCLIPName(arch, "none"))
    model = open_clip.create_model(arch, pretrained=None, device="cpu", **overrides)
    model.tokenizer = open_clip.get_tokenizer(arch)
    return model.float().eval()
