"""Learned text prompts on a frozen CLIP text encoder (CoOp, MaPLe, BBF).

CoOp-style prompts put `n_ctx` context vectors between the start token and
the class name, "[SOT] ctx_1 .. ctx_n classname . [EOT]", and run CLIP's own
text transformer on those embeddings instead of on token ids. The pieces:

- `initial_context`: the starting context, random or the embeddings of words,
- `ClassPrompts`: the fixed token embeddings around the context, per class,
- `PromptTextEncoder`: CLIP's text transformer on prompt embeddings, with
  optional deep prompts (MaPLe) that replace the context tokens before the
  later blocks,
- `InferenceCache`: reuses the class text features at test time, where they
  no longer change from one batch to the next,
- `PromptTextFeatures`: the three composed, context in, normalised class
  text features out (what CoOp, MaPLe and BBF score images against).
"""
from typing import Callable, Optional, Sequence

import torch
import torch.nn as nn

from user_errors import ConfigError

from .clip_heads import normalize, tokenize_prompts
from .clip_layout import causal_mask_kwargs, is_batch_first, to_layout, token_span

PLACEHOLDER = "X"


@torch.no_grad()
def initial_context(clip_model, n_ctx: int, init_text: str = "", std: float = 0.02,
                    key: str = "CTX_INIT") -> torch.Tensor:
    """Starting context vectors [n_ctx, width] in fp32.

    With `init_text` (e.g. "a photo of a"), the token embeddings of its first
    `n_ctx` tokens; otherwise N(0, std^2), as CoOp and MaPLe initialise.
    """
    width = clip_model.token_embedding.weight.shape[1]
    if n_ctx < 1:
        raise ConfigError(f"N_CTX must be >= 1, got {n_ctx}.")
    if not init_text:
        return torch.randn(n_ctx, width) * std
    tokens = tokenize_prompts(clip_model, [init_text])[0]
    n_words = int(tokens.argmax()) - 1  # tokens between SOT and EOT
    if n_words < n_ctx:
        raise ConfigError(
            f"{key} '{init_text}' has {n_words} tokens but N_CTX is {n_ctx}: "
            f"set N_CTX to at most {n_words}, or {key} to a longer text (or "
            "'' for a random initialisation)."
        )
    device = clip_model.token_embedding.weight.device
    embedding = clip_model.token_embedding(tokens[None].to(device))[0]
    return embedding[1:1 + n_ctx].float().cpu()


class ClassPrompts(nn.Module):
    """The fixed parts of "[SOT] ctx_1 .. ctx_n classname . [EOT]" for every class.

    With `words` (MaPLe), the prompt is "[SOT] <words> classname . [EOT]"
    whose first n_ctx tokens are the learned context: "a photo of a" with
    n_ctx 2 gives "[SOT] ctx_1 ctx_2 of a classname . [EOT]", the prompt of
    the MaPLe release. `forward(ctx)` puts the context [n_ctx, width]
    (shared by all classes) into place and returns the prompt embeddings
    [num_classes, L, width]. The buffers are not saved: they follow from
    CLIP and the class names.
    """

    def __init__(self, clip_model, classnames: Sequence[str], n_ctx: int, words: str = ""):
        super().__init__()
        prefix_text = words or " ".join([PLACEHOLDER] * n_ctx)
        self.texts = [f"{prefix_text} {name}." for name in classnames]
        tokens = tokenize_prompts(clip_model, self.texts)
        device = clip_model.token_embedding.weight.device
        with torch.no_grad():
            embedding = clip_model.token_embedding(tokens.to(device))
        self.n_ctx = n_ctx
        self.register_buffer("tokens", tokens.to(device), persistent=False)
        self.register_buffer("prefix", embedding[:, :1], persistent=False)
        self.register_buffer("suffix", embedding[:, 1 + n_ctx:], persistent=False)

    def forward(self, ctx: torch.Tensor) -> torch.Tensor:
        ctx = ctx.to(self.prefix.dtype).unsqueeze(0).expand(self.prefix.shape[0], -1, -1)
        return torch.cat([self.prefix, ctx, self.suffix], dim=1)


class PromptTextEncoder(nn.Module):
    """CLIP's text transformer on prompt embeddings: [C, L, W] -> [C, embed_dim].

    Holds references to the frozen CLIP's modules; nothing here is trained.
    Blocks run in their own layout, with open_clip's causal mask passed in
    (OpenAI's blocks hold theirs; clip_layout.py).
    `deep_context` [k, n_ctx, W] (MaPLe) replaces the context tokens (the
    positions right after [SOT]) before blocks 2..k+1.
    """

    def __init__(self, clip_model):
        super().__init__()
        self.blocks = clip_model.transformer.resblocks
        self.batch_first = is_batch_first(clip_model.transformer)
        self.block_kwargs = causal_mask_kwargs(clip_model)
        self.positional_embedding = clip_model.positional_embedding
        self.ln_final = clip_model.ln_final
        self.text_projection = clip_model.text_projection

    @property
    def num_blocks(self) -> int:
        return len(self.blocks)

    def forward(self, prompts: torch.Tensor, tokens: torch.Tensor,
                deep_context: Optional[torch.Tensor] = None) -> torch.Tensor:
        # CLIP's fp16 conversion leaves the embeddings in fp32; the blocks
        # run in the dtype of the converted weights (text_projection among them).
        dtype, batch_first = self.text_projection.dtype, self.batch_first
        x = to_layout(prompts.to(dtype) + self.positional_embedding.to(dtype), batch_first)
        for i, block in enumerate(self.blocks):
            if deep_context is not None and 1 <= i <= len(deep_context):
                n_ctx = deep_context.shape[1]
                ctx = deep_context[i - 1].to(dtype).expand(prompts.shape[0], -1, -1)
                x = torch.cat([token_span(x, 0, 1, batch_first), to_layout(ctx, batch_first),
                               token_span(x, 1 + n_ctx, None, batch_first)],
                              dim=1 if batch_first else 0)
            x = block(x, **self.block_kwargs)
        x = self.ln_final(to_layout(x, batch_first))
        eot = x[torch.arange(x.shape[0], device=x.device), tokens.argmax(dim=-1)]
        return eot @ self.text_projection


class InferenceCache:
    """Reuse a value computed without gradient while its inputs are unchanged.

    Class text features depend only on the learned text parameters, so at
    test time one text-encoder pass serves every batch. The inputs are
    compared by value, so an optimiser step or a loaded checkpoint is always
    noticed; with gradients enabled (training) the value is always recomputed.
    """

    def __init__(self):
        self.inputs = None
        self.value = None

    def get(self, inputs: Sequence[torch.Tensor], compute: Callable[[], torch.Tensor]):
        if torch.is_grad_enabled():
            self.inputs = self.value = None
            return compute()
        if self.inputs is not None and len(self.inputs) == len(inputs) and all(
                a.shape == b.shape and torch.equal(a, b) for a, b in zip(self.inputs, inputs)):
            return self.value
        self.value = compute()
        self.inputs = [t.detach().clone() for t in inputs]
        return self.value


class PromptTextFeatures(nn.Module):
    """L2-normalised class text features [num_classes, embed_dim] (fp32) of
    "[SOT] ctx_1 .. ctx_n classname . [EOT]" for a given context.

    `forward(ctx, deep_context=None)`: ctx [n_ctx, width] and, for MaPLe,
    the deep context [k, n_ctx, width] (see PromptTextEncoder); `words` as
    in ClassPrompts. Without gradient the result is cached until either
    input changes.
    """

    def __init__(self, clip_model, classnames: Sequence[str], n_ctx: int, words: str = ""):
        super().__init__()
        self.prompts = ClassPrompts(clip_model, classnames, n_ctx, words)
        self.encoder = PromptTextEncoder(clip_model)
        self.cache = InferenceCache()

    def forward(self, ctx: torch.Tensor,
                deep_context: Optional[torch.Tensor] = None) -> torch.Tensor:
        inputs = [ctx] if deep_context is None else [ctx, deep_context]
        return self.cache.get(inputs, lambda: normalize(
            self.encoder(self.prompts(ctx), self.prompts.tokens, deep_context=deep_context)))
