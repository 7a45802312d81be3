"""The header scan of a test split, cached by the files' sizes and mtimes.

Opening the header of each of 10^5 test images at every run start costs
seconds to minutes on a network file system; a stat of each costs far less.
The cache holds, per set of paths (one file per dataset root and split), the
sha256 of every path with its size and mtime (ns), and the problems found:
when the digest is the same the files are the same, and nothing is opened.
Any change (a file replaced, added, touched) scans again. The cache lives
under ADU_CACHE_DIR (default ~/.cache/adu/image_scan), written atomically;
one that cannot be read or written is only a slower start.
"""
import hashlib
import json
import os
import os.path as osp

VERSION = 1


def cache_folder(cache_dir: str = None) -> str:
    return cache_dir or osp.join(os.environ.get("ADU_CACHE_DIR")
                                 or osp.join(osp.expanduser("~"), ".cache", "adu"),
                                 "image_scan")


def files_digest(paths) -> str:
    """sha256 of every path with its size and mtime; a missing file counts as -1."""
    h = hashlib.sha256()
    for path in paths:
        try:
            st = os.stat(path)
            stamp = f"{st.st_size} {st.st_mtime_ns}"
        except OSError:
            stamp = "-1"
        h.update(f"{path}\0{stamp}\n".encode())
    return h.hexdigest()


def cache_file(paths, folder: str) -> str:
    """One file per set of paths' common folder (a dataset root and split)."""
    common = osp.commonpath(paths) if paths else ""
    name = hashlib.sha256(f"{VERSION}:{common}:{len(paths)}".encode()).hexdigest()[:24]
    return osp.join(folder, f"{name}.json")


def cached_scan(paths, scan, cache_dir: str = None) -> dict:
    """scan(paths) -> {path: problem}, or the cached answer for the same files."""
    if not paths:
        return {}
    folder = cache_folder(cache_dir)
    path = cache_file(paths, folder)
    digest = files_digest(paths)
    try:
        with open(path) as f:
            cached = json.load(f)
        if cached.get("digest") == digest:
            return dict(cached["problems"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    problems = scan(paths)
    try:
        os.makedirs(folder, exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            json.dump({"digest": digest, "problems": problems}, f)
        os.replace(tmp, path)
    except OSError:
        pass  # no cache: the next start scans again
    return problems
