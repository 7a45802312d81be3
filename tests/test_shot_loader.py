"""The training loader's opt-in shot cache (trainers/engine/shot_loader.py):
the cached pixels give the augmentation distribution of the original image,
and RandomResizedCrop's smallest crop keeps the output's resolution."""
import math

import numpy as np
import pytest
import torch

pytest.importorskip("dassl", reason="Dassl not installed (pip install it from GitHub, see README)")

from dassl.data.datasets import Datum  # noqa: E402
from PIL import Image  # noqa: E402
from scipy.stats import ks_2samp  # noqa: E402
from torchvision import transforms as T  # noqa: E402

from trainers.engine.shot_loader import CachedShots, build_train_loader, cache_scale  # noqa: E402

OUT, MIN_SCALE = (32, 32), 0.08


def position_image(width, height) -> Image.Image:
    """Red = x, green = y (0-255 across the image): a crop's pixels say
    where it was cut from."""
    x = np.linspace(0, 255, width)[None, :].repeat(height, 0)
    y = np.linspace(0, 255, height)[:, None].repeat(width, 1)
    return Image.fromarray(np.stack([x, y, np.zeros_like(x)], -1).round().astype(np.uint8))


def cfg_for(tmp_path, image, transforms=("random_resized_crop",)):
    from dassl.config import get_cfg_default

    from trainers.config import extend_cfg
    path = tmp_path / "shot.png"
    image.save(path)
    cfg = get_cfg_default()
    extend_cfg(cfg)
    cfg.INPUT.SIZE, cfg.INPUT.RRCROP_SCALE = OUT, (MIN_SCALE, 1.0)
    cfg.INPUT.TRANSFORMS = list(transforms)
    cfg.DATALOADER.CACHE_SHOTS = True
    return cfg, [Datum(impath=str(path), label=0, domain=0)]


def crop_statistics(image, n, seed):
    """Per crop of RandomResizedCrop(OUT): where its centre is and how wide
    and tall it is, in units of the image (read from the position colours)."""
    crop = T.Compose([T.RandomResizedCrop(OUT, scale=(MIN_SCALE, 1.0),
                                          interpolation=T.InterpolationMode.BICUBIC),
                      T.PILToTensor()])
    torch.manual_seed(seed)
    stats = []
    for _ in range(n):
        px = crop(image).double() / 255.0
        red, green = px[0], px[1]
        stats.append((red.mean(), green.mean(), red.max() - red.min(),
                      green.max() - green.min()))
    return torch.tensor(stats).T


def test_crops_of_the_cached_image_have_the_originals_distribution(tmp_path):
    original = position_image(800, 600)
    cfg, items = cfg_for(tmp_path, original)
    cached = CachedShots(cfg, items, transform=None, threads=1).pixels[0]
    height, width = cached.shape[:2]
    assert width < 200  # it did shrink: 800 x 600 holds far more than a 32 px crop needs
    ours = crop_statistics(Image.fromarray(cached), 300, seed=1)
    theirs = crop_statistics(original, 300, seed=2)
    for name, a, b in zip(("centre x", "centre y", "width", "height"), ours, theirs):
        assert ks_2samp(a.numpy(), b.numpy()).pvalue > 0.001, name
        assert abs(a.mean() - b.mean()) < 0.03, name


def test_the_smallest_crop_of_the_cache_still_has_the_output_resolution(tmp_path):
    cfg, items = cfg_for(tmp_path, position_image(800, 600))
    cached = Image.fromarray(CachedShots(cfg, items, transform=None, threads=1).pixels[0])
    torch.manual_seed(0)
    boxes = [T.RandomResizedCrop.get_params(cached, (MIN_SCALE, 1.0), (3 / 4, 4 / 3))
             for _ in range(3000)]
    # a side one cached pixel short of the output: within one pixel of the original's crop
    assert min(h for _, _, h, _ in boxes) >= OUT[0] - 1
    assert min(w for _, _, _, w in boxes) >= OUT[1] - 1
    s = cache_scale(800, 600, OUT, MIN_SCALE)
    assert s * math.sqrt(MIN_SCALE * 800 * 600 * 3 / 4) == pytest.approx(OUT[1])


def test_small_images_and_other_transforms_are_cached_whole_and_load_as_dassls_items(tmp_path):
    image = position_image(60, 40)
    cfg, items = cfg_for(tmp_path, image)
    assert cache_scale(60, 40, OUT, MIN_SCALE) == 1.0
    assert np.array_equal(CachedShots(cfg, items, None, 1).pixels[0], np.asarray(image))
    cfg, items = cfg_for(tmp_path, position_image(800, 600), ("random_flip",))
    assert CachedShots(cfg, items, None, 1).pixels[0].shape == (600, 800, 3)
    # the loader over the cache: Dassl's fields, the transform applied on every draw
    cfg.DATALOADER.TRAIN_X.BATCH_SIZE, cfg.DATALOADER.NUM_WORKERS = 1, 0
    loader = build_train_loader(cfg, items * 2, T.Compose([T.Resize(OUT), T.ToTensor()]))
    batch = next(iter(loader))
    assert batch["img"].shape == (1, 3, *OUT) and {"label", "domain", "index"} <= set(batch)
