"""The models and the batch a benchmark times: a frozen CLIP with random
weights and the ADU configurations that wrap it."""
import torch

from trainers.engine.precision import cast_clip
from trainers.modules.adu_model import ADUCLIP
from trainers.modules import open_clip_backbone as oc
from trainers.modules.clip_loading import freeze
from trainers.modules.losses import ADUObjective
from trainers.modules.tiny_clip import ARCHITECTURES, build_clip

NUM_DOMAINS = 4  # Office-Home's, for the training batches
LOSSES = {"baseline": ADUObjective(ddl=False), "adu": ADUObjective(),
          "adu_ckpt": ADUObjective()}


# open_clip architectures whose shapes an OpenAI CLIP of tiny_clip.ARCHITECTURES
# has: with --backbone open_clip:ARCH the ADU step of that OpenAI CLIP is timed
# in the same rounds (row 3o), so that load changes cancel in the ratio.
OPENAI_SHAPES = {"ViT-B-16": "ViT-B/16", "ViT-B-16-quickgelu": "ViT-B/16"}


def openai_reference(settings):
    """The OpenAI architecture of the open_clip backbone's shapes, or None."""
    if not oc.is_open_clip_name(settings.arch):
        return None
    return OPENAI_SHAPES.get(settings.arch[len(oc.PREFIX):])


def build_backbone(arch: str):
    """A CLIP of `arch` with random weights: clip's own model code, or
    open_clip's for "open_clip:ARCH" (--backbone)."""
    if oc.is_open_clip_name(arch):
        return oc.random_open_clip(arch[len(oc.PREFIX):])
    return build_clip(arch)


def image_resolution(settings) -> int:
    if oc.is_open_clip_name(settings.arch):
        name = oc.OpenCLIPName(settings.arch[len(oc.PREFIX):], "random")
        size = oc.model_config(name)["vision_cfg"].get("image_size", 224)
        return size[0] if isinstance(size, (list, tuple)) else size
    return ARCHITECTURES[settings.arch]["image_resolution"]


def build_models(settings, device, prec, configs=("floor", "baseline", "adu"), arch=None):
    """The frozen CLIP (of `arch`, default the settings') and the ADU models
    that wrap it (sharing its weights)."""
    torch.manual_seed(0)
    clip_model = freeze(cast_clip(build_backbone(arch or settings.arch).to(device), prec))
    classnames = [f"class {i}" for i in range(settings.classes)]
    models = {"clip": clip_model}
    for name in configs:
        if name == "baseline":  # the paper's ablation with InstaPG and DDL off
            models[name] = ADUCLIP(clip_model, classnames, NUM_DOMAINS,
                                   instapg_layers=[], domain_head=False).to(device)
        elif name in ("adu", "adu_ckpt"):
            models[name] = ADUCLIP(clip_model, classnames, NUM_DOMAINS,
                                   grad_checkpointing=name == "adu_ckpt").to(device)
    return models


def training_batch(settings, device, seed=1, batch=None):
    """(images, labels, domains, forget mask) of `batch` (default: the
    settings' training batch) random images."""
    batch = batch or settings.batch
    g = torch.Generator().manual_seed(seed)
    res = image_resolution(settings)
    images = torch.randn(batch, 3, res, res, generator=g)
    labels = torch.randint(0, settings.classes, (batch,), generator=g)
    domains = torch.arange(batch) % NUM_DOMAINS
    forget_mask = domains == 0
    return [t.to(device) for t in (images, labels, domains, forget_mask)]
