"""The shared base of every ADU dataset (docs/METHOD.md sections 1 and 6).

An ADU dataset holds every image with its class AND its domain (the domain
label is the index in the class attribute `domains`), draws NUM_SHOTS
training images per (class, domain) pair with the run seed, keeps a test
split of every domain, and says which domain labels are forgotten and which
memorised, so trainers and metrics never re-derive them.

Subclasses set `dataset_dir`, `domains`, `data_help` (where the data comes
from) and implement `expected_layout` (every path they read, preflight.py)
and `read_splits`. They register with Dassl's `@DATASET_REGISTRY.register()`,
which keys a class by its name: the class name is the config name
(DATASET.NAME), lowercase (`office_home`) so that it never clashes with
Dassl's own classes (its `OfficeHome` is the DA version of the same data).

Before reading, the base fetches what can be downloaded and checks that
everything in the layout is on disk, failing once with the list of what is
missing (tools/check_data.py runs the same check). Readers take their paths
from `self.layout` and return `Item`s (made by `make_item`), not Dassl
`Datum`s: a Datum checks that its file exists when it is made, and a pool
of a million ImageNet images should cost no million file checks. Only the
sampled shots and the test images become Datums.
"""
import os.path as osp
import random
from collections import defaultdict
from typing import NamedTuple

from dassl.data.datasets import DATASET_REGISTRY, DatasetBase, Datum

from user_errors import BadFileError, ConfigError, DataError

from .domain_lists import check_forget_domains
from .download import ensure_dataset
from .files import read_class_folders, read_split_file
from .image_check import header_problems, problem_of, unreadable_error
from .preflight import Layout, check_layout, missing_data_error

# Per-file warnings beyond this many per split are summarised in one count.
MAX_NAMED_SKIPS = 20


def adu_datasets() -> dict:
    """{config name: class} of every ADU dataset, registered first, sorted by name."""
    from datasets import register_datasets
    register_datasets()
    found = {}
    for name in DATASET_REGISTRY.registered_names():
        cls = DATASET_REGISTRY.get(name)
        if isinstance(cls, type) and issubclass(cls, ADUDatasetBase):
            found[name] = cls
    return dict(sorted(found.items()))


class Item(NamedTuple):
    """One image as the readers list it: a Dassl `Datum`'s four fields,
    without the Datum's file check (done once for the images kept)."""
    impath: str
    label: int
    domain: int
    classname: str


def as_datum(item: Item) -> Datum:
    return Datum(impath=item.impath, label=item.label, domain=item.domain,
                 classname=item.classname)


def clean_classname(name: str) -> str:
    """Folder-style class name -> text for the template ('Alarm_Clock' -> 'alarm clock')."""
    return " ".join(name.replace("_", " ").replace("-", " ").split()).lower()


def check_num_shots(num_shots) -> int:
    num_shots = int(num_shots)
    if num_shots < 1:
        raise ConfigError(f"DATASET.NUM_SHOTS must be >= 1, got {num_shots}; "
                          "ADU uses 8 shots per (class, domain).")
    return num_shots


def is_readable_image(path: str) -> bool:
    """Cheap check (header only) that PIL can open the file as an image."""
    return not problem_of(path, decode=False)


def warn_skip(path: str, nth: int, problem: str = ""):
    if nth <= MAX_NAMED_SKIPS:
        why = f" ({problem})" if problem else ""
        print(f"Warning: skipping unreadable or missing image {path}{why}")


def report_skips(skipped: int, what: str):
    if skipped:
        more = (f" ({skipped - MAX_NAMED_SKIPS} not named above)"
                if skipped > MAX_NAMED_SKIPS else "")
        print(f"Skipped {skipped} unreadable image(s) {what}{more}")


def drop_unreadable(items, what: str, skip: bool = True):
    """Remove items whose image header cannot be read (image_check.py: the
    scan is cached by the files' sizes and mtimes), warning per file and
    counting them; with `skip` False the first one stops the run instead."""
    problems = header_problems([it.impath for it in items])
    kept, skipped = [], 0
    for item in items:
        problem = problems.get(item.impath)
        if not problem:
            kept.append(item)
            continue
        if not skip:
            raise unreadable_error(item.impath, problem, f"in {what}")
        skipped += 1
        warn_skip(item.impath, skipped, problem)
    report_skips(skipped, f"in {what}")
    return kept


def check_shots_available(groups, num_shots: int) -> None:
    """NUM_SHOTS beyond every pair's images would sample every pair with
    replacement into a bigger run than the data holds: refused."""
    largest = max(len(g) for g in groups.values())
    if num_shots > largest:
        raise ConfigError(
            f"DATASET.NUM_SHOTS {num_shots} is more than any (class, domain) pair has "
            f"(the largest has {largest} training images): use DATASET.NUM_SHOTS "
            f"{largest} or fewer")


def sample_few_shot(items, num_shots: int, seed: int, domain_names=None,
                    skip_unreadable: bool = True):
    """NUM_SHOTS items per (label, domain) pair, drawn with `seed`.

    Sampling is without replacement; only a pair with fewer readable images
    than `num_shots` is filled up with replacement, and that is logged
    (NUM_SHOTS beyond every pair's images is refused). Each chosen image is
    decoded in full: one that does not decode stops the run with its name,
    or (`skip_unreadable`) is skipped with a warning and replaced.
    The draw depends only on the seed and the file paths, not on the order
    in which a reader listed them.
    """
    num_shots = check_num_shots(num_shots)
    rng = random.Random(seed)
    groups = defaultdict(list)
    for item in items:
        groups[(item.label, item.domain)].append(item)
    check_shots_available(groups, num_shots)
    output, short, skipped = [], [], 0
    for key in sorted(groups):
        candidates = sorted(groups[key], key=lambda it: it.impath)
        rng.shuffle(candidates)
        chosen = []
        for item in candidates:
            if len(chosen) == num_shots:
                break
            problem = problem_of(item.impath, decode=True)
            if problem:
                if not skip_unreadable:
                    raise unreadable_error(item.impath, problem, "a sampled training shot")
                skipped += 1
                warn_skip(item.impath, skipped, problem)
                continue
            chosen.append(item)
        domain = domain_names[key[1]] if domain_names else f"domain {key[1]}"
        if not chosen:
            raise BadFileError(
                f"No readable training image of '{candidates[0].classname}' in {domain} "
                f"(first listed: {candidates[0].impath}); replace the broken "
                "files or re-extract the dataset."
            )
        if len(chosen) < num_shots:
            short.append(f"({chosen[0].classname}, {domain}): {len(chosen)}")
            chosen += rng.choices(chosen, k=num_shots - len(chosen))
        output.extend(chosen)
    report_skips(skipped, "while sampling shots")
    if short:
        print(f"Note: {len(short)} (class, domain) pair(s) have fewer than "
              f"{num_shots} images and were sampled with replacement: "
              + ", ".join(short[:10])
              + (" ..." if len(short) > 10 else ""))
    return output


class ADUDatasetBase(DatasetBase):
    """Base of the project's multi-domain datasets (registered subclasses only)."""

    dataset_dir = ""
    domains = []
    # One line: where the data comes from; shown when it is missing.
    data_help = "see docs/DATASETS.md"
    # Whether every (class, domain) pair must have train and test images
    # (False: an empty pair is a warning; DomainNet's official files may have one).
    require_all_pairs = True

    def __init__(self, cfg):
        name = self.name
        self.forget_domains = check_forget_domains(
            cfg.DATASET.FORGET_DOMAINS, self.domains, name)
        self.forget_domain_ids = [self.domains.index(d) for d in self.forget_domains]
        self.memorize_domain_ids = [i for i in range(len(self.domains))
                                    if i not in self.forget_domain_ids]
        self.memorize_domains = [self.domains[i] for i in self.memorize_domain_ids]
        num_shots = check_num_shots(cfg.DATASET.NUM_SHOTS)

        self.root = osp.abspath(osp.expanduser(cfg.DATASET.ROOT))
        self.dataset_dir = osp.join(self.root, type(self).dataset_dir)
        self.layout = self.expected_layout(self.root)
        self.prepare()
        problems = check_layout(self.layout).problems
        if problems:
            raise missing_data_error(name, self.root, self.layout, problems)

        splits = self.read_splits()
        pool = splits["train"]
        skip = bool(cfg.DATASET.get("SKIP_UNREADABLE", False))
        listed = splits["test"]
        test = drop_unreadable(listed, f"the {name} test split", skip)
        # Test images skipped as unreadable, per domain (results.json; the
        # test loader adds those whose body fails to decode).
        self.skipped_test_images = self.count_by_domain(listed, test)
        self.check_label_space(pool, test)
        seed = cfg.SEED if cfg.SEED >= 0 else random.SystemRandom().randrange(2**31)
        print(f"Sampling {num_shots} shots per (class, domain) with seed {seed}")
        train = sample_few_shot(pool, num_shots, seed, domain_names=self.domains,
                                skip_unreadable=skip)
        self.log_counts(pool, train, test)
        super().__init__(train_x=[as_datum(it) for it in train],
                         test=[as_datum(it) for it in test])

    @property
    def name(self) -> str:
        """The config name (DATASET.NAME): the class name, Dassl's registry key."""
        return type(self).__name__

    # ----- to implement in subclasses -------------------------------------------
    @classmethod
    def expected_layout(cls, root: str) -> Layout:
        """Every folder, file and split file the readers use under `root`."""
        raise NotImplementedError

    def read_splits(self) -> dict:
        """{"train": every training candidate (the shots are drawn from it),
        "test": every test image of every domain}, as `Item`s."""
        raise NotImplementedError

    # ----- helpers -----------------------------------------------------------------
    def prepare(self):
        """Download the missing parts of the layout that have a download,
        once what must be got by hand is there (the check after reports it)."""
        for dl in self.layout.downloads:
            if self.layout.can_fetch(dl):
                ensure_dataset(dl.gdrive_id, dl.target, dl.archive, dl.markers)

    def make_item(self, impath, label, domain_name, classname, clean=True):
        """The `Item` of one image; `clean=False` keeps a class name that is already text."""
        return Item(impath=impath, label=label, domain=self.domains.index(domain_name),
                    classname=clean_classname(classname) if clean else classname)

    def read_listed_splits(self, label_offset=0):
        """Items of the layout's split files ('domain/class/img.jpg label' lines).

        The class name is the image's parent folder. Labels are read from the
        files (plus `label_offset`), checked to name one class each across
        every file, and renumbered 0..N-1 in their order only if they have
        gaps. The layout's `ignore` entries (known broken files) are left out.
        """
        name = self.name
        image_dir, ignore = self.layout.image_dir, self.layout.ignore
        rows = {split: [] for split in self.layout.split_files}
        label_names, name_labels = {}, {}
        for split, files in self.layout.split_files.items():
            for dname, path in files:
                for relpath, label in read_split_file(path):
                    if relpath in ignore:
                        print(f"Note: leaving out {relpath} (a known broken image)")
                        continue
                    label += label_offset
                    cname = relpath.replace("\\", "/").split("/")[-2]
                    known_name = label_names.setdefault(label, cname)
                    known_label = name_labels.setdefault(cname, label)
                    if known_name != cname or known_label != label:
                        raise DataError(
                            f"{name}: {path} gives '{cname}' label {label}, but earlier "
                            f"lines give label {label} to '{known_name}' and '{cname}' "
                            f"label {known_label}; the split files disagree, download "
                            "them again."
                        )
                    rows[split].append((osp.join(image_dir, relpath), label, dname, cname))
        old_labels = sorted(label_names)
        new_label = {old: new for new, old in enumerate(old_labels)}
        if old_labels != list(range(len(old_labels))):
            print(f"Note: {name} split files use {len(old_labels)} labels from "
                  f"{old_labels[0]} to {old_labels[-1]}; renumbered 0..{len(old_labels) - 1}"
                  " in the same order")
        return {split: [self.make_item(p, new_label[lab], d, c) for p, lab, d, c in items]
                for split, items in rows.items()}

    def read_class_dirs(self, split, classes=None):
        """Items of the layout's class folders of `split` in every domain;
        labels as in files.read_class_folders (`classes` order, or sorted)."""
        folders = {d: self.layout.class_dirs[(d, split)] for d in self.domains}
        return [self.make_item(*row) for row in read_class_folders(folders, classes)]

    def count_by_domain(self, listed, kept) -> dict:
        """{domain name: images of `listed` not in `kept`} (every domain)."""
        counts = {d: 0 for d in self.domains}
        kept_paths = {it.impath for it in kept}
        for item in listed:
            if item.impath not in kept_paths:
                counts[self.domains[item.domain]] += 1
        return counts

    def split_by_domain(self, items):
        out = defaultdict(list)
        for item in items:
            out[item.domain].append(item)
        return out

    def check_label_space(self, train, test):
        """Classes, names and labels must agree across splits and domains."""
        name = self.name
        maps = {}
        for split, items in (("train", train), ("test", test)):
            mapping = {}
            for it in items:
                if mapping.setdefault(it.label, it.classname) != it.classname:
                    raise DataError(
                        f"{name}: label {it.label} is both '{mapping[it.label]}' and "
                        f"'{it.classname}' in the {split} split; check the split files."
                    )
            maps[split] = mapping
        if maps["train"] != maps["test"]:
            raise DataError(
                f"{name}: train and test label spaces differ ({len(maps['train'])} "
                f"vs {len(maps['test'])} classes, or other names for the same label); "
                "check the split files."
            )
        num_classes = len(maps["train"])
        if sorted(maps["train"]) != list(range(num_classes)):
            raise DataError(f"{name}: class labels are not 0..{num_classes - 1}.")
        for split, items in (("train", train), ("test", test)):
            per_domain = self.split_by_domain(items)
            for d, dname in enumerate(self.domains):
                labels = {it.label for it in per_domain.get(d, [])}
                if labels == set(maps["train"]):
                    continue
                missing = sorted(set(maps["train"]) - labels)
                msg = (f"{name}: domain '{dname}' has {len(labels)} of "
                       f"{num_classes} classes in the {split} split (missing: "
                       + ", ".join(maps["train"][c] for c in missing[:5])
                       + (" ..." if len(missing) > 5 else "") + ")")
                if self.require_all_pairs or not labels:
                    raise DataError(msg + "; every domain must share the class list.")
                print(f"Warning: {msg}; those (class, domain) pairs are left out.")

    def log_counts(self, pool, train, test):
        """One line per domain: candidates, sampled shots, test images."""
        pools, trains, tests = (self.split_by_domain(x) for x in (pool, train, test))
        print(f"{self.name}: {self.num_classes_of(pool)} classes; "
              f"forget {self.forget_domains}, memorize {self.memorize_domains}")
        for d, dname in enumerate(self.domains):
            role = "forget" if d in self.forget_domain_ids else "memorize"
            print(f"  {dname:<14} ({role:<8}) train pool {len(pools.get(d, [])):>8,}"
                  f"  shots {len(trains.get(d, [])):>6,}  test {len(tests.get(d, [])):>7,}")

    @staticmethod
    def num_classes_of(items):
        return len({it.label for it in items})
