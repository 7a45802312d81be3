"""Office-Home in Dassl's `office_home_dg` layout (65 classes, 4 domains).

    DATASET.ROOT/office_home_dg/<domain>/{train,val}/<Class_Name>/*.jpg

Shots come from `train`; the test split is `val` of every domain.
"""
import os
import os.path as osp

from .adu_base import ADUDatasetBase, list_images, register


@register("office_home")
class OfficeHome(ADUDatasetBase):
    dataset_dir = "office_home_dg"
    domains = ["art", "clipart", "product", "real_world"]
    data_help = ("Dassl's office_home_dg.zip, downloaded automatically from "
                 "Google Drive, or by hand from the link in DATASETS.md")

    def read_split(self, split):
        items = []
        classes = None
        for dname in self.domains:
            split_dir = osp.join(self.dataset_dir, dname, split)
            self.require_paths(split_dir)
            folders = sorted(f for f in os.listdir(split_dir)
                             if osp.isdir(osp.join(split_dir, f)))
            if classes is None:
                classes = folders
            elif folders != classes:
                raise ValueError(
                    f"OfficeHome: {split_dir} has {len(folders)} class folders, "
                    f"other domains have {len(classes)}; the class lists must match."
                )
            for label, cname in enumerate(folders):
                images = list_images(osp.join(split_dir, cname))
                if not images:
                    raise ValueError(f"OfficeHome: empty class folder {osp.join(split_dir, cname)}")
                items += [self.make_datum(p, label, dname, cname) for p in images]
        return items

    def read_train_pool(self):
        return self.read_split("train")

    def read_test(self):
        return self.read_split("val")
