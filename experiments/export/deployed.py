"""The one module a deployment runs: RGB images [B, 3, H, W] in [0, 1] ->
class logits [B, C] (and domain logits [B, num_domains] where the run's
model has a domain classifier).

CLIP's normalisation (the run's INPUT.PIXEL_MEAN / PIXEL_STD, when its
INPUT.TRANSFORMS normalise) happens inside, so a user feeds plain pixels.
The exported files fix H and W at the run's INPUT.SIZE: the .pt2 program's
guards and onnxruntime refuse another size.
"""
import torch
import torch.nn as nn

from trainers.modules.clip_heads import normalize

from .parts import Parts

OUTPUT_NAMES = ("logits", "domain_logits")


class DeployedClassifier(nn.Module):
    """normalise -> encoder -> L2-normalise -> classifier (+ domain head)."""

    def __init__(self, parts: Parts, mean, std):
        super().__init__()
        self.encoder = parts.encoder
        self.classifier = parts.classifier
        self.domain_head = parts.domain_head
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))

    @property
    def output_names(self):
        return OUTPUT_NAMES if self.domain_head is not None else OUTPUT_NAMES[:1]

    def forward(self, images: torch.Tensor):
        features = normalize(self.encoder((images.float() - self.mean) / self.std))
        logits = self.classifier(features)
        if self.domain_head is None:
            return logits
        return logits, self.domain_head(features)
