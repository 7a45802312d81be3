"""Where a CLIP ViT's CLS token looks: last-block attention and attention rollout.

CLIP's residual blocks call their attention without returning its weights,
and nothing of the package is patched here: hooks record each block's input
and output during an ordinary forward pass (the prompted encoder's or
CLIP's own), and the weights are recomputed afterwards by calling the
block's own attention on its layer-normed input with `need_weights`.

Rollout (Abnar & Zuidema, "Quantifying Attention Flow in Transformers",
2020): R = prod_l (0.5 * A_l + 0.5 * I), A_l the head-mean attention of
block l, rows renormalised; the 0.5 * I stands for the residual path. Prompt
tokens that are REPLACED before a block (deep prompts) carry nothing of the
earlier blocks, so their rows of R restart at the identity there.
"""
from contextlib import contextmanager

import torch


@contextmanager
def record_blocks(visual):
    """Yield a list that fills with (block, input, output) per residual block
    of `visual.transformer` (tokens first: [L, B, W]) during forward passes."""
    records, handles = [], []
    for block in visual.transformer.resblocks:
        def hook(module, args, output):
            records.append((module, args[0].detach(), output.detach()))
        handles.append(block.register_forward_hook(hook))
    try:
        yield records
    finally:
        for handle in handles:
            handle.remove()


@torch.no_grad()
def block_attention(block, x: torch.Tensor) -> torch.Tensor:
    """Head-mean attention weights [B, L, L] (rows: queries) of a CLIP
    ResidualAttentionBlock on its input `x` [L, B, W]."""
    h = block.ln_1(x)
    mask = block.attn_mask.to(h.dtype) if block.attn_mask is not None else None
    _, weights = block.attn(h, h, h, need_weights=True, attn_mask=mask,
                            average_attn_weights=True)
    return weights.float()


def rollout(records, n_image_tokens: int) -> torch.Tensor:
    """Attention rollout [B, L, L] over the recorded blocks (see the module doc).

    `n_image_tokens`: CLS + patches; the tokens behind them are prompts, which
    restart at the identity wherever a block's input differs from the previous
    block's output there (they were replaced)."""
    result, previous_out = None, None
    for block, x, out in records:
        attn = block_attention(block, x)
        eye = torch.eye(attn.shape[-1], device=attn.device).expand_as(attn)
        step = 0.5 * attn + 0.5 * eye
        step = step / step.sum(dim=-1, keepdim=True)
        if result is None:
            result = eye.clone()
        elif result.shape[-1] != attn.shape[-1]:
            raise ValueError("the token count changes between blocks; rollout needs one")
        elif previous_out is not None:
            fresh = (x[n_image_tokens:] != previous_out[n_image_tokens:]).any(dim=-1).any(dim=-1)
            idx = n_image_tokens + torch.nonzero(fresh).flatten()
            result[:, idx, :] = 0.0
            result[:, idx, idx] = 1.0
        result = step @ result
        previous_out = out
    return result


def cls_maps(records, n_patches: int) -> dict:
    """CLS-token maps from the blocks recorded during one forward pass:

    last:     the last block's CLS attention over the patches [B, n_patches]
    rollout:  the rollout's CLS row over the patches [B, n_patches]
    prompt_share_last / prompt_share_rollout: [B], the mass on tokens behind
              the patches (prompts), which the patch maps leave out.
    Each patch map is renormalised to sum to 1 over the patches.
    """
    n_image = 1 + n_patches
    last = block_attention(*records[-1][:2])[:, 0]
    roll = rollout(records, n_image)[:, 0]
    maps = {}
    for name, row in (("last", last), ("rollout", roll)):
        patches = row[:, 1:n_image]
        maps[name] = patches / patches.sum(dim=-1, keepdim=True)
        maps[f"prompt_share_{name}"] = row[:, n_image:].sum(dim=-1)
    return maps
