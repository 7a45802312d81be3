"""Office-Home in Dassl's `office_home_dg` layout (65 classes, 4 domains).

    DATASET.ROOT/office_home_dg/<domain>/{train,val}/<Class_Name>/*.jpg

Shots come from `train`; the test split is `val` of every domain. Missing
data is downloaded from the Google Drive file Dassl uses.
"""
import os.path as osp

from .adu_base import ADUDatasetBase, register
from .download import gdrive_url
from .files import list_class_folders, list_images
from .preflight import Download, Layout

GDRIVE_ID = "1gkbf_KaxoBws-GWT3XIPZ7BnkqbAxIFa"
SPLITS = ("train", "val")


@register("office_home")
class OfficeHome(ADUDatasetBase):
    dataset_dir = "office_home_dg"
    domains = ["art", "clipart", "product", "real_world"]
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

    def read_split(self, split):
        # The preflight (check_class_dirs) has made sure that every domain
        # and split holds the same class folders, so labels agree.
        items = []
        for dname in self.domains:
            split_dir = self.layout.class_dirs[(dname, split)]
            for label, cname in enumerate(list_class_folders(split_dir)):
                images = list_images(osp.join(split_dir, cname))
                items += [self.make_datum(p, label, dname, cname) for p in images]
        return items

    def read_train_pool(self):
        return self.read_split("train")

    def read_test(self):
        return self.read_split("val")
