"""LP++ under the ADU protocol: a linear probe blended with the text classifier.

Huang et al., "LP++: A Surprisingly Strong Linear Probe for Few-Shot CLIP",
CVPR 2024. On the frozen, L2-normalised image embedding v, class k scores

    logit_k(v) = s * (v . w_k + alpha_k * v . t_k)

with t_k the frozen zero-shot text embedding of "a photo of a {class}.",
w_k a learned visual prototype and alpha_k a learned per-class blending
ratio; s is CLIP's logit scale. Our simplifications, on purpose: instead
of LP++'s data-driven initialisation, w_k starts at (1 - ALPHA_INIT) * t_k
and alpha_k at ALPHA_INIT, so training starts exactly at zero-shot CLIP;
and both are trained by the shared SGD protocol instead of LP++'s
block-coordinate majorise-minimise steps with closed-form step sizes.
"""
import torch
import torch.nn as nn
from dassl.engine import TRAINER_REGISTRY

from .engine.memorize_forget import MemorizeForgetTrainer
from .modules.clip_utils import CosineLogits, encode_class_texts, frozen_image_features


class BlendedLinearProbe(nn.Module):
    """The trainable part of LP++: prototypes [C, D] and blending ratios [C]."""

    def __init__(self, text_features: torch.Tensor, alpha_init: float = 0.5):
        super().__init__()
        self.prototypes = nn.Parameter((1.0 - alpha_init) * text_features.clone())
        self.alpha = nn.Parameter(torch.full((text_features.shape[0],), float(alpha_init)))
        self.register_buffer("text_features", text_features.clone(), persistent=False)

    def forward(self, image_features: torch.Tensor) -> torch.Tensor:
        return (image_features @ self.prototypes.t()
                + self.alpha * (image_features @ self.text_features.t()))


class LPPlusPlusCLIP(nn.Module):
    """Frozen CLIP image encoder + the blended linear probe."""

    def __init__(self, clip_model, classnames, template: str = "a photo of a {}.",
                 alpha_init: float = 0.5):
        super().__init__()
        self.clip = clip_model
        self.learner = BlendedLinearProbe(
            encode_class_texts(clip_model, classnames, template), alpha_init)
        # The blended score replaces CLIP's image-text product; only its scale is kept.
        self.logits = CosineLogits(clip_model)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.logits.scale * self.learner(frozen_image_features(self.clip, images))


@TRAINER_REGISTRY.register()
class LPPlusPlusADU(MemorizeForgetTrainer):
    """LP++'s blended linear probe, trained to memorise and forget domains."""

    config_key = "LPPLUSPLUSADU"

    def build_model(self):
        node = self.method_cfg
        clip_model = self.load_frozen_clip()
        print(f"Building LP++ (text template '{node.TEXT_TEMPLATE}', "
              f"alpha init {node.ALPHA_INIT})")
        self.model = LPPlusPlusCLIP(clip_model, self.dm.dataset.classnames,
                                    node.TEXT_TEMPLATE, node.ALPHA_INIT).to(self.device)
        self.register_learner(self.model.learner)
