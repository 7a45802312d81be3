"""Tiny on-disk datasets in the real layouts, written by the tests."""
import os

import numpy as np
from PIL import Image

OFFICE_HOME_DOMAINS = ["art", "clipart", "product", "real_world"]


def write_image(path, seed, size=8):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path)


def write_office_home(root, num_classes=3, train_per_class=3, test_per_class=2):
    """ROOT/office_home_dg/<domain>/{train,val}/<Class_i>/<j>.png"""
    seed = 0
    for domain in OFFICE_HOME_DOMAINS:
        for split, n in (("train", train_per_class), ("val", test_per_class)):
            for c in range(num_classes):
                for j in range(n):
                    seed += 1
                    write_image(os.path.join(root, "office_home_dg", domain, split,
                                             f"Class_{c}", f"{j}.png"), seed)
    return os.path.join(root, "office_home_dg")
