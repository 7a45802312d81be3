"""The ADU model as plain PyTorch: frozen CLIP + the trainable learner.

ADULearner holds everything ADU trains and saves (vision prompts, InstaPG,
domain classifier and, in the release's variant, text prompts); ADUCLIP
composes it with the frozen CLIP and the class text features: by default
those of the fixed template, computed once at construction (docs/METHOD.md
section 2); with learned text prompts (the authors' release, section 10)
recomputed at every training step and once per evaluation. Its output's
logits, features and domain logits are what the ADU losses (losses.py,
section 3) score.
"""
from dataclasses import dataclass
from typing import Optional, Sequence

import torch
import torch.nn as nn

from user_errors import ConfigError

from .clip_heads import CosineLogits, encode_class_texts, normalize, tokenize_prompts
from .clip_loading import freeze
from .text_prompts import PromptTextFeatures, initial_context
from .vision_prompts import PromptedImageEncoder, VisionPrompts


@dataclass
class ADUOutput:
    logits: torch.Tensor                   # [B, num_classes], fp32
    features: torch.Tensor                 # [B, embed_dim], L2-normalised, fp32
    domain_logits: Optional[torch.Tensor]  # [B, num_domains] or None


class TextPrompts(nn.Module):
    """Learned text prompts of the authors' release (docs/METHOD.md section 10):
    `ctx` [n_ctx, width] after [SOT] of "[SOT] ctx classname . [EOT]", and
    `deep` [depth - 1, n_ctx, width] replacing them before text blocks 2..depth
    (PromptTextEncoder's deep_context)."""

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


class ADULearner(nn.Module):
    """The trainable part of ADU: the only parameters optimised and saved."""

    def __init__(self, width: int, embed_dim: int, num_domains: int, n_ctx: int,
                 depth: int, instapg_layers: Sequence[int] = (),
                 domain_head: bool = True, instapg_style: str = "pre_norm",
                 text: Optional[TextPrompts] = None):
        super().__init__()
        self.vision = VisionPrompts(width, n_ctx, depth, instapg_layers, instapg_style)
        # The auxiliary domain classifier of the Domain Disentangling Loss.
        self.domain_head = nn.Linear(embed_dim, num_domains) if domain_head else None
        # Learned text prompts (release variant) or None (the paper's fixed template).
        self.text = text


class ADUCLIP(nn.Module):
    """CLIP with deep vision prompts (+ InstaPG) and a domain classifier.

    logits = exp(logit_scale) * normalize(image_emb) @ normalize(text_emb).T

    n_ctx_text = 0 (the paper): text_emb from `template`, a buffer computed
    once. n_ctx_text > 0 (the release): learned prompts "[ctx] classname."
    with deep text prompts in blocks 2..depth_text, encoded with gradient at
    every training step; without gradient the features are cached until the
    prompts change, so an evaluation encodes the class texts once.
    """

    def __init__(self, clip_model, classnames: Sequence[str], num_domains: int,
                 n_ctx: int = 8, depth: int = 9, instapg_layers: Sequence[int] = (9,),
                 domain_head: bool = True, template: str = "a photo of a {}.",
                 grad_checkpointing: bool = False, instapg_style: str = "pre_norm",
                 n_ctx_text: int = 0, depth_text: int = 1, text_ctx_init: bool = False):
        super().__init__()
        freeze(clip_model)
        visual = clip_model.visual
        check_text_prompts(n_ctx_text, depth_text, len(clip_model.transformer.resblocks))
        text = None
        if n_ctx_text:
            text = TextPrompts(text_context_init(clip_model, n_ctx_text, template,
                                                 text_ctx_init), depth_text)
        self.learner = ADULearner(
            visual.transformer.width, visual.output_dim, num_domains, n_ctx,
            depth, instapg_layers, domain_head, instapg_style, text)
        self.image_encoder = PromptedImageEncoder(visual, self.learner.vision,
                                                  grad_checkpointing)
        if text is None:
            self.register_buffer("fixed_text_features",
                                 encode_class_texts(clip_model, classnames, template))
            self.prompt_text = None
        else:
            self.fixed_text_features = None
            self.prompt_text = PromptTextFeatures(clip_model, classnames, n_ctx_text)
        self.logits = CosineLogits(clip_model)

    @property
    def text_features(self) -> torch.Tensor:
        """L2-normalised class text features [num_classes, embed_dim], fp32."""
        if self.prompt_text is None:
            return self.fixed_text_features
        text = self.learner.text
        deep = text.deep if text.deep.shape[0] else None
        return self.prompt_text(text.ctx, deep_context=deep)

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """L2-normalised image embeddings in fp32."""
        return normalize(self.image_encoder(images))

    def forward(self, images: torch.Tensor) -> ADUOutput:
        feats = self.encode_image(images)
        logits = self.logits(feats, self.text_features)
        head = self.learner.domain_head
        domain_logits = head(feats) if head is not None else None
        return ADUOutput(logits, feats, domain_logits)
