"""Listing and reading dataset files: the images of a folder, its class
folders, and the lines of a split file. Shared by the readers (adu_base.py)
and the data check (preflight.py)."""
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
