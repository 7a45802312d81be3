"""Listing and reading dataset files: the images of a folder, its class
folders, a tree of class folders, the lines of a split file and CoOp's
classnames.txt. Shared by the readers (adu_base.py and the datasets), the
toy renderer (toy_render.py) and the data check (preflight.py); plain
Python, so that none of them needs Dassl for it."""
import os
import os.path as osp

from user_errors import DataError

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp")


def list_images(folder: str, exts=IMAGE_EXTS):
    """Sorted image files directly inside `folder` (hidden files skipped)."""
    return sorted(
        osp.join(folder, f) for f in os.listdir(folder)
        if not f.startswith(".") and f.lower().endswith(exts)
    )


def list_class_folders(folder: str):
    """Sorted non-hidden sub-folders of `folder` (one per class)."""
    return sorted(f for f in os.listdir(folder)
                  if not f.startswith(".") and osp.isdir(osp.join(folder, f)))


def read_class_folders(folders: dict, classes=None):
    """Every image of `folders` ({domain: folder of class folders}) as
    (path, label, domain, class folder), by domain, then class, then file.

    The label is the class folder's index in `classes`; without `classes`,
    in the folder's own sorted class folders (the data check has made sure
    that every folder holds the same ones, so the labels agree).
    """
    items = []
    for domain, folder in folders.items():
        for label, cname in enumerate(list_class_folders(folder) if classes is None
                                      else classes):
            items += [(path, label, domain, cname)
                      for path in list_images(osp.join(folder, cname))]
    return items


def read_split_file(path: str):
    """Lines 'relative/path label' of a split file -> [(relpath, int label)]."""
    items = []
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                relpath, label = line.rsplit(None, 1)
                items.append((relpath, int(label)))
            except ValueError:
                raise DataError(
                    f"{path}, line {lineno}: expected 'path label', got {line!r}; "
                    "the split file is damaged, download it again."
                ) from None
    return items


def read_classnames(path: str):
    """CoOp's classnames.txt ('<wnid> <class name>' lines) -> {wnid: class name}."""
    names = {}
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            parts = line.strip().split(None, 1)
            if not parts:
                continue
            if len(parts) != 2:
                raise DataError(f"{path}, line {lineno}: expected '<wnid> <class name>', "
                                f"got {line.strip()!r}; get CoOp's classnames.txt again.")
            names[parts[0]] = " ".join(parts[1].split())
    return names
