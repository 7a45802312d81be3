"""The ADU model as plain PyTorch: frozen CLIP + the trainable learner.

ADULearner holds everything ADU trains and saves (vision prompts, InstaPG,
domain classifier); ADUCLIP composes it with the frozen CLIP and the class
text features, computed once at construction (docs/METHOD.md section 2);
`adu_objective` scores its output with the ADU losses (section 3).
"""
from dataclasses import dataclass
from typing import Optional, Sequence

import torch
import torch.nn as nn

from .clip_utils import CosineLogits, encode_class_texts, freeze, normalize
from .losses import ADULossConfig, adu_losses
from .vision_prompts import PromptedImageEncoder, VisionPrompts


@dataclass
class ADUOutput:
    logits: torch.Tensor                   # [B, num_classes], fp32
    features: torch.Tensor                 # [B, embed_dim], L2-normalised, fp32
    domain_logits: Optional[torch.Tensor]  # [B, num_domains] or None


class ADULearner(nn.Module):
    """The trainable part of ADU: the only parameters optimised and saved."""

    def __init__(self, width: int, embed_dim: int, num_domains: int, n_ctx: int,
                 depth: int, instapg_layers: Sequence[int] = (),
                 domain_head: bool = True):
        super().__init__()
        self.vision = VisionPrompts(width, n_ctx, depth, instapg_layers)
        # The auxiliary domain classifier of the Domain Disentangling Loss.
        self.domain_head = nn.Linear(embed_dim, num_domains) if domain_head else None


class ADUCLIP(nn.Module):
    """CLIP with deep vision prompts (+ InstaPG) and a domain classifier.

    logits = exp(logit_scale) * normalize(image_emb) @ normalize(text_emb).T
    """

    def __init__(self, clip_model, classnames: Sequence[str], num_domains: int,
                 n_ctx: int = 8, depth: int = 9, instapg_layers: Sequence[int] = (9,),
                 domain_head: bool = True, template: str = "a photo of a {}.",
                 grad_checkpointing: bool = False):
        super().__init__()
        freeze(clip_model)
        visual = clip_model.visual
        self.learner = ADULearner(
            visual.transformer.width, visual.output_dim, num_domains, n_ctx,
            depth, instapg_layers, domain_head)
        self.image_encoder = PromptedImageEncoder(visual, self.learner.vision,
                                                  grad_checkpointing)
        self.register_buffer("text_features",
                             encode_class_texts(clip_model, classnames, template))
        self.logits = CosineLogits(clip_model)

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """L2-normalised image embeddings in fp32."""
        return normalize(self.image_encoder(images))

    def forward(self, images: torch.Tensor) -> ADUOutput:
        feats = self.encode_image(images)
        logits = self.logits(feats, self.text_features)
        head = self.learner.domain_head
        domain_logits = head(feats) if head is not None else None
        return ADUOutput(logits, feats, domain_logits)


def adu_objective(out: ADUOutput, labels, domains, forget_mask, config: ADULossConfig = None):
    """(every term of the ADU objective on `out` and their sum "total", the
    class logits): what the trainer and tools/benchmark.py step on."""
    terms = adu_losses(out.logits, labels, domains, forget_mask, out.features,
                       out.domain_logits, config)
    return terms, out.logits
