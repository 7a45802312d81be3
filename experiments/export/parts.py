"""What each exportable trainer's model is made of at test time: an image
encoder, a classifier on the L2-normalised embedding and, for ADU, the
domain classifier.

Every exported model computes, on normalised images x,

    f = normalize(encoder(x));  logits = classifier(f);  domain = domain_head(f)

which is the trainer's own test-time forward with the class text features
taken out of it: the text-prompt trainers (CoOp, MaPLe, CLIPFit, BBF, ADU's
release variant) recompute them from their learned parameters, here they are
computed once, at export, and kept as a buffer. The modules are the
project's own (CLIP's visual tower, PromptedImageEncoder, CosineLogits,
LP++'s probe), so the exported graph runs exactly their operations.
"""
from typing import NamedTuple, Optional

import torch
import torch.nn as nn

from trainers.modules.clip_heads import CosineLogits
from trainers.modules.timm_towers import image_dtype


class Parts(NamedTuple):
    encoder: nn.Module                # normalised images [B, 3, H, W] -> embeddings [B, D]
    classifier: nn.Module             # L2-normalised embeddings -> class logits [B, C]
    domain_head: Optional[nn.Module]  # -> domain logits [B, num_domains], or None
    visual: nn.Module                 # CLIP's image tower (what --fp16 casts)


class VisualTower(nn.Module):
    """CLIP's `encode_image`: the image tower alone, in its weights' dtype."""

    def __init__(self, visual: nn.Module):
        super().__init__()
        self.visual = visual

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.visual(images.type(image_dtype(self.visual)))


class TextClassifier(nn.Module):
    """CLIP's cosine logits against class text features fixed at export."""

    def __init__(self, logits: CosineLogits, text_features: torch.Tensor):
        super().__init__()
        self.logits = logits
        self.register_buffer("text_features", text_features.detach().float().clone())

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.logits(features, self.text_features)


@torch.no_grad()
def adu_parts(model) -> Parts:
    return Parts(model.image_encoder, TextClassifier(model.logits, model.text_features),
                 model.learner.domain_head, model.image_encoder.visual)


@torch.no_grad()
def zeroshot_parts(model) -> Parts:
    return Parts(VisualTower(model.clip.visual),
                 TextClassifier(model.logits, model.text_features), None, model.clip.visual)


@torch.no_grad()
def text_prompt_parts(model) -> Parts:
    """CoOp, CLIPFit, BBF: the stock (CLIPFit: tuned) image tower, learned text."""
    return Parts(VisualTower(model.clip.visual),
                 TextClassifier(model.logits, model.text_features()), None, model.clip.visual)


@torch.no_grad()
def maple_parts(model) -> Parts:
    return Parts(model.image_encoder, TextClassifier(model.logits, model.text_features()),
                 None, model.clip.visual)


@torch.no_grad()
def lp_plus_plus_parts(model) -> Parts:
    return Parts(VisualTower(model.clip.visual), model.learner, None, model.clip.visual)


# Trainer name -> its model's parts (the ablations are ADU configs).
EXPORTABLE = {
    "ADU": adu_parts,
    "ZeroshotCLIP": zeroshot_parts,
    "CoOpADU": text_prompt_parts,
    "MaPLeADU": maple_parts,
    "CLIPFitADU": text_prompt_parts,
    "LPPlusPlusADU": lp_plus_plus_parts,
    "BBFADU": text_prompt_parts,
}
