"""The pretraining data of the tiny CLIP (experiments/toy/pretrain.py): the
toy's TRAIN stream rendered in memory, its captions and which caption is
true of which image, and the augmentation."""
import math

import numpy as np
import torch
import torch.nn.functional as F

from datasets.toy_render import CLASSES, DOMAINS, render_image
from trainers.modules.clip_loading import CLIP_PIXEL_MEAN, CLIP_PIXEL_STD

CLIP_MEAN = torch.tensor(CLIP_PIXEL_MEAN).view(1, 3, 1, 1)
CLIP_STD = torch.tensor(CLIP_PIXEL_STD).view(1, 3, 1, 1)


def caption_table():
    """Captions [class * (|D| + 1)]: "a <domain> of a <class>." per domain, then "<class>"."""
    return [f"a {d} of a {c}." for c in CLASSES for d in DOMAINS] + list(CLASSES)


def caption_ids(labels, domains, plain):
    """Index into caption_table() of each sample's caption."""
    return torch.where(plain, len(CLASSES) * len(DOMAINS) + labels,
                       labels * len(DOMAINS) + domains)


def describes(labels, domains, caps):
    """[B, U] bool: caption u is true of image i (same class; plain or same domain)."""
    n_dom = len(DOMAINS)
    plain = caps >= len(CLASSES) * n_dom
    cap_label = torch.where(plain, caps - len(CLASSES) * n_dom, caps // n_dom)
    same_class = labels[:, None] == cap_label[None, :]
    same_domain = plain[None, :] | (domains[:, None] == (caps % n_dom)[None, :])
    return same_class & same_domain


def render_train_pool(per_pair, first=0):
    """uint8 images [N, 3, H, W], labels, domain labels: train indices
    first..first+per_pair-1."""
    keys = [(c, d) for d in range(len(DOMAINS)) for c in range(len(CLASSES))]
    images = np.stack([np.asarray(render_image(CLASSES[c], DOMAINS[d], "train", i))
                       for c, d in keys for i in range(first, first + per_pair)])
    labels = torch.tensor([c for c, _ in keys for _ in range(per_pair)])
    domains = torch.tensor([d for _, d in keys for _ in range(per_pair)])
    return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), labels, domains


def augment(images, gen, scale=(0.5, 1.0), ratio=(3 / 4, 4 / 3)):
    """Random resized crop + horizontal flip on a uint8 batch, then CLIP normalisation."""
    b = images.shape[0]
    area = torch.empty(b).uniform_(*scale, generator=gen)
    log_r = torch.empty(b).uniform_(math.log(ratio[0]), math.log(ratio[1]), generator=gen)
    w = torch.sqrt(area * log_r.exp()).clamp(max=1.0)
    h = torch.sqrt(area / log_r.exp()).clamp(max=1.0)
    cx = (torch.rand(b, generator=gen) * 2 - 1) * (1 - w)
    cy = (torch.rand(b, generator=gen) * 2 - 1) * (1 - h)
    flip = torch.where(torch.rand(b, generator=gen) < 0.5, -1.0, 1.0)
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2] = w * flip, cx
    theta[:, 1, 1], theta[:, 1, 2] = h, cy
    x = images.float() / 255
    grid = F.affine_grid(theta, x.shape, align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    return (x - CLIP_MEAN) / CLIP_STD
