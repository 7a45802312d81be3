"""The run folder from train.py's first write to its exit.

`open_run_folder` makes --output-dir (an OS error there is one line:
os_errors.py), takes its lock (lock.py) before anything in it is read, and
says whether this process made it. A run refused before it trained
(`discard_if_refused`) removes the folder it made, so a mistyped command
leaves nothing behind; a folder that holds more than the files a run writes
at its start (checkpoints, results, another's files) is always kept.
"""
import os
import os.path as osp
import shutil

from user_errors import PathTakenError

from .lock import LOCK_FILE, RunLock
from .os_errors import os_error_line

# What train.py writes into a new folder before it trains: the lock, Dassl's
# log, config.yaml and run_info.json.
SETUP_FILES = {LOCK_FILE, "log.txt", "config.yaml", "run_info.json"}


# What a run writes in place (Dassl's log, tensorboard's folder; the lock is
# opened with O_NOFOLLOW), which a link there would redirect; the other files are written by files.atomic_write,
# which replaces a link instead of following it.
WRITTEN_IN_PLACE = ("log.txt", "tensorboard")


class FolderError(PathTakenError):
    """--output-dir cannot be made or written."""


def refuse_planted_links(folder: str) -> None:
    """One line when a file the run writes in place is a symbolic link: the
    run would write through it, into whatever it points at."""
    for name in (*WRITTEN_IN_PLACE, LOCK_FILE):
        path = osp.join(folder, name)
        if osp.islink(path):
            raise FolderError(
                f"{path} is a symbolic link (to {os.readlink(path)}): a run writes its "
                "own files and never through a link in its folder; remove the link")


def first_missing(folder: str) -> str:
    """The topmost folder of `folder`'s path that does not exist yet."""
    folder = osp.abspath(folder)
    while not osp.lexists(osp.dirname(folder)) and osp.dirname(folder) != folder:
        folder = osp.dirname(folder)
    return folder


def make_folder(folder: str):
    """Make `folder` (and its parents); the topmost folder this made, or
    None when `folder` was there."""
    if osp.isdir(folder):
        return None
    if osp.lexists(folder):
        what = ("a symbolic link to a missing " + os.readlink(folder)
                if osp.islink(folder) else "a file")
        raise FolderError(f"--output-dir {folder} is {what}, not a folder: remove it or "
                          "use another --output-dir")
    top = first_missing(folder)
    try:
        os.makedirs(folder)
    except OSError as err:
        line = os_error_line(err, folder, resumes=False)
        if line is None:
            raise
        raise FolderError(line) from None
    return top


class RunFolder:
    def __init__(self, folder: str, lock_wait_s: float = 0.0):
        self.folder = folder
        self.created = make_folder(folder)
        refuse_planted_links(folder)
        try:
            self.lock = RunLock.inherited(folder) or RunLock(folder, lock_wait_s)
        except OSError as err:  # a folder we may not write to
            line = os_error_line(err, folder, resumes=False)
            if line is None:
                raise
            self.remove_if_created()
            raise FolderError(line) from None
        except BaseException:
            self.remove_if_created()
            raise

    def remove_if_created(self) -> None:
        """Remove the run folder this made, then each parent this made while
        it is empty (another run may have made its folder in one meanwhile)."""
        if not self.created:
            return
        shutil.rmtree(self.folder, ignore_errors=True)
        folder = osp.dirname(osp.abspath(self.folder))
        top = osp.abspath(self.created)
        while folder.startswith(top):
            try:
                os.rmdir(folder)
            except OSError:
                return
            folder = osp.dirname(folder)

    def discard_if_refused(self) -> None:
        """After a refusal: remove the lock file if this run made it (safe
        while holding it: see lock.try_lock), else put back its old text; and
        remove the folder when this run made it and it holds only the files
        written at the start."""
        only_setup = bool(self.created) and set(os.listdir(self.folder)) <= SETUP_FILES
        self.lock.release(remove=self.lock.made_file, restore=True)
        if only_setup:
            self.remove_if_created()
