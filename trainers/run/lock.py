"""One run per folder: an exclusive lock on the run folder.

Two train.py processes in one --output-dir (a double submission, a SLURM
requeue while the old task still runs, two sweeps over one OUTPUT) used to
both train and mix their checkpoints and results. train.py therefore holds
an advisory `fcntl.flock` on `<folder>/.run.lock` from before it reads or
writes anything there until it exits. The kernel releases it when the
process dies, however it dies, so a killed run never leaves a stale lock:
the file may stay, the lock does not. The file holds the holder's pid and
host, to name them to whoever finds the folder taken.

Plain Python (fcntl, POSIX); the launcher asks `holder` to skip a running run.
"""
import fcntl
import os
import os.path as osp
import socket
import time

from user_errors import PathTakenError

LOCK_FILE = ".run.lock"
# The launcher takes a run's lock before it writes the run's job.log, and
# hands the locked descriptor to its train.py under this variable.
INHERITED_ENV = "ADU_RUN_LOCK_FD"
# Seconds between two tries while waiting for a lock (wait_s > 0).
POLL_S = 0.5


class FolderBusyError(PathTakenError):
    """Another live process holds the run folder's lock."""


def lock_path(folder: str) -> str:
    return osp.join(folder, LOCK_FILE)


def read_holder(path: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip() or "a process that has not named itself yet"
    except OSError:
        return "an unknown process"


def try_lock(path: str):
    """An open descriptor holding the lock on `path`, or None when another
    process holds it. The file we locked must still be the one at `path`
    (a refused run removes its new folder, lock file included)."""
    # O_NOFOLLOW: a link planted at the lock's name is refused (ELOOP), not written through.
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    try:
        same = os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        same = False
    if not same:
        os.close(fd)
        return try_lock(path)
    return fd


class RunLock:
    """The held lock of one run folder (see the module docstring)."""

    def __init__(self, folder: str, wait_s: float = 0.0):
        """Take the folder's lock, waiting up to `wait_s` seconds for another
        holder to end, and write our pid and host into it; FolderBusyError
        when it stays taken."""
        self.path = lock_path(folder)
        # A refused run removes the lock file only if it made it.
        self.made_file = not osp.exists(self.path)
        deadline = time.monotonic() + wait_s
        while (fd := try_lock(self.path)) is None:
            if time.monotonic() >= deadline:
                waited = f" (waited {wait_s:g} s)" if wait_s > 0 else ""
                raise FolderBusyError(
                    f"{folder} is in use by another train.py ({read_holder(self.path)})"
                    f"{waited}: wait for it to end, or give this run another --output-dir")
            time.sleep(POLL_S)
        self.fd = fd
        self.name_holder()

    def name_holder(self) -> None:
        self.previous = os.pread(self.fd, 4096, 0)  # put back by a refused run
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)

    @classmethod
    def inherited(cls, folder: str):
        """The lock of `folder` that the launcher took and handed to this
        process (INHERITED_ENV), or None when there is none for this folder."""
        try:
            fd = int(os.environ.get(INHERITED_ENV, ""))
            same = os.fstat(fd).st_ino == os.stat(lock_path(folder)).st_ino
        except (ValueError, OSError):
            return None
        if not same:
            return None
        lock = cls.__new__(cls)
        lock.path, lock.fd, lock.made_file = lock_path(folder), fd, False
        lock.name_holder()
        return lock

    def release(self, remove: bool = False, restore: bool = False) -> None:
        """Drop the lock; `remove` deletes the file first, while still holding
        it (a refused run removes the folder it made); `restore` puts back
        what the file said before (a refused run leaves a folder as it was)."""
        if self.fd is None:
            return
        if remove:
            try:
                os.remove(self.path)
            except OSError:
                pass
        elif restore:
            os.ftruncate(self.fd, 0)
            os.pwrite(self.fd, self.previous, 0)
        os.close(self.fd)
        self.fd = None


def holder(folder: str):
    """Who holds `folder`'s lock ("pid P on HOST"), or None when nobody does.
    Takes and drops the lock to ask, so it never blocks a run."""
    path = lock_path(folder)
    if not osp.isfile(path):
        return None
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return read_holder(path)
    finally:
        os.close(fd)
    return None
