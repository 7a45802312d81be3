"""DomainNet (6 domains, 345 classes) and Mini DomainNet (4 domains, 126
classes) in Dassl's layout, with the official split files.

    DATASET.ROOT/domainnet/<domain>/<class>/<img>.jpg
    DATASET.ROOT/domainnet/splits/<domain>_{train,test}.txt        (DomainNet)
    DATASET.ROOT/domainnet/splits_mini/<domain>_{train,test}.txt   (Mini DomainNet)

Shots come from the train files, the test split is the test files. The
images have no automatic download (see DATASETS.md); the Mini DomainNet
split files do, from the Google Drive file Dassl's DATASETS.md links.
"""
import os.path as osp

from .adu_base import ADUDatasetBase, register
from .download import ensure_dataset, gdrive_url

DOMAINNET_URL = "http://ai.bu.edu/M3SDA/"
SPLITS_MINI_GDRIVE_ID = "15rrLDCrzyi6ZY-1vJar3u7plgLe4COL7"


@register("domainnet")
class DomainNet(ADUDatasetBase):
    dataset_dir = "domainnet"
    domains = ["clipart", "infograph", "painting", "quickdraw", "real", "sketch"]
    data_help = (f"DomainNet images and the cleaned split files from {DOMAINNET_URL}, "
                 "each domain zip extracted to domainnet/<domain>, the txt files to "
                 "domainnet/splits")
    split_folder = "splits"
    # The official train files may leave a (class, domain) pair empty
    # (Dassl notes t-shirt in painting_train.txt): warn and give it no shots
    # rather than refuse the official splits.
    require_all_pairs = False

    def prepare(self, cfg):
        self.require_paths(*[osp.join(self.dataset_dir, d) for d in self.domains])
        self.prepare_split_files()
        split_dir = osp.join(self.dataset_dir, self.split_folder)
        self.splits = self.read_listed_splits(
            {split: [(d, osp.join(split_dir, f"{d}_{split}.txt")) for d in self.domains]
             for split in ("train", "test")},
            image_dir=self.dataset_dir,
        )

    def prepare_split_files(self):
        """DomainNet's split files come with the images; nothing to fetch."""

    def read_train_pool(self):
        return self.splits["train"]

    def read_test(self):
        return self.splits["test"]


@register("mini_domainnet")
class MiniDomainNet(DomainNet):
    domains = ["clipart", "painting", "real", "sketch"]
    data_help = (f"DomainNet images from {DOMAINNET_URL}, each domain zip extracted "
                 "to domainnet/<domain>; the splits_mini files are downloaded "
                 f"automatically, or by hand from {gdrive_url(SPLITS_MINI_GDRIVE_ID)}")
    split_folder = "splits_mini"

    def prepare_split_files(self):
        ensure_dataset(
            SPLITS_MINI_GDRIVE_ID, osp.join(self.dataset_dir, self.split_folder),
            "splits_mini.zip",
            markers=[f"{d}_{s}.txt" for d in self.domains for s in ("train", "test")],
        )
