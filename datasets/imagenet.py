"""ImageNet (domain `real`) with ImageNet-Sketch (domain `sketch`), 1000 classes.

    DATASET.ROOT/imagenet/classnames.txt               ("<wnid> <class name>" lines)
    DATASET.ROOT/imagenet/images/{train,val}/<wnid>/*.JPEG
    DATASET.ROOT/imagenet-sketch/images/<wnid>/*.JPEG

This is CoOp's layout. Real: shots from train, test = val. Sketch has no
official split, so each class is split 80/20 with a seed of its own that
does not depend on the run seed: every run and every machine tests on the
same sketches. No automatic download (the licence requires a login).
"""
import os.path as osp
import random

from dassl.data.datasets import DATASET_REGISTRY

from user_errors import DataError

from .adu_base import ADUDatasetBase
from .domain_lists import DOMAINS
from .files import list_class_folders, list_images, read_classnames
from .preflight import Layout

SKETCH_SPLIT_SEED = 0
SKETCH_TEST_FRACTION = 0.2


def sketch_split(paths, wnid: str):
    """One class's sketches -> (train, test), about 80/20, stable.

    Shuffles the sorted file paths with a generator seeded by
    SKETCH_SPLIT_SEED and the class's wnid, so a class's split depends only
    on its own files. The test part is rounded and kept in [1, n-1].
    """
    if len(paths) < 2:
        raise DataError(
            f"ImageNet: sketch class {wnid} has {len(paths)} image(s); the 80/20 "
            "split needs at least 2. Re-extract ImageNet-Sketch."
        )
    order = sorted(paths)
    random.Random(f"{SKETCH_SPLIT_SEED}:{wnid}").shuffle(order)
    n_test = min(max(round(len(order) * SKETCH_TEST_FRACTION), 1), len(order) - 1)
    return sorted(order[n_test:]), sorted(order[:n_test])


@DATASET_REGISTRY.register()
class imagenet(ADUDatasetBase):
    dataset_dir = "imagenet"
    sketch_dir = "imagenet-sketch"
    domains = DOMAINS["imagenet"]
    data_help = ("ImageNet from https://image-net.org in CoOp's layout with its "
                 "classnames.txt, ImageNet-Sketch from "
                 "https://github.com/HaohanWang/ImageNet-Sketch with its sketch/ "
                 "folder renamed to imagenet-sketch/images")

    @classmethod
    def expected_layout(cls, root):
        images = osp.join(root, cls.dataset_dir, "images")
        classnames = osp.join(root, cls.dataset_dir, "classnames.txt")
        return Layout(
            help=cls.data_help,
            files=((classnames, "class list file"),),
            class_dirs={("real", "train"): osp.join(images, "train"),
                        ("real", "val"): osp.join(images, "val"),
                        # one folder: split 80/20 by sketch_split
                        ("sketch", "train+test"): osp.join(root, cls.sketch_dir, "images")},
            class_list=classnames,
        )

    def read_splits(self):
        dirs = self.layout.class_dirs
        names = read_classnames(self.layout.class_list)
        # Labels follow the sorted wnids, as in CoOp.
        self.wnids = sorted(names)
        self.names = names

        sketch = dirs[("sketch", "train+test")]
        sketch_train, sketch_test = [], []
        self.check_class_folders(sketch)
        for label, wnid in enumerate(self.wnids):
            train, test = sketch_split(list_images(osp.join(sketch, wnid)), wnid)
            sketch_train += [self.item(p, label, "sketch") for p in train]
            sketch_test += [self.item(p, label, "sketch") for p in test]
        return {
            "train": self.read_real(dirs[("real", "train")]) + sketch_train,
            "test": self.read_real(dirs[("real", "val")]) + sketch_test,
        }

    def check_class_folders(self, folder):
        extra = sorted(set(list_class_folders(folder)) - set(self.wnids))
        if extra:
            raise DataError(
                f"ImageNet: {folder} has class folders not in classnames.txt "
                f"({', '.join(extra[:5])}); use CoOp's classnames.txt or remove them."
            )

    def item(self, path, label, domain):
        return self.make_item(path, label, domain, self.names[self.wnids[label]],
                              clean=False)

    def read_real(self, folder):
        self.check_class_folders(folder)
        return [self.item(p, label, "real")
                for label, wnid in enumerate(self.wnids)
                for p in list_images(osp.join(folder, wnid))]
