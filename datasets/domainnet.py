"""DomainNet (6 domains, 345 classes) and Mini DomainNet (4 domains, 126
classes) in Dassl's layout, with the official split files.

    DATASET.ROOT/domainnet/<domain>/<class>/<img>.jpg
    DATASET.ROOT/domainnet/splits/<domain>_{train,test}.txt        (DomainNet)
    DATASET.ROOT/domainnet/splits_mini/<domain>_{train,test}.txt   (Mini DomainNet)

Shots come from the train files, the test split is the test files. The
images have no automatic download (see docs/DATASETS.md); the Mini DomainNet
split files do, from the Google Drive file Dassl's DATASETS.md links.
"""
import os.path as osp
from dataclasses import replace

from dassl.data.datasets import DATASET_REGISTRY

from .adu_base import ADUDatasetBase
from .domain_lists import DOMAINS
from .download import gdrive_url
from .preflight import Download, Layout

DOMAINNET_URL = "http://ai.bu.edu/M3SDA/"
SPLITS_MINI_GDRIVE_ID = "15rrLDCrzyi6ZY-1vJar3u7plgLe4COL7"
SPLITS = ("train", "test")


@DATASET_REGISTRY.register()
class domainnet(ADUDatasetBase):
    dataset_dir = "domainnet"
    domains = DOMAINS["domainnet"]
    data_help = (f"DomainNet images and the cleaned split files from {DOMAINNET_URL}, "
                 "each domain zip extracted to domainnet/<domain>, the txt files to "
                 "domainnet/splits")
    split_folder = "splits"
    # The official train files may leave a (class, domain) pair empty
    # (Dassl notes t-shirt in painting_train.txt): warn and give it no shots
    # rather than refuse the official splits.
    require_all_pairs = False

    @classmethod
    def expected_layout(cls, root):
        top = osp.join(root, cls.dataset_dir)
        split_dir = osp.join(top, cls.split_folder)
        return Layout(
            help=cls.data_help,
            folders=tuple((osp.join(top, d), f"image folder of {d}") for d in cls.domains),
            split_files={s: tuple((d, osp.join(split_dir, f"{d}_{s}.txt"))
                                  for d in cls.domains)
                         for s in SPLITS},
            image_dir=top,
        )

    def read_splits(self):
        return self.read_listed_splits()


@DATASET_REGISTRY.register()
class mini_domainnet(domainnet):
    domains = DOMAINS["mini_domainnet"]
    data_help = (f"DomainNet images from {DOMAINNET_URL}, each domain zip extracted "
                 "to domainnet/<domain>; the splits_mini files are downloaded "
                 f"automatically, or by hand from {gdrive_url(SPLITS_MINI_GDRIVE_ID)}")
    split_folder = "splits_mini"

    @classmethod
    def expected_layout(cls, root):
        layout = super().expected_layout(root)
        split_dir = osp.join(root, cls.dataset_dir, cls.split_folder)
        markers = tuple(f"{d}_{s}.txt" for d in cls.domains for s in SPLITS)
        return replace(layout, downloads=(
            Download(split_dir, SPLITS_MINI_GDRIVE_ID, "splits_mini.zip", markers),))
