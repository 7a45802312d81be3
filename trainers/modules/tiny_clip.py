"""Small CLIPs with random weights, for the tests and the toy benchmark.

`ARCHITECTURES` names the shapes (OpenAI's ViT-B/16, the tests' tiny CLIP,
the toy benchmark's), `build_clip` makes one, and `save_clip_archive` saves
it in OpenAI's checkpoint format so that `load_clip` reads it like a
downloaded model.
"""
import os
import warnings

import torch

from user_errors import ConfigError

from .clip_loading import CLIP


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
