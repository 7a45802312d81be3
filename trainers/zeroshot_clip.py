"""Zero-shot CLIP: the "before unlearning" row of the comparison.

Radford et al., "Learning Transferable Visual Models From Natural Language
Supervision", ICML 2021. Nothing is trained: the class text features of a
fixed template ("a photo of a {}.") are computed once, and `train()` only
scores the test split per domain, so `train.py --trainer ZeroshotCLIP`
needs neither `--eval-only` nor a checkpoint.
"""
import torch
import torch.nn as nn
from dassl.engine import TRAINER_REGISTRY

from .engine.memorize_forget import MemorizeForgetTrainer
from .modules.clip_utils import encode_class_texts, normalize


class ZeroshotModel(nn.Module):
    """logits = exp(logit_scale) * normalize(image_emb) @ normalize(text_emb).T"""

    def __init__(self, clip_model, classnames, template: str):
        super().__init__()
        self.clip = clip_model
        self.register_buffer("text_features",
                             encode_class_texts(clip_model, classnames, template))
        self.register_buffer("logit_scale", clip_model.logit_scale.detach().exp().float())

    @torch.no_grad()
    def logits_and_features(self, images: torch.Tensor):
        image_features = normalize(self.clip.encode_image(images)).float()
        return self.logit_scale * image_features @ self.text_features.t(), image_features

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.logits_and_features(images)[0]


@TRAINER_REGISTRY.register()
class ZeroshotCLIP(MemorizeForgetTrainer):
    """CLIP with a hand-written prompt; evaluation only."""

    config_key = "ZEROSHOTCLIP"

    def build_model(self):
        clip_model = self.load_frozen_clip()
        template = self.method_cfg.TEXT_TEMPLATE
        print(f"Zero-shot classifier from the template '{template}'")
        self.model = ZeroshotModel(clip_model, self.dm.dataset.classnames,
                                   template).to(self.device)

    def train(self):
        print("Zero-shot CLIP has nothing to train: scoring the test split")
        self.loaded_epoch = 0  # the weights evaluated were trained for 0 epochs
        self.test()
