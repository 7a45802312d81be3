"""The one module a deployment runs: RGB images [B, 3, H, W] in [0, 1] ->
class logits [B, C] (and domain logits [B, num_domains] where the run's
model has a domain classifier).

CLIP's normalisation (the run's INPUT.PIXEL_MEAN / PIXEL_STD, when its
INPUT.TRANSFORMS normalise) happens inside, so a user feeds plain pixels.
`SizeChecked` is the TorchScript file's outer module: it refuses an image of
another size than the run's INPUT.SIZE with one line, where the traced graph
would fail deep inside the encoder (or, for some sizes, silently compute).
"""
from typing import List

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


class SizeChecked(nn.Module):
    """`inner` (a traced DeployedClassifier) behind a check of the input's shape."""

    def __init__(self, inner: nn.Module, height: int, width: int):
        super().__init__()
        self.inner = inner
        self.height = height
        self.width = width

    def forward(self, images: torch.Tensor):
        shape: List[int] = images.shape
        if images.dim() != 4 or shape[1] != 3 or shape[2] != self.height \
                or shape[3] != self.width:
            raise ValueError("expected RGB images [B, 3, " + str(self.height) + ", "
                             + str(self.width) + "] in [0, 1], got " + str(shape)
                             + ": resize (shorter side) and center-crop to "
                             + str(self.height) + "x" + str(self.width)
                             + " as the export's json says")
        return self.inner(images)
