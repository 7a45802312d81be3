"""A sha256 beside each checkpoint, checked before a resume or an evaluation trusts it.

torch does not verify a checkpoint's archive on load: one flipped byte
inside a tensor loads, and a resume trained on from damaged weights (or
stopped at a NaN on every rerun). Each checkpoint therefore gets
`<file>.sha256` (sha256sum's format), written atomically after it; a
checkpoint whose digest differs is not trusted. A checkpoint without one
(written before this, or a run killed between the two writes) is checked by
loading it only, as before.
"""
import hashlib
import os.path as osp

from .files import atomic_write

SUFFIX = ".sha256"


def digest_path(path: str) -> str:
    return path + SUFFIX


def file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_digest(path: str) -> None:
    with atomic_write(digest_path(path)) as f:
        f.write(f"{file_sha256(path)}  {osp.basename(path)}\n")


def recorded_digest(path: str):
    """The digest recorded beside `path`, or None when there is none."""
    try:
        with open(digest_path(path)) as f:
            return f.read().split()[0]
    except (OSError, IndexError):
        return None


def verify(path: str) -> None:
    """ValueError when `path` differs from its recorded sha256."""
    expected = recorded_digest(path)
    if expected is not None and file_sha256(path) != expected:
        raise ValueError(f"its sha256 differs from {osp.basename(digest_path(path))}: the "
                         "file changed after it was written (a damaged disk or copy)")
