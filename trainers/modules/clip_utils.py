"""Loading, saving, encoding and scoring with an unmodified OpenAI CLIP.

Every trainer of the project gets its CLIP from here, so the checks on the
backbone, the way class texts and frozen images are encoded, CLIP's logits
and the zero-shot classifier live in one place.
"""
import os
import urllib.error
import warnings

import torch
import torch.nn as nn

from user_errors import BadFileError, ConfigError, DownloadError, MissingFileError

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

# OpenAI's ViT-B/16 hyper-parameters, a tiny CLIP of the same shape family
# for the tests, and the toy benchmark's CLIP (widths are multiples of 64 because
# clip.model.build_model derives the head count as width // 64).
ARCHITECTURES = {
    "ViT-B/16": dict(embed_dim=512, image_resolution=224, vision_layers=12,
                     vision_width=768, vision_patch_size=16, context_length=77,
                     vocab_size=49408, transformer_width=512,
                     transformer_heads=8, transformer_layers=12),
    # The tests' CLIP (random weights): small and fast, out of the regime.
    "tiny": dict(embed_dim=32, image_resolution=32, vision_layers=12,
                 vision_width=64, vision_patch_size=8, context_length=77,
                 vocab_size=49408, transformer_width=64,
                 transformer_heads=1, transformer_layers=2),
    # The demo's CLIP (assets/tiny_clip_toy.pt, tools/pretrain_tiny_clip.py),
    # in ViT-B/16's regime where it matters for prompts (tools/toy_regime.py):
    # 64 patches of 4 px, so 8 prompts are 11 % of a prompted block's tokens;
    # width 128 = 2 heads (OpenAI's CLIP gives a ViT width // 64 heads);
    # embedding 128; 9 blocks, the fewest that take prompt depth 9 (a training
    # step costs about 5x the tiny one's).
    # The text side stays narrow: its 49408-row token table is most of the file.
    "toy": dict(embed_dim=128, image_resolution=32, vision_layers=9,
                vision_width=128, vision_patch_size=4, context_length=77,
                vocab_size=49408, transformer_width=64,
                transformer_heads=1, transformer_layers=4),
}


def build_clip(arch: str = "tiny", **overrides) -> CLIP:
    """A CLIP with random weights: an architecture name plus overrides."""
    if arch not in ARCHITECTURES:
        raise ConfigError(f"Unknown architecture '{arch}'; use one of {list(ARCHITECTURES)}")
    return CLIP(**{**ARCHITECTURES[arch], **overrides}).float().eval()


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


def load_clip(backbone: str, download_root: str = None) -> CLIP:
    """Load CLIP on the CPU in fp32, by model name or by checkpoint path.

    `backbone` is a name from `clip.available_models()` (downloaded by
    `clip.load` into `download_root`, default ~/.cache/clip) or the path of a
    local checkpoint in OpenAI's format (a TorchScript archive).
    """
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


def require_vit(model: CLIP, backbone: str, trainer: str):
    """Vision prompts need a ViT image encoder; fail clearly on a ResNet."""
    if not isinstance(model.visual, VisionTransformer):
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


def normalize(features: torch.Tensor) -> torch.Tensor:
    """L2-normalised features in fp32, as CLIP's logits use them."""
    features = features.float()
    return features / features.norm(dim=-1, keepdim=True)


@torch.no_grad()
def frozen_image_features(model: CLIP, images: torch.Tensor) -> torch.Tensor:
    """L2-normalised embeddings of the stock (frozen) image encoder, in fp32.

    Without gradient: for the trainers that tune only the text side or a
    head on top, nothing upstream of these features is trained.
    """
    return normalize(model.encode_image(images))


class CosineLogits(nn.Module):
    """CLIP's class logits (Radford et al. 2021, Fig. 3):

        logits = exp(t) * normalize(image_emb) @ normalize(text_emb).T

    with t CLIP's learned log temperature, frozen here (`scale` = exp(t), an
    fp32 buffer). `forward` takes the normalised features [B, D] and [C, D].
    """

    def __init__(self, model: CLIP):
        super().__init__()
        self.register_buffer("scale", model.logit_scale.detach().exp().float())

    def forward(self, image_features: torch.Tensor, text_features: torch.Tensor) -> torch.Tensor:
        return self.scale * image_features @ text_features.t()


def tokenize_prompts(model: CLIP, texts):
    try:
        return clip.tokenize(texts, context_length=model.context_length)
    except RuntimeError as err:
        raise ConfigError(
            f"A class prompt is longer than the text encoder's context "
            f"({model.context_length} tokens): {err}"
        ) from err


def class_texts(classnames, template: str):
    """The template filled with every class name."""
    if "{}" not in template:
        raise ConfigError(
            f"TEXT_TEMPLATE must contain '{{}}' for the class name, got "
            f"'{template}'."
        )
    return [template.format(name) for name in classnames]


@torch.no_grad()
def encode_class_texts(model: CLIP, classnames, template: str,
                       batch_size: int = 256) -> torch.Tensor:
    """L2-normalised text features [num_classes, embed_dim] in fp32.

    Computed once per run: the paper's text side is the fixed template
    through the frozen text encoder, so nothing here depends on training.
    """
    tokens = tokenize_prompts(model, class_texts(classnames, template))
    device = model.token_embedding.weight.device
    return normalize(torch.cat([
        model.encode_text(tokens[i:i + batch_size].to(device))
        for i in range(0, len(tokens), batch_size)
    ]))


class ZeroshotClassifier(nn.Module):
    """Zero-shot CLIP: the frozen image encoder against the class texts of a
    fixed template ("a photo of a {}."), computed once.

    Plain PyTorch, so that the zero-shot trainer and the tools (the tiny
    CLIP's zero-shot table) score the same way.
    """

    def __init__(self, model: CLIP, classnames, template: str):
        super().__init__()
        self.clip = model
        self.register_buffer("text_features", encode_class_texts(model, classnames, template))
        self.logits = CosineLogits(model)

    @torch.no_grad()
    def logits_and_features(self, images: torch.Tensor):
        """(class logits [B, C], L2-normalised image embeddings [B, D]), both fp32."""
        image_features = frozen_image_features(self.clip, images)
        return self.logits(image_features, self.text_features), image_features

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.logits_and_features(images)[0]


def save_clip_archive(model: CLIP, path: str, image_size: int = None):
    """Save a CLIP in OpenAI's checkpoint format (a traced TorchScript archive).

    `clip.load(path)` reads such files; it cannot read a plain state dict
    (it does not rewind the file after the TorchScript attempt), so tiny
    models made by the project are saved this way too.
    """
    model = model.float().eval()
    res = image_size or model.visual.input_resolution
    images = torch.zeros(1, 3, res, res)
    texts = torch.zeros(1, model.context_length, dtype=torch.long)
    texts[0, :2] = torch.tensor([1, 2])
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        traced = torch.jit.trace(model, (images, texts), check_trace=False)
        tmp = f"{path}.tmp"
        torch.jit.save(traced, tmp)
    os.replace(tmp, path)
