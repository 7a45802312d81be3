"""Where the repository is, and how a run writes its files.

Kept free of Dassl and of the rest of the package, so that train.py, the
engine, the tools and experiments/ can all import it without a cycle.
"""
import json
import os
import os.path as osp
import re
from contextlib import contextmanager, suppress

# The repository root: configs name files relative to it (assets/...), and
# run_info.json records its git commit.
PROJECT_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def repo_path(path: str) -> str:
    """`path` as given when it exists (or is absolute); else, when it exists
    there, relative to the repository root, so that the configs' `assets/...`
    paths work from any working directory."""
    path = osp.expanduser(path)
    if osp.isabs(path) or osp.exists(path):
        return path
    in_repo = osp.join(PROJECT_ROOT, path)
    return in_repo if osp.exists(in_repo) else path


# Temporary files of atomic_write: hidden, and named after the file and the
# writing process, so that no glob for the real files (model.pth.tar-*) sees them.
TEMP_PATTERN = re.compile(r"^\.(.+)\.(\d+)\.tmp$")


def temp_path(path: str) -> str:
    folder, name = osp.split(osp.abspath(path))
    return osp.join(folder, f".{name}.{os.getpid()}.tmp")


def create_new(path: str, mode: str = "w"):
    """A new file at `path`, opened for writing, that no link redirects: what
    is at `path` (a stale temporary, a planted link) is removed first, never
    followed, and the file is created exclusively (O_EXCL | O_NOFOLLOW)."""
    with suppress(FileNotFoundError):
        os.unlink(path)  # a link itself, not its target
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, 0o644)
    return os.fdopen(fd, mode)


@contextmanager
def atomic_write(path: str, mode: str = "w"):
    """Open a temporary file beside `path`; when the block ends without an
    error, flush it to disk and rename it over `path`.

    A run killed at any moment (preempted, out of memory, a dead node)
    therefore leaves `path` as it was before, or complete, never
    half-written: os.replace within one folder is atomic. On an error the
    temporary file is removed and `path` is untouched. Neither write follows a
    symbolic link planted at `path` or at the temporary name: the temporary
    file is created new (create_new), and os.replace replaces a link at
    `path` by the file instead of writing through it.
    """
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = temp_path(path)
    try:
        with create_new(tmp, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with suppress(OSError):
            os.remove(tmp)
        raise
    sync_folder(folder)


def sync_folder(folder: str) -> None:
    """Make a rename in `folder` survive a power loss too (POSIX only)."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json_atomic(path: str, obj) -> None:
    """Write JSON so that a reader never sees a half-written file."""
    with atomic_write(path) as f:
        json.dump(obj, f, indent=2)


def stale_temporaries(folder: str) -> list:
    """Temporary files that a killed run's atomic_write left in `folder`, to
    be removed before this process writes there again: those of processes
    that are gone (a rerun may get the killed run's process id back, so this
    process's own count as gone too: it writes nothing there while asking)."""
    if not osp.isdir(folder):
        return []
    stale = []
    for name in sorted(os.listdir(folder)):
        m = TEMP_PATTERN.match(name)
        if m and not other_process_alive(int(m.group(2))):
            stale.append(osp.join(folder, name))
    return stale


def other_process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
