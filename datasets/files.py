"""Listing and reading dataset files: the images of a folder, its class
folders, a tree of class folders, the lines of a split file and CoOp's
classnames.txt, and an image as the RGB a person sees (`read_rgb`). Shared
by the readers (adu_base.py and the datasets, the training and test loaders
of trainers/engine/), the toy renderer (toy_render.py), the data check
(preflight.py, image_check.py) and tools/predict.py; plain Python and PIL,
so that none of them needs Dassl for it."""
import os
import os.path as osp
import stat

import numpy as np
from PIL import Image

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


# ----- one image, as a person sees it -----------------------------------------------

class NotRegularFileError(OSError):
    """A FIFO, socket or device where an image file was expected."""


def open_regular(path: str):
    """`path` opened for binary reading when it is a regular file (after
    following links); a FIFO, socket or device raises NotRegularFileError
    at once: the open does not wait for a writer (O_NONBLOCK), and the
    check is made on the opened file, not on its name."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        kind = os.fstat(fd).st_mode
        if not stat.S_ISREG(kind):
            raise NotRegularFileError(f"not a regular file ({describe_mode(kind)})")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def describe_mode(kind: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISDIR, "a folder")):
        if test(kind):
            return name
    return "not a plain file"


# Modes of one 16-bit (or 32-bit integer) channel: read as 16-bit, scaled to 8.
SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N", "I")
WHITE = (255, 255, 255)


def has_transparency(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info


def to_rgb(image: Image.Image) -> Image.Image:
    """The 8-bit RGB image a person sees in `image`, whatever its mode:

    - RGB as it is (a copy), 1 / L / P / CMYK / YCbCr through Pillow's own
      conversion;
    - transparent images (RGBA, LA, PA, a palette or grey with a transparent
      colour) composited on white, as a page shows them, instead of the
      colour hidden under alpha 0;
    - one 16-bit channel (I;16*, and I, read as 16-bit) scaled to 8 bits
      (v / 257, rounded), where Pillow would clip everything above 255 to
      white; F (float) read as [0, 1], scaled to 0-255, clipped.
    """
    mode = image.mode
    if mode == "RGB":
        return image.convert("RGB")
    if mode in SIXTEEN_BIT or mode == "F":
        values = np.asarray(image, dtype=np.float64)
        values = values / 257.0 if mode != "F" else values * 255.0
        grey = np.clip(np.rint(values), 0, 255).astype(np.uint8)
        return Image.fromarray(grey, mode="L").convert("RGB")
    if has_transparency(image):
        rgba = image.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, WHITE + (255,)),
                                     rgba).convert("RGB")
    return image.convert("RGB")


def read_rgb(path: str) -> Image.Image:
    """The image at `path` (a regular file) as 8-bit RGB (`to_rgb`), decoded
    in full. PIL's errors (an unknown format, a truncated file, a
    decompression bomb) and NotRegularFileError propagate."""
    with open_regular(path) as f, Image.open(f) as image:
        return to_rgb(image)
