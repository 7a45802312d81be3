"""Office-Home in Dassl's `office_home_dg` layout (65 classes, 4 domains).

    DATASET.ROOT/office_home_dg/<domain>/{train,val}/<Class_Name>/*.jpg

Shots come from `train`; the test split is `val` of every domain. Missing
data is downloaded from the Google Drive file Dassl uses.
"""
import os.path as osp

from .adu_base import ADUDatasetBase, list_class_folders, register
from .download import ensure_dataset, gdrive_url

GDRIVE_ID = "1gkbf_KaxoBws-GWT3XIPZ7BnkqbAxIFa"


@register("office_home")
class OfficeHome(ADUDatasetBase):
    dataset_dir = "office_home_dg"
    domains = ["art", "clipart", "product", "real_world"]
    data_help = ("Dassl's office_home_dg.zip, downloaded automatically, or by "
                 f"hand from {gdrive_url(GDRIVE_ID)}")

    def prepare(self, cfg):
        ensure_dataset(GDRIVE_ID, self.dataset_dir, "office_home_dg.zip",
                       markers=[f"{d}/{s}" for d in self.domains for s in ("train", "val")])

    def read_split(self, split):
        items = []
        classes = None
        for dname in self.domains:
            split_dir = osp.join(self.dataset_dir, dname, split)
            self.require_paths(split_dir)
            folders = list_class_folders(split_dir)
            if classes is None:
                classes = folders
            elif folders != classes:
                diff = sorted(set(folders) ^ set(classes))
                raise ValueError(
                    f"OfficeHome: the class folders of {split_dir} differ from those "
                    f"of '{self.domains[0]}' ({', '.join(diff[:5])}); every domain "
                    "needs the same classes, re-extract office_home_dg."
                )
            for label, cname in enumerate(folders):
                images = self.list_class_images(osp.join(split_dir, cname))
                items += [self.make_datum(p, label, dname, cname) for p in images]
        return items

    def read_train_pool(self):
        return self.read_split("train")

    def read_test(self):
        return self.read_split("val")
