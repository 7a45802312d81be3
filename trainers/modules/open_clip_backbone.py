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
and whose text tower is CLIP's transformer, and the timm image towers of
timm_towers.py (SigLIP / SigLIP 2, EVA-02, PE-Core: timm's VisionTransformer
and Eva, with open_clip's own text tower) for the trainers that read the text
tower only through `encode_text` (`unsupported_reason`); the rest (RN50,
ConvNeXt and other timm towers, CoCa, attention or average pooling in
open_clip's ViT, Hugging Face text towers) is refused in one line before any
data is built. A tokenizer that open_clip takes from the Hugging Face hub at
run time (SigLIP's) is read instead from a local folder,
MODEL.BACKBONE.TOKENIZER (`check_tokenizer`, `make_tokenizer`).

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
             "ViT-B-32, ViT-B-16, ViT-L-14, ViT-H-14 (and their -quickgelu variants), and "
             "the timm VisionTransformer / Eva towers of SigLIP, SigLIP 2, EVA-02 and PE-Core")
INSTALL = "pip install open-clip-torch==3.3.0 (see requirements.txt)"
# The trainers that read the text tower only through encode_text: the ones a
# timm-tower model (open_clip's separate text tower) runs.
TEXT_ENCODER_TRAINERS = ("ADU (without the release's learned text prompts and "
                         "PROMPTS_BEFORE_LN_PRE), ZeroshotCLIP, LPPlusPlusADU, CLIPFitADU")



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


def timm_trunk_on_meta(vision: dict):
    """The timm model of a timm tower's config, built on the meta device (no
    memory, no weights), so that its class and layout are known before any data."""
    import timm
    import torch
    name = vision["timm_model_name"]
    try:
        with torch.device("meta"):
            return timm.create_model(name, pretrained=False, num_classes=0)
    except Exception as err:  # timm raises RuntimeError / FileNotFoundError / ValueError
        raise ConfigError(f"timm cannot build the image tower '{name}' of this open_clip "
                          f"config ({type(err).__name__}: {err}).") from err


def timm_tower_reason(vision: dict) -> Optional[str]:
    """Why the prompted encoder cannot run a timm image tower (None: it can)."""
    from .timm_towers import TRUNK_CLASSES, trunk_problem  # torch: not for train.py's parser
    name = vision["timm_model_name"]
    if vision.get("timm_pool") in ("abs_attn", "rot_attn"):
        return f"its timm image tower {name} is pooled by open_clip's 2-D attention pool"
    if vision.get("patch_dropout", 0):
        return f"its timm image tower {name} drops patches (patch_dropout)"
    trunk = timm_trunk_on_meta(vision)
    cls = type(trunk)
    if TRUNK_CLASSES.get(cls.__name__) != cls.__module__:
        return (f"its image tower is the timm model {name} ({cls.__name__}, not a timm "
                "VisionTransformer or Eva)")
    problem = trunk_problem(trunk)
    return f"its timm image tower {name}: {problem}" if problem else None


def has_timm_tower(config: dict) -> bool:
    """Whether the config's image tower is built by timm (open_clip's TimmModel)."""
    return "timm_model_name" in config.get("vision_cfg", {})


def unsupported_reason(config: dict) -> Optional[str]:
    """Why the project cannot prompt or score an open_clip config (None: it can)."""
    vision, text = config.get("vision_cfg", {}), config.get("text_cfg", {})
    if has_timm_tower(config):
        if "hf_model_name" in text:
            return "its text tower is a Hugging Face model, not open_clip's text transformer"
        return timm_tower_reason(vision)
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
    vision = config["vision_cfg"]
    size = vision.get("image_size", 224)
    if "timm_model_name" in vision:  # the timm model's own size (open_clip does not pass it)
        size = tuple(timm_trunk_on_meta(vision).patch_embed.img_size)
    sizes = tuple(size) if isinstance(size, (list, tuple)) else (size, size)
    if image_size is not None and tuple(image_size) != sizes:
        raise ConfigError(f"open_clip backbone '{name}' takes {sizes[0]}x{sizes[1]} images, "
                          f"but INPUT.SIZE is {tuple(image_size)}: set INPUT.SIZE "
                          f"\"({sizes[0]}, {sizes[1]})\".")


def check_trainer(name: OpenCLIPName, config: dict, trainer: str, refusal: Optional[str]):
    """ConfigError when `trainer` cannot run on a timm-tower model: `refusal`
    is the trainer's reason (its `timm_tower_refusal`), None when it can."""
    if has_timm_tower(config) and refusal:
        raise ConfigError(f"{trainer} cannot run on open_clip backbone '{name}' (a timm image "
                          f"tower with open_clip's separate text tower): {refusal}; these "
                          f"models run {TEXT_ENCODER_TRAINERS}.")


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


def hub_tokenizer(config: dict, arch: str) -> str:
    """What tokenizer open_clip would fetch over the network at run time for
    this config ("" when open_clip's tokenizer is built in): the Hugging Face
    hub name in its text config, or SigLIP's sentencepiece vocabulary, which
    open_clip takes for an architecture named *siglip* without one."""
    name = config.get("text_cfg", {}).get("hf_tokenizer_name", "")
    if not name and "siglip" in os.path.basename(arch).lower():
        return "SigLIP's sentencepiece vocabulary"
    return name


def check_tokenizer(name: OpenCLIPName, config: dict, tokenizer: str = ""):
    """MODEL.BACKBONE.TOKENIZER checked before any data: a hub tokenizer needs
    a local folder; a given folder must exist, and transformers read it."""
    hub = hub_tokenizer(config, name.arch)
    if not tokenizer and not hub:
        return
    if not tokenizer:
        raise ConfigError(
            f"open_clip backbone '{name}' fetches its tokenizer ({hub}) over the network "
            "at run time; to work offline, save the model's Hugging Face tokenizer files "
            "in a folder once (e.g. hf download timm/ViT-B-16-SigLIP2 --local-dir DIR) "
            "and set MODEL.BACKBONE.TOKENIZER DIR.")
    if not os.path.isdir(tokenizer):
        raise MissingFileError(
            f"tokenizer folder not found: {os.path.abspath(tokenizer)}. Set "
            "MODEL.BACKBONE.TOKENIZER to a folder with the model's Hugging Face tokenizer "
            f"files (tokenizer.json, tokenizer_config.json{', of ' + hub if hub else ''}).")
    try:
        import transformers  # noqa: F401  open_clip's HFTokenizer reads the folder with it
    except ImportError as err:
        raise ConfigError("MODEL.BACKBONE.TOKENIZER is read by open_clip's HFTokenizer, "
                          "which needs transformers: pip install transformers.") from err


def make_tokenizer(arch: str, config: dict, tokenizer: str = ""):
    """open_clip's tokenizer of `arch`, from the local folder `tokenizer` when
    one is given (open_clip's HFTokenizer, with the config's context length
    and tokenizer options), else open_clip's own for the architecture."""
    open_clip = import_open_clip()
    if not tokenizer:
        return open_clip.get_tokenizer(arch)
    from open_clip.tokenizer import HFTokenizer
    text = config.get("text_cfg", {})
    return HFTokenizer(tokenizer, context_length=text.get("context_length", 77),
                       tokenizer_mode=text.get("tokenizer_mode"),
                       **text.get("tokenizer_kwargs", {}))


def load_open_clip(backbone: str, cache_dir: str = None, tokenizer: str = ""):
    """The open_clip CLIP of "open_clip:ARCH:PRETRAINED" on the CPU in fp32, eval
    mode, its tokenizer as `.tokenizer` (from the folder `tokenizer` if given)."""
    open_clip = import_open_clip()
    name = parse_name(backbone)
    config = model_config(name)
    check_config(name, config)
    check_tokenizer(name, config, tokenizer)
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
    model.tokenizer = make_tokenizer(arch, config, tokenizer)
    return model.float().eval()


def random_open_clip(arch: str, tokenizer: str = "", **overrides):
    """An open_clip CLIP with random weights (tests, benchmark), its tokenizer
    attached as `load_open_clip` does; `overrides` go to open_clip.create_model
    (e.g. force_image_size). Random weights give a tokenizer nothing to mean:
    an architecture whose tokenizer is on the hub (SigLIP) gets open_clip's
    built-in SimpleTokenizer when no folder is given and its vocabulary holds
    SimpleTokenizer's ids."""
    open_clip = import_open_clip()
    name = OpenCLIPName(arch, "none")
    config = model_config(name)
    arch = model_name(name)
    model = open_clip.create_model(arch, pretrained=None, device="cpu", **overrides)
    text = config.get("text_cfg", {})
    if hub_tokenizer(config, arch) and not tokenizer:
        simple = open_clip.tokenizer.SimpleTokenizer(context_length=text.get("context_length", 77))
        if text.get("vocab_size", 0) < simple.vocab_size:
            raise ConfigError(f"{arch}'s vocabulary is smaller than SimpleTokenizer's: "
                              "give a tokenizer folder (random_open_clip(..., tokenizer=DIR)).")
        model.tokenizer = simple
    else:
        model.tokenizer = make_tokenizer(arch, config, tokenizer)
    return model.float().eval()
