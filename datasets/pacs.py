"""PACS (4 domains, 7 classes) in Dassl's layout, with Dassl's split files.

    DATASET.ROOT/pacs/images/<domain>/<class>/<img>
    DATASET.ROOT/pacs/splits/<domain>_{train,crossval}_kfold.txt

Shots come from `train_kfold`, the test split is `crossval_kfold` of every
domain. Labels in the files are 1-based. Missing data is downloaded from
the Google Drive file Dassl uses.
"""
import os.path as osp

from dassl.data.datasets import DATASET_REGISTRY

from .adu_base import ADUDatasetBase
from .domain_lists import DOMAINS
from .download import gdrive_url
from .preflight import Download, Layout

GDRIVE_ID = "1m4X4fROCCXMO0lRLrr6Zz9Vb3974NWhE"


@DATASET_REGISTRY.register()
class pacs(ADUDatasetBase):
    dataset_dir = "pacs"
    # Photo first: the order of docs/METHOD.md section 6, not Dassl's.
    domains = DOMAINS["pacs"]
    data_help = ("Dassl's pacs.zip, downloaded automatically, or by hand from "
                 f"{gdrive_url(GDRIVE_ID)}")
    # Dassl leaves this file out: it cannot be decoded.
    broken_images = ("sketch/dog/n02103406_4068-1.png",)

    @classmethod
    def expected_layout(cls, root):
        top = osp.join(root, cls.dataset_dir)
        images, splits = osp.join(top, "images"), osp.join(top, "splits")
        return Layout(
            help=cls.data_help,
            folders=tuple((osp.join(images, d), f"image folder of {d}") for d in cls.domains),
            split_files={s: tuple((d, osp.join(splits, f"{d}_{s}_kfold.txt"))
                                  for d in cls.domains)
                         for s in ("train", "crossval")},
            image_dir=images,
            ignore=cls.broken_images,
            downloads=(Download(top, GDRIVE_ID, "pacs.zip", ("images", "splits")),),
        )

    def read_splits(self):
        splits = self.read_listed_splits(label_offset=-1)
        return {"train": splits["train"], "test": splits["crossval"]}
