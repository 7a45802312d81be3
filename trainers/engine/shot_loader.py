"""The training loader of a few-shot set: Dassl's, with two opt-in changes.

A few-shot training set is small (2,080-16,560 images) and read 50 times.
Dassl's loader starts its workers again every epoch and decodes every JPEG
again every epoch:

- DATALOADER.PERSISTENT_WORKERS keeps the workers alive between epochs;
- DATALOADER.CACHE_SHOTS decodes each training image once, before training,
  and keeps it as uint8 pixels, shrunk only as far as RandomResizedCrop
  allows: its smallest crop (INPUT.RRCROP_SCALE's lower end, aspect 3/4 or
  4/3) keeps at least INPUT.SIZE pixels on each side, so that cropping the
  cached image lands within one output pixel of cropping the original. The
  augmentation (Dassl's transform, the same random draws) then runs per
  epoch from memory (tests/test_shot_loader.py checks the crops'
  distribution).
"""
import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from dassl.data.samplers import build_sampler
from PIL import Image
from torch.utils.data import Dataset

from datasets.files import read_rgb
from user_errors import ConfigError

from .test_images import RGBDatasetWrapper

RRC_RATIOS = (3.0 / 4.0, 4.0 / 3.0)  # torchvision's RandomResizedCrop default, Dassl's


def cache_scale(width: int, height: int, out_size, min_scale: float) -> float:
    """The factor (<= 1) an image may shrink by while RandomResizedCrop's
    smallest crop, of area `min_scale` of the image, still has `out_size`
    (h, w) pixels or more on each side at either extreme aspect ratio."""
    area = width * height
    low, high = RRC_RATIOS
    smallest_w = math.sqrt(min_scale * area * low)    # w = sqrt(a * A * r)
    smallest_h = math.sqrt(min_scale * area / high)   # h = sqrt(a * A / r)
    return min(1.0, max(out_size[1] / smallest_w, out_size[0] / smallest_h))


def decode_for_cache(path: str, out_size, min_scale) -> np.ndarray:
    """One training image as uint8 [H, W, 3], shrunk by `cache_scale` (None:
    no random resized crop, kept whole)."""
    image = read_rgb(path)
    if min_scale is not None:
        s = cache_scale(image.width, image.height, out_size, min_scale)
        if s < 1.0:
            size = (max(1, round(image.width * s)), max(1, round(image.height * s)))
            image = image.resize(size, Image.BICUBIC, reducing_gap=3.0)
    return np.asarray(image, dtype=np.uint8).copy()


class CachedShots(Dataset):
    """Dassl's training items (label, domain, impath, index, img) from
    pixels decoded once: `transform` (Dassl's training transform) runs on
    them every time an item is drawn."""

    def __init__(self, cfg, data_source, transform, threads: int = 4):
        if cfg.DATALOADER.K_TRANSFORMS != 1 or cfg.DATALOADER.RETURN_IMG0:
            raise ConfigError("DATALOADER.CACHE_SHOTS True works with DATALOADER.K_TRANSFORMS 1 "
                              "and RETURN_IMG0 False only; set CACHE_SHOTS False")
        self.data_source, self.transform = data_source, transform
        min_scale = (cfg.INPUT.RRCROP_SCALE[0] if "random_resized_crop" in cfg.INPUT.TRANSFORMS
                     else None)
        with ThreadPoolExecutor(max(1, threads)) as pool:  # PIL decodes outside the GIL
            self.pixels = list(pool.map(
                lambda item: decode_for_cache(item.impath, cfg.INPUT.SIZE, min_scale),
                data_source))

    @property
    def nbytes(self) -> int:
        return sum(p.nbytes for p in self.pixels)

    def __len__(self):
        return len(self.data_source)

    def __getitem__(self, idx):
        item = self.data_source[idx]
        return {"label": item.label, "domain": item.domain, "impath": item.impath,
                "index": idx, "img": self.transform(Image.fromarray(self.pixels[idx]))}


def build_train_loader(cfg, data_source, transform, dataset=None):
    """The training loader of Dassl's build_data_loader (its sampler, batch,
    workers, drop_last), images read by RGBDatasetWrapper, with
    DATALOADER.PERSISTENT_WORKERS and, when
    CACHE_SHOTS is on, over CachedShots (or the `dataset` given)."""
    batch = cfg.DATALOADER.TRAIN_X.BATCH_SIZE
    workers = cfg.DATALOADER.NUM_WORKERS
    if dataset is None:
        dataset = (CachedShots(cfg, data_source, transform, max(workers, 1))
                   if cfg.DATALOADER.CACHE_SHOTS
                   else RGBDatasetWrapper(cfg, data_source, transform=transform, is_train=True))
    sampler = build_sampler(cfg.DATALOADER.TRAIN_X.SAMPLER, cfg=cfg, data_source=data_source,
                            batch_size=batch, n_domain=cfg.DATALOADER.TRAIN_X.N_DOMAIN,
                            n_ins=cfg.DATALOADER.TRAIN_X.N_INS)
    return torch.utils.data.DataLoader(
        dataset, batch_size=batch, sampler=sampler, num_workers=workers,
        drop_last=len(data_source) >= batch,
        pin_memory=torch.cuda.is_available() and cfg.USE_CUDA,
        persistent_workers=bool(cfg.DATALOADER.PERSISTENT_WORKERS) and workers > 0)
