"""The authors' release (commit 50a43db) where it differs from the paper,
docs/METHOD.md section 10: each variant a switch of TRAINER.ADU, off by
default, all of them here and nothing of them in the paper's path
(adu_model.py, losses.py), which this file extends.

| release variant                                  | switch                                  |
|--------------------------------------------------|-----------------------------------------|
| learned text prompts, deep in text blocks 2..d   | N_CTX_TEXT, PROMPT_DEPTH_TEXT, TEXT_CTX_INIT |
| InstaPG: residual to the normed query, post-norm | INSTAPG_STYLE release                   |
| block 1's prompts through ln_pre                 | PROMPTS_BEFORE_LN_PRE                   |
| domain classifier: #domains x #classes outputs   | DOMAIN_HEAD domains_x_classes (trainer) |
| forget loss: negative entropy, log(p + 1e-5)     | FORGET_LOSS neg_entropy, FORGET_LOG_EPS |
| MMD per domain pair, its own median bandwidth    | MMD_KERNEL pair_median                  |
| MMD of the domain classifier's logits            | MMD_INPUT domain_logits (adu_losses)    |
"""
import functools
from typing import Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from user_errors import ConfigError

from .adu_model import ADUCLIP, InstaPG, VisionPrompts
from .clip_heads import tokenize_prompts
from .losses import forget_loss, masked_mean, squared_distances
from .text_prompts import PromptTextFeatures, initial_context


class ReleaseInstaPG(InstaPG):
    """InstaPG as the release arranges the same layers: the residual goes to
    the layer-normed query, a post-norm follows, then the MLP with its residual:
        x = LN_m(LN_q(q) + MHA(LN_q(q), LN_p(p)));  out = x + MLP(x)
    (LN_m is the paper's MLP pre-norm, here a post-norm: the same parameters)."""

    def forward(self, queries: torch.Tensor, patches: torch.Tensor) -> torch.Tensor:
        q = queries.unsqueeze(0).expand(patches.shape[0], -1, -1)
        kv = self.ln_patches(patches)
        q_norm = self.ln_query(q)
        attended, _ = self.cross_attn(q_norm, kv, kv, need_weights=False)
        x = self.ln_mlp(q_norm + attended)
        return x + self.mlp(x)


class PromptsBeforeLnPre(VisionPrompts):
    """Block 1's prompts are appended before ln_pre, as the release (and
    MaPLe) does: ln_pre normalises each token alone, so this is the paper's
    encoder with ln_pre applied to block 1's prompts (in the backbone's
    dtype, as the release applies it to the whole sequence). The frozen
    ln_pre is held outside this module's parameters: the learner saves
    and trains none of CLIP's weights."""

    def __init__(self, width: int, n_ctx: int, depth: int, instapg_layers=(),
                 generator=InstaPG, ln_pre: nn.Module = None):
        super().__init__(width, n_ctx, depth, instapg_layers, generator)
        self.frozen = (ln_pre,)

    def for_block(self, block: int, patches: torch.Tensor) -> torch.Tensor:
        prompts = super().for_block(block, patches)
        if block != 1:
            return prompts
        ln_pre = self.frozen[0]
        return ln_pre(prompts.to(ln_pre.weight.dtype))


class TextPrompts(nn.Module):
    """The release's learned text prompts: `ctx` [n_ctx, width] after [SOT]
    of "[SOT] ctx classname . [EOT]", and `deep` [depth - 1, n_ctx, width]
    replacing them before text blocks 2..depth (PromptTextEncoder's deep_context)."""

    def __init__(self, first_ctx: torch.Tensor, depth: int):
        super().__init__()
        n_ctx, width = first_ctx.shape
        self.ctx = nn.Parameter(first_ctx)
        self.deep = nn.Parameter(torch.randn(depth - 1, n_ctx, width) * 0.02)


def template_words(template: str) -> str:
    """The words of a template before the class name: "a photo of a {}." -> "a photo of a"."""
    return template.split("{}")[0].strip()


def text_context_init(clip_model, n_ctx: int, template: str, from_template: bool):
    """Starting text context [n_ctx, width]: N(0, 0.02^2) as the release draws
    it, or (TEXT_CTX_INIT) the template's words, so that the first prompt is the
    template's own "a photo of a {class}." when N_CTX_TEXT is their token count."""
    if not from_template:
        return initial_context(clip_model, n_ctx)
    words = template_words(template)
    n_words = int(tokenize_prompts(clip_model, [words])[0].argmax()) - 1 if words else 0
    if n_words != n_ctx:
        raise ConfigError(
            f"TRAINER.ADU.TEXT_CTX_INIT starts the {n_ctx} text context tokens "
            f"from the template's words '{words}', which are {n_words} tokens: set "
            f"TRAINER.ADU.N_CTX_TEXT {n_words}, or TEXT_CTX_INIT False (random).")
    return initial_context(clip_model, n_ctx, words, key="TRAINER.ADU.TEXT_TEMPLATE")


def check_text_prompts(n_ctx: int, depth: int, text_blocks: int):
    """Fail with one clear message when the text prompts do not fit the encoder."""
    if n_ctx < 0:
        raise ConfigError(f"TRAINER.ADU.N_CTX_TEXT must be >= 0 (0 = fixed template), got {n_ctx}.")
    if n_ctx > 0 and not 1 <= depth <= text_blocks:
        raise ConfigError(
            f"TRAINER.ADU.PROMPT_DEPTH_TEXT={depth}, but the CLIP text encoder has "
            f"{text_blocks} transformer blocks; use a depth in 1..{text_blocks} "
            "(1 = context tokens only, no deep text prompts).")


class ReleaseADUCLIP(ADUCLIP):
    """ADUCLIP with the release's model variants switched on as asked.

    n_ctx_text > 0: learned prompts "[ctx] classname." with deep text prompts
    in blocks 2..depth_text, encoded with gradient at every training step;
    without gradient the features are cached until the prompts change, so an
    evaluation encodes the class texts once. Everything else as ADUCLIP.
    """

    def __init__(self, clip_model, classnames: Sequence[str], domain_outputs: int,
                 n_ctx: int = 8, depth: int = 9, instapg_layers: Sequence[int] = (9,),
                 domain_head: bool = True, template: str = "a photo of a {}.",
                 grad_checkpointing: bool = False, instapg_style: str = "pre_norm",
                 prompts_before_ln_pre: bool = False, n_ctx_text: int = 0,
                 depth_text: int = 1, text_ctx_init: bool = False):
        check_text_prompts(n_ctx_text, depth_text, len(clip_model.transformer.resblocks))
        # Drawn before the vision prompts, as the release's model draws them.
        text: Optional[TextPrompts] = None
        if n_ctx_text:
            text = TextPrompts(text_context_init(clip_model, n_ctx_text, template,
                                                 text_ctx_init), depth_text)
        generator = ReleaseInstaPG if instapg_style == "release" else InstaPG
        width = clip_model.visual.transformer.width
        if prompts_before_ln_pre:
            prompts = PromptsBeforeLnPre(width, n_ctx, depth, instapg_layers, generator,
                                         ln_pre=clip_model.visual.ln_pre)
        else:
            prompts = VisionPrompts(width, n_ctx, depth, instapg_layers, generator)
        super().__init__(clip_model, classnames, domain_outputs, n_ctx, depth, instapg_layers,
                         domain_head, template, grad_checkpointing, prompts=prompts, text=text)
        self.prompt_text = (PromptTextFeatures(clip_model, classnames, n_ctx_text)
                            if text is not None else None)

    @property
    def text_features(self) -> torch.Tensor:
        if self.prompt_text is None:
            return self.fixed_text_features
        text = self.learner.text
        deep = text.deep if text.deep.shape[0] else None
        return self.prompt_text(text.ctx, deep_context=deep)


def neg_entropy_forget_loss(*, logits, forget_mask, log_eps: float = 0.0):
    """L_forget as the release computes it: sum_c p_c log p_c (negative
    entropy, minimal at the uniform prediction) on the forget-domain samples,
    with log(p + log_eps) as the release writes it (1e-5 there); log_eps 0
    takes log p from log_softmax."""
    if log_eps:
        p = F.softmax(logits.float(), dim=-1)
        per_sample = (p * torch.log(p + log_eps)).sum(dim=-1)
    else:
        log_p = F.log_softmax(logits.float(), dim=-1)
        per_sample = (log_p.exp() * log_p).sum(dim=-1)
    return masked_mean(per_sample, forget_mask)


def forget_loss_named(kind: str, log_eps: float = 0.0):
    """The L_forget function a FORGET_LOSS names (checked before, in
    config_checks): the paper's "uniform_ce" (losses.forget_loss) or the
    release's "neg_entropy", with FORGET_LOG_EPS where it is set."""
    if kind != "neg_entropy":
        return forget_loss
    if log_eps:
        return functools.partial(neg_entropy_forget_loss, log_eps=log_eps)
    return neg_entropy_forget_loss


def mmd2_pair_median(*, features, domains) -> torch.Tensor:
    """Squared MMD averaged over domain pairs with a bandwidth per pair, as
    the release computes it.

    For the pair (a, b): sigma_ab = median of the cross-pair distances
    ||x_i - y_j|| (i in a, j in b; no gradient), k = exp(-d^2 / (2 sigma_ab^2)),
    and MMD_ab^2 = mean K_aa + mean K_bb - 2 mean K_ab (all with sigma_ab).
    Pairs where either domain has fewer than 2 samples are skipped; 0 (with
    graph) when no pair is left. One distance matrix serves every pair: the
    per-pair kernels are [P, B, B] and each MMD is w_p^T K_p w_p with
    w_p = 1/|a| on a's samples and -1/|b| on b's.
    """
    x = features.to(torch.promote_types(features.dtype, torch.float32))
    present, index, counts = torch.unique(domains, return_inverse=True, return_counts=True)
    usable = (counts >= 2).nonzero().flatten()
    if usable.numel() < 2:
        return features.sum() * 0.0
    a, b = torch.triu_indices(usable.numel(), usable.numel(), offset=1, device=x.device)
    a, b = usable[a], usable[b]  # domain indices (into `present`) of each pair
    sq = squared_distances(x)
    with torch.no_grad():
        in_a = (index[None, :] == a[:, None]).to(x.dtype)  # [P, B]
        in_b = (index[None, :] == b[:, None]).to(x.dtype)
        cross = (in_a[:, :, None] * in_b[:, None, :]).bool()  # [P, B, B]
        dist = sq.detach().sqrt().expand_as(cross)
        sigma = torch.where(cross, dist, torch.full_like(dist, float("nan")))
        sigma = sigma.flatten(1).nanmedian(dim=1).values.clamp(min=1e-6)  # [P]
        w = in_a / counts[a, None].to(x.dtype) - in_b / counts[b, None].to(x.dtype)
    kernels = torch.exp(-sq[None] / (2.0 * sigma[:, None, None] ** 2))
    return torch.einsum("pi,pij,pj->p", w, kernels, w).mean()
