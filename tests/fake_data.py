"""Tiny fake dataset trees in the real on-disk layouts (8x8 images), for tests.

Each image's colour depends on its class and domain (plus a little noise),
so a model trained on a fake tree has something to learn. Nothing here
needs Dassl except `make_cfg`. Tests in tests/ import it as `fake_data`
(pytest puts that folder on sys.path), e.g.
`root = tmp_path; make_office_home(str(root), num_classes=2)` then
`make_cfg(root, "office_home", ["art"])` for an end-to-end trainer test.
"""
import os
import os.path as osp
import zipfile

from PIL import Image

OFFICE_HOME_DOMAINS = ["art", "clipart", "product", "real_world"]
TOY_DOMAINS = ["photo", "sketch", "clipart", "painting"]  # datasets/toy_render.py
OFFICE_HOME_CLASSES = ["Alarm_Clock", "Back_Pack", "Bike", "Desk_Lamp", "Flipflops",
                       "Push_Pin", "TV", "Toothbrush"]
MINI_DOMAINNET_DOMAINS = ["clipart", "painting", "real", "sketch"]
DOMAINNET_DOMAINS = ["clipart", "infograph", "painting", "quickdraw", "real", "sketch"]
DOMAINNET_CLASSES = ["aircraft_carrier", "The_Eiffel_Tower", "teddy-bear", "zebra"]
PACS_DOMAINS = ["photo", "art_painting", "cartoon", "sketch"]
PACS_CLASSES = ["dog", "elephant", "giraffe", "guitar", "horse", "house", "person"]


def write_image(path: str, label: int = 0, domain: int = 0, index: int = 0):
    """An 8x8 RGB image; the format follows the file extension."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    base = ((40 * label) % 256, (70 * domain) % 256, (11 * index) % 256)
    img = Image.new("RGB", (8, 8), base)
    img.putpixel((index % 8, (index // 8) % 8), (255, 255, 255))
    img.save(path)
    return path


def write_broken_image(path: str):
    """A file with an image extension that PIL cannot open."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(b"this is not an image")
    return path


def write_truncated_image(path: str):
    """A JPEG cut short: its header reads (PIL opens it, the size is known),
    its pixels do not decode ("image file is truncated")."""
    import random
    os.makedirs(osp.dirname(path), exist_ok=True)
    rng = random.Random(path)
    img = Image.new("RGB", (64, 64))
    img.putdata([tuple(rng.randrange(256) for _ in range(3)) for _ in range(64 * 64)])
    img.save(path, quality=95)
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[:len(data) // 2])
    return path


def make_office_home(root, num_classes=3, train_per_pair=4, val_per_pair=2,
                     domains=OFFICE_HOME_DOMAINS):
    """ROOT/office_home_dg/<domain>/{train,val}/<Class>/*.jpg; returns the dataset folder."""
    if num_classes > len(OFFICE_HOME_CLASSES):
        classes = [f"Class_{i:03d}" for i in range(num_classes)]
    else:
        classes = OFFICE_HOME_CLASSES[:num_classes]
    top = osp.join(root, "office_home_dg")
    for d, dname in enumerate(domains):
        for split, n in (("train", train_per_pair), ("val", val_per_pair)):
            for label, cname in enumerate(sorted(classes)):
                for i in range(n):
                    write_image(osp.join(top, dname, split, cname, f"{split}_{i:05d}.jpg"),
                                label, d, i)
    return top


def write_listed_split(top, split_file, domain, domain_idx, classes, n, prefix,
                       label_base=0, ext="jpg", label_of=None):
    """Images top/<domain>/<class>/<prefix>_<i>.<ext> and their split-file lines."""
    lines = []
    for label, cname in enumerate(classes):
        for i in range(n):
            rel = f"{domain}/{cname}/{prefix}_{i:05d}.{ext}"
            write_image(osp.join(top, rel), label, domain_idx, i)
            file_label = label_of[cname] if label_of else label + label_base
            lines.append(f"{rel} {file_label}")
    os.makedirs(osp.dirname(split_file), exist_ok=True)
    with open(split_file, "w") as f:
        f.write("\n".join(lines) + "\n")


def make_domainnet(root, domains=DOMAINNET_DOMAINS, classes=DOMAINNET_CLASSES,
                   train_per_pair=4, test_per_pair=2, split_folder="splits",
                   label_of=None):
    """ROOT/domainnet/<domain>/<class>/*.jpg and <split_folder>/<domain>_{train,test}.txt.

    `label_of` maps class name -> the label written in the files (default:
    the class's index in `classes`).
    """
    top = osp.join(root, "domainnet")
    for d, dname in enumerate(domains):
        for split, n in (("train", train_per_pair), ("test", test_per_pair)):
            write_listed_split(top, osp.join(top, split_folder, f"{dname}_{split}.txt"),
                               dname, d, classes, n, f"{dname}_{split}", label_of=label_of)
    return top


def make_mini_domainnet(root, **kwargs):
    kwargs.setdefault("domains", MINI_DOMAINNET_DOMAINS)
    return make_domainnet(root, split_folder="splits_mini", **kwargs)


def make_pacs(root, classes=PACS_CLASSES, train_per_pair=4, test_per_pair=2):
    """ROOT/pacs/images/<domain>/<class>/* and splits/<domain>_{train,crossval}_kfold.txt
    with 1-based labels, as in Dassl's copy."""
    top = osp.join(root, "pacs")
    for d, dname in enumerate(PACS_DOMAINS):
        ext = "png" if dname == "sketch" else "jpg"
        for split, n in (("train", train_per_pair), ("crossval", test_per_pair)):
            write_listed_split(osp.join(top, "images"),
                               osp.join(top, "splits", f"{dname}_{split}_kfold.txt"),
                               dname, d, classes, n, split, label_base=1, ext=ext)
    return top


def fake_wnids(num_classes):
    return [f"n{1440764 + 7 * i:08d}" for i in range(num_classes)]


def make_imagenet(root, num_classes=3, train_per_class=4, val_per_class=2,
                  sketch_per_class=10):
    """CoOp's ImageNet layout plus ImageNet-Sketch; returns (imagenet, sketch) folders."""
    top = osp.join(root, "imagenet")
    sketch = osp.join(root, "imagenet-sketch", "images")
    wnids = fake_wnids(num_classes)
    os.makedirs(top, exist_ok=True)
    with open(osp.join(top, "classnames.txt"), "w") as f:
        for i, wnid in enumerate(wnids):
            f.write(f"{wnid} Class-Name {i}\n")
    for label, wnid in enumerate(wnids):
        for split, n in (("train", train_per_class), ("val", val_per_class)):
            for i in range(n):
                write_image(osp.join(top, "images", split, wnid, f"{wnid}_{i}.JPEG"),
                            label, 0, i)
        for i in range(sketch_per_class):
            write_image(osp.join(sketch, wnid, f"sketch_{i}.JPEG"), label, 1, i)
    return top, sketch


def zip_folder(folder, zip_path, arc_root=None):
    """Zip `folder` so that its members start with `arc_root/` (default: its name)."""
    arc_root = osp.basename(folder) if arc_root is None else arc_root
    with zipfile.ZipFile(zip_path, "w") as zf:
        for dirpath, _, files in os.walk(folder):
            for name in sorted(files):
                path = osp.join(dirpath, name)
                zf.write(path, osp.join(arc_root, osp.relpath(path, folder)))
    return zip_path


def make_cfg(root, name, forget, num_shots=2, seed=1):
    """A Dassl config with the project's keys, for dataset `name`."""
    from dassl.config import get_cfg_default

    from trainers.config import extend_cfg

    cfg = get_cfg_default()
    extend_cfg(cfg)
    cfg.DATASET.ROOT = str(root)
    cfg.DATASET.NAME = name
    cfg.DATASET.FORGET_DOMAINS = list(forget)
    cfg.DATASET.NUM_SHOTS = num_shots
    cfg.SEED = seed
    return cfg
