"""open_clip image towers that timm builds: SigLIP / SigLIP 2, EVA-02, PE-Core.

open_clip wraps them in its `TimmModel` (`visual.trunk` the timm model,
`visual.head` open_clip's optional projection). Two timm classes are
supported, read from the model, never patched:

- timm's `VisionTransformer` (SigLIP, SigLIP 2: no class token, absolute
  position embeddings, attention pooling `attn_pool`);
- timm's `Eva` (EVA-02: class token, rotary position embeddings `rope`;
  PE-Core: class token, rope, attention pooling).

Both lay their tokens out as [prefix tokens (class, registers), patches] with
`num_prefix_tokens` prefix tokens; `_pos_embed` adds the position embeddings
and the prefix tokens (Eva's returns the rotary embedding of the patch grid
too), and each block takes [batch, tokens, width]. Eva's attention rotates
the queries and keys of every token after the first `num_prefix_tokens` by
the rotary embedding, one row per token, so prompt tokens placed behind the
patches get rows that rotate by zero (sin 0, cos 1): `rope_with_prompts`.
The rotation then leaves them as it leaves the prefix tokens, and the patch
grid keeps its own rows. The prompted encoder itself is
adu_model.TimmPromptedImageEncoder.

Nothing here imports timm or open_clip: the classes are told by name and
module, so that the OpenAI path needs neither.
"""
from typing import Optional

import torch
import torch.nn as nn

# The timm classes whose token layout the prompted encoder knows.
TRUNK_CLASSES = {"VisionTransformer": "timm.models.vision_transformer",
                 "Eva": "timm.models.eva"}


def is_timm_tower(visual) -> bool:
    """Whether `visual` is open_clip's TimmModel (any timm trunk)."""
    return (type(visual).__name__ == "TimmModel"
            and type(visual).__module__.startswith("open_clip"))


def timm_trunk(visual) -> Optional[nn.Module]:
    """The timm VisionTransformer or Eva inside open_clip's TimmModel, else None."""
    if not is_timm_tower(visual):
        return None
    trunk = getattr(visual, "trunk", None)
    cls = type(trunk)
    if TRUNK_CLASSES.get(cls.__name__) != cls.__module__:
        return None
    return trunk


def trunk_problem(trunk: nn.Module) -> Optional[str]:
    """Why the prompted encoder cannot run this timm trunk as it runs (None: it can)."""
    if getattr(trunk, "dynamic_img_size", False):
        return "it takes images of any size (dynamic_img_size)"
    patch_drop = getattr(trunk, "patch_drop", None)
    if patch_drop is not None and not isinstance(patch_drop, nn.Identity):
        return "it drops patches (patch dropout)"
    if type(getattr(trunk, "patch_embed", None)).__name__ != "PatchEmbed":
        return "its patches are embedded by a convolutional stem, not timm's PatchEmbed"
    if getattr(trunk, "rope_mixed", False):
        return "its rotary embeddings differ per block (mixed rope)"
    return None


def vision_width(visual) -> int:
    """The width of the image tower's tokens (a prompt token's size)."""
    trunk = timm_trunk(visual)
    return trunk.embed_dim if trunk is not None else visual.transformer.width


def vision_blocks(visual) -> nn.Module:
    """The image tower's transformer blocks, in order."""
    trunk = timm_trunk(visual)
    return trunk.blocks if trunk is not None else visual.transformer.resblocks


def image_embed_dim(clip_model) -> int:
    """The size of CLIP's image (and text) embedding."""
    visual = clip_model.visual
    if timm_trunk(visual) is not None:
        return clip_model.text.output_dim  # the towers share it (open_clip's embed_dim)
    return visual.output_dim


def image_dtype(visual) -> torch.dtype:
    """The dtype the image tower takes its pixels in (its first layer's)."""
    trunk = timm_trunk(visual)
    if trunk is not None:
        return trunk.patch_embed.proj.weight.dtype
    return visual.conv1.weight.dtype


def rope_with_prompts(rope: torch.Tensor, n_prompts: int) -> torch.Tensor:
    """Eva's rotary embedding ([..., patches, 2 * dim]: sin | cos) with
    `n_prompts` rows appended that rotate by zero (sin 0, cos 1), for prompt
    tokens behind the patches: rope leaves them as it leaves prefix tokens."""
    if n_prompts == 0:
        return rope
    half = rope.shape[-1] // 2
    rows = torch.cat([rope.new_zeros(*rope.shape[:-2], n_prompts, half),
                      rope.new_ones(*rope.shape[:-2], n_prompts, half)], dim=-1)
    return torch.cat([rope, rows], dim=-2)
