"""What a dataset needs on disk, and the check that all of it is there.

Each dataset declares its `Layout` once (`expected_layout(root)`); its readers
take their paths from it, and `check_layout` walks the same layout before
anything is read. The dataset's `__init__` (so train.py) and
tools/check_data.py both run it, so the check cannot drift from the readers.

Nothing here downloads: a missing part that train.py would fetch is reported
with the archive it comes from.
"""
import os
import os.path as osp
from collections import defaultdict
from dataclasses import dataclass, field
from typing import NamedTuple

from user_errors import MissingFileError

from .download import gdrive_url
from .files import list_class_folders, list_images, read_classnames, read_split_file

# How many problems the one-line error of the trainer names.
NAMED_IN_ERROR = 5


class Download(NamedTuple):
    """A folder that train.py fetches from Google Drive when it is missing."""
    target: str       # absolute path of the folder
    gdrive_id: str
    archive: str      # file name of the zip, saved next to `target`
    markers: tuple    # paths relative to `target` that a complete copy holds


@dataclass(frozen=True)
class Layout:
    """Every path a dataset reads, for one DATASET.ROOT (all absolute)."""
    help: str                                        # where the data comes from
    folders: tuple = ()                              # (path, what): must exist
    files: tuple = ()                                # (path, what): must exist
    split_files: dict = field(default_factory=dict)  # split -> ((domain, file), ...)
    image_dir: str = ""                              # split-file paths are relative to it
    ignore: tuple = ()                               # split-file entries known to be broken
    class_dirs: dict = field(default_factory=dict)   # (domain, split) -> folder of class folders
    class_list: str = ""                             # a classnames.txt naming the class
                                                     # folders (else: the union of those found)
    downloads: tuple = ()                            # Download records

    def download_of(self, path):
        """The Download whose folder holds `path`, or None."""
        return next((d for d in self.downloads if is_within(path, d.target)), None)

    def can_fetch(self, download) -> bool:
        """Whether every path outside `download`'s folder is there: got by
        hand, they must be before it is fetched (Mini DomainNet's split files
        are no use without the DomainNet images)."""
        return all(osp.exists(p) for p, _ in self.files + self.folders
                   if not is_within(p, download.target))


class Problem(NamedTuple):
    issue: str   # "missing" or "empty class folder"
    path: str    # the absolute path expected
    what: str    # what it is
    how: str     # where to get it

    def short(self) -> str:
        return f"{self.issue} {self.path} ({self.what})"

    def line(self) -> str:
        return f"{self.short()}; {self.how}"


class Report(NamedTuple):
    problems: list
    counts: dict   # domain -> {split: images found}


def is_within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder + os.sep)


class Checker:
    """Collects problems; a path below a folder already reported missing is
    not reported again (one line for a missing domain, not one per image)."""

    def __init__(self, layout: Layout):
        self.layout = layout
        self.problems = []
        self.gone = []
        self.counts = defaultdict(lambda: defaultdict(int))

    def how(self, path):
        dl = self.layout.download_of(path)
        if dl is None:
            return f"get it: {self.layout.help}"
        archive = osp.join(osp.dirname(dl.target), dl.archive)
        if path != dl.target:  # a download only fetches a folder that is missing
            return (f"delete {dl.target} and train.py unpacks {archive} again "
                    "(downloading it if it is not there)")
        when = "" if self.layout.can_fetch(dl) else " once the other missing paths are there"
        return (f"train.py downloads it{when} ({dl.archive} from "
                f"{gdrive_url(dl.gdrive_id)}; offline, save that file as {archive})")

    def report(self, path, what, issue="missing", folder=False):
        if not any(is_within(path, g) for g in self.gone):
            self.problems.append(Problem(issue, path, what, self.how(path)))
            if folder and issue == "missing":
                self.gone.append(path)

    def expect(self, path, what, folder=True) -> bool:
        """Whether `path` is there (a folder, or a file); reports it if not."""
        if osp.isdir(path) if folder else osp.isfile(path):
            return True
        self.report(path, what, folder=folder)
        return False

    def run(self) -> Report:
        layout = self.layout
        # A download brings everything below it: one line for the whole folder.
        for dl in layout.downloads:
            self.expect(dl.target, f"folder unpacked from {dl.archive}")
        for path, what in layout.files:
            self.expect(path, what, folder=False)
        for path, what in layout.folders:
            self.expect(path, what)
        present = {}
        for split, files in layout.split_files.items():
            for domain, path in files:
                if self.expect(path, f"{split} split file of {domain}", folder=False):
                    present[(domain, split)] = path
        dirs = {key: folder for key, folder in layout.class_dirs.items()
                if self.expect(folder, f"{key[1]} folder of {key[0]}")}
        self.check_class_dirs(dirs)
        for (domain, split), path in present.items():
            self.check_listed_images(domain, split, path)
        return Report(self.problems, {d: dict(s) for d, s in self.counts.items()})

    def check_class_dirs(self, dirs):
        """Every class folder in every (domain, split) folder, none empty."""
        if not dirs:
            return
        listed = self.layout.class_list
        if listed:
            if not osp.isfile(listed):
                return  # reported with the other files
            classes = sorted(read_classnames(listed))
            source = f"listed in {osp.basename(listed)}"
        else:
            classes = sorted({c for folder in dirs.values() for c in list_class_folders(folder)})
            source = "other domains have it"
        for (domain, split), folder in dirs.items():
            for cname in classes:
                path = osp.join(folder, cname)
                if not self.expect(path, f"class folder of {domain} {split}; {source}"):
                    continue
                found = len(list_images(path))
                if not found:
                    self.report(path, f"{domain} {split}; no image in it",
                                issue="empty class folder")
                self.counts[domain][split] += found

    def check_listed_images(self, domain, split, split_file):
        """Every image a split file names. One listing per folder rather than
        a stat per image: a missing folder is one line, and on a 600k-entry
        DomainNet-sized tree it took 4 s from a cold cache where stats took 9 s."""
        layout, name = self.layout, osp.basename(split_file)
        listings = {}
        for relpath, _ in read_split_file(split_file):
            if relpath in layout.ignore:
                continue
            folder, image = osp.split(osp.join(layout.image_dir, relpath))
            if folder not in listings:
                listings[folder] = (set(os.listdir(folder)) if self.expect(
                    folder, f"folder of images listed in {name}") else None)
            if listings[folder] is None:
                continue
            if image in listings[folder]:
                self.counts[domain][split] += 1
            else:
                self.report(osp.join(folder, image), f"image listed in {name}")


def check_layout(layout: Layout) -> Report:
    """Everything `layout` names that is not on disk, and the images found.

    A damaged split file or classnames.txt raises ValueError (naming the line).
    """
    return Checker(layout).run()


class MissingDataError(MissingFileError):
    """Part of a dataset is not on disk (the message names what and where)."""


def missing_data_error(name: str, root: str, layout: Layout, problems) -> MissingDataError:
    """One error for every problem: the first few paths, the count, the fix."""
    named = "; ".join(p.short() for p in problems[:NAMED_IN_ERROR])
    more = (f"; and {len(problems) - NAMED_IN_ERROR:,} more ({len(problems):,} in all)"
            if len(problems) > NAMED_IN_ERROR else "")
    return MissingDataError(
        f"{name}: {named}{more}. Put the dataset under DATASET.ROOT={root} "
        f"({layout.help}); see docs/DATASETS.md. The full list: "
        f"python tools/check_data.py {name} --root {root}"
    )
