"""PACS (4 domains, 7 classes) in Dassl's layout, with Dassl's split files.

    DATASET.ROOT/pacs/images/<domain>/<class>/<img>
    DATASET.ROOT/pacs/splits/<domain>_{train,crossval}_kfold.txt

Shots come from `train_kfold`, the test split is `crossval_kfold` of every
domain. Labels in the files are 1-based. Missing data is downloaded from
the Google Drive file Dassl uses.
"""
import os.path as osp

from .adu_base import ADUDatasetBase, register
from .download import ensure_dataset, gdrive_url

GDRIVE_ID = "1m4X4fROCCXMO0lRLrr6Zz9Vb3974NWhE"


@register("pacs")
class PACS(ADUDatasetBase):
    dataset_dir = "pacs"
    # Photo first: the order of ADU-METHOD.md's table, not Dassl's.
    domains = ["photo", "art_painting", "cartoon", "sketch"]
    data_help = ("Dassl's pacs.zip, downloaded automatically, or by hand from "
                 f"{gdrive_url(GDRIVE_ID)}")
    # Dassl leaves this file out: it cannot be decoded.
    broken_images = ("sketch/dog/n02103406_4068-1.png",)

    def prepare(self, cfg):
        ensure_dataset(GDRIVE_ID, self.dataset_dir, "pacs.zip",
                       markers=["images", "splits"])
        split_dir = osp.join(self.dataset_dir, "splits")
        self.splits = self.read_listed_splits(
            {split: [(d, osp.join(split_dir, f"{d}_{split}_kfold.txt")) for d in self.domains]
             for split in ("train", "crossval")},
            image_dir=osp.join(self.dataset_dir, "images"),
            label_offset=-1,
            ignore=self.broken_images,
        )

    def read_train_pool(self):
        return self.splits["train"]

    def read_test(self):
        return self.splits["crossval"]
