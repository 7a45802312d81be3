"""Office-Home in Dassl's `office_home_dg` layout (65 classes, 4 domains).

    DATASET.ROOT/office_home_dg/<domain>/{train,val}/<Class_Name>/*.jpg

Shots come from `train`; the test split is `val` of every domain. Missing
data is downloaded from the Google Drive file Dassl uses.
"""
import os.path as osp

from dassl.data.datasets import DATASET_REGISTRY

from .adu_base import ADUDatasetBase
from .domain_lists import DOMAINS
from .download import gdrive_url
from .preflight import Download, Layout

GDRIVE_ID = "1gkbf_KaxoBws-GWT3XIPZ7BnkqbAxIFa"
SPLITS = ("train", "val")


@DATASET_REGISTRY.register()
class office_home(ADUDatasetBase):
    dataset_dir = "office_home_dg"
    domains = DOMAINS["office_home"]
    data_help = ("Dassl's office_home_dg.zip, downloaded automatically, or by "
                 f"hand from {gdrive_url(GDRIVE_ID)}")

    @classmethod
    def expected_layout(cls, root):
        top = osp.join(root, cls.dataset_dir)
        return Layout(
            help=cls.data_help,
            class_dirs={(d, s): osp.join(top, d, s) for d in cls.domains for s in SPLITS},
            downloads=(Download(top, GDRIVE_ID, "office_home_dg.zip",
                                tuple(f"{d}/{s}" for d in cls.domains for s in SPLITS)),),
        )

    def read_splits(self):
        # Labels: the sorted class folders, the same in every domain and
        # split (the preflight's check_class_dirs has made sure of it).
        return {"train": self.read_class_dirs("train"), "test": self.read_class_dirs("val")}
