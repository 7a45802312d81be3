"""Where the token axis of a CLIP transformer's activations is, read from the model.

OpenAI's CLIP runs its blocks sequence-first, [tokens, batch, width]; an
open_clip Transformer says which in its `batch_first` attribute (True in
current releases, [batch, tokens, width]). The prompted encoders keep the
activations in the blocks' own layout, so that OpenAI's path runs exactly
the operations it ran before open_clip was supported.
"""
import torch


def is_batch_first(transformer) -> bool:
    """Whether `transformer`'s blocks take [batch, tokens, width] (open_clip's
    attribute; OpenAI's Transformer has none and is sequence-first)."""
    return bool(getattr(transformer, "batch_first", False))


def token_span(x: torch.Tensor, start: int, stop, batch_first: bool) -> torch.Tensor:
    """Tokens start..stop of activations in the given layout (same layout out)."""
    return x[:, start:stop] if batch_first else x[start:stop]


def to_layout(x: torch.Tensor, batch_first: bool) -> torch.Tensor:
    """[batch, tokens, width] -> the blocks' layout (and back: a swap is its own inverse)."""
    return x if batch_first else x.permute(1, 0, 2)


def causal_mask_kwargs(clip_model) -> dict:
    """What a text block needs besides the activations: open_clip passes the
    causal mask to each block (`attn_mask`), OpenAI's blocks hold their own."""
    mask = getattr(clip_model, "attn_mask", None)
    return {} if mask is None else {"attn_mask": mask}
