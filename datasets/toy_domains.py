"""The toy benchmark as an ADU dataset: 10 shapes (classes) in 4 renderings
(domains), 40 train and 20 test images per (class, domain), 32 px.

    DATASET.ROOT/toy_domains/<domain>/{train,test}/<class>/<idx>.png

The images are drawn by toy_render.py, which writes the tree on first use.
Shots come from `train`; the test split is `test` of every domain. The tiny
CLIP shipped in assets/ was pretrained on the train split only
(tools/pretrain_tiny_clip.py).
"""
import os.path as osp

from dassl.data.datasets import DATASET_REGISTRY

from .adu_base import ADUDatasetBase
from .preflight import Layout
from .toy_render import CLASSES, DOMAINS, SPLITS, ensure_toy_domains


@DATASET_REGISTRY.register()
class toy_domains(ADUDatasetBase):
    dataset_dir = "toy_domains"
    domains = DOMAINS
    data_help = ("generated automatically on first use by datasets/toy_render.py "
                 "(run train.py with --dataset-config-file configs/datasets/toy_domains.yaml)")

    @classmethod
    def expected_layout(cls, root):
        top = osp.join(root, cls.dataset_dir)
        return Layout(help=cls.data_help,
                      class_dirs={(d, s): osp.join(top, d, s) for d in DOMAINS for s in SPLITS})

    def prepare(self):
        ensure_toy_domains(self.dataset_dir)

    def read_splits(self):
        # Labels in CLASSES order (the renderer's), not the folders' sorted order.
        return {"train": self.read_class_dirs("train", CLASSES),
                "test": self.read_class_dirs("test", CLASSES)}
