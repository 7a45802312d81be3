"""The shared base of every ADU dataset (ADU-METHOD.md sections 1 and 6).

An ADU dataset holds every image with its class AND its domain (the domain
label is the index in the class attribute `domains`), draws NUM_SHOTS
training images per (class, domain) pair with the run seed, keeps a test
split of every domain, and says which domain labels are forgotten and which
memorised, so trainers and metrics never re-derive them.

Subclasses set `dataset_dir`, `domains`, `data_help` (where the data comes
from) and implement `read_train_pool` and `read_test`.
"""
import os
import os.path as osp
import random
from collections import defaultdict

from dassl.data.datasets import DATASET_REGISTRY, DatasetBase, Datum
from PIL import Image, UnidentifiedImageError


def register(name: str):
    """Register a dataset class in Dassl under the config name `name`.

    Dassl's registry keys by class name; ours are lowercase (`office_home`)
    so they never clash with Dassl's own classes (its `OfficeHome` is the DA
    version of the same data).
    """
    def wrap(cls):
        DATASET_REGISTRY._do_register(name, cls)
        cls.config_name = name
        return cls
    return wrap


def clean_classname(name: str) -> str:
    """Folder-style class name -> text for the template ('Alarm_Clock' -> 'alarm clock')."""
    return " ".join(name.replace("_", " ").replace("-", " ").split()).lower()


def check_forget_domains(forget, domains, dataset: str):
    """Validate DATASET.FORGET_DOMAINS; return it as a sorted list of names."""
    if isinstance(forget, str):
        forget = [forget]
    forget = [str(d) for d in forget]
    if not forget:
        raise ValueError(
            f"No forget domain given for {dataset}. Set DATASET.FORGET_DOMAINS "
            f"(or --forget-domains) to one or more of {list(domains)}."
        )
    unknown = [d for d in forget if d not in domains]
    if unknown:
        raise ValueError(
            f"Unknown domain {unknown} for {dataset}; valid domains are "
            f"{list(domains)}."
        )
    if set(forget) == set(domains):
        raise ValueError(
            f"All domains of {dataset} are set to be forgotten ({list(domains)}); "
            "at least one domain must be memorised. Remove one from "
            "DATASET.FORGET_DOMAINS."
        )
    return sorted(set(forget), key=list(domains).index)


def is_readable_image(path: str) -> bool:
    """Cheap check (header only) that PIL can open the file as an image."""
    try:
        with Image.open(path) as img:
            img.size
        return True
    except (UnidentifiedImageError, OSError, ValueError):
        return False


def drop_unreadable(items, what: str):
    """Remove items whose image cannot be opened, warning once per file."""
    kept = []
    for item in items:
        if is_readable_image(item.impath):
            kept.append(item)
        else:
            print(f"Warning: skipping unreadable image {item.impath}")
    skipped = len(items) - len(kept)
    if skipped:
        print(f"Skipped {skipped} unreadable image(s) in {what}")
    return kept


def sample_few_shot(items, num_shots: int, seed: int, check_readable=True):
    """NUM_SHOTS items per (label, domain) pair, drawn with `seed`.

    Sampling is without replacement; only a pair with fewer readable images
    than `num_shots` is filled up with replacement, and that is logged.
    Unreadable candidates are skipped (with a warning) and replaced.
    """
    if num_shots < 1:
        raise ValueError(f"DATASET.NUM_SHOTS must be >= 1, got {num_shots}.")
    rng = random.Random(seed)
    groups = defaultdict(list)
    for item in items:
        groups[(item.label, item.domain)].append(item)
    output, short, skipped = [], [], 0
    for key in sorted(groups):
        candidates = sorted(groups[key], key=lambda it: it.impath)
        rng.shuffle(candidates)
        chosen = []
        for item in candidates:
            if len(chosen) == num_shots:
                break
            if check_readable and not is_readable_image(item.impath):
                print(f"Warning: skipping unreadable image {item.impath}")
                skipped += 1
                continue
            chosen.append(item)
        if not chosen:
            raise RuntimeError(
                f"No readable image for class {key[0]} in domain {key[1]}; "
                "check the dataset folder."
            )
        if len(chosen) < num_shots:
            short.append((key, len(chosen)))
            chosen += rng.choices(chosen, k=num_shots - len(chosen))
        output.extend(chosen)
    if skipped:
        print(f"Skipped {skipped} unreadable image(s) while sampling shots")
    if short:
        print(f"Note: {len(short)} (class, domain) pair(s) have fewer than "
              f"{num_shots} images and were sampled with replacement: "
              + ", ".join(f"(class {c}, domain {d}): {n}" for (c, d), n in short[:10])
              + (" ..." if len(short) > 10 else ""))
    return output


class ADUDatasetBase(DatasetBase):
    """Base of the project's multi-domain datasets (registered subclasses only)."""

    dataset_dir = ""
    domains = []
    # One line: where the data comes from; shown when it is missing.
    data_help = "see DATASETS.md"

    def __init__(self, cfg):
        name = self.name
        self.forget_domains = check_forget_domains(
            cfg.DATASET.FORGET_DOMAINS, self.domains, name)
        self.forget_domain_ids = [self.domains.index(d) for d in self.forget_domains]
        self.memorize_domain_ids = [i for i in range(len(self.domains))
                                    if i not in self.forget_domain_ids]
        self.memorize_domains = [self.domains[i] for i in self.memorize_domain_ids]
        num_shots = int(cfg.DATASET.NUM_SHOTS)
        if num_shots < 1:
            raise ValueError(f"DATASET.NUM_SHOTS must be >= 1, got {num_shots}.")

        self.root = osp.abspath(osp.expanduser(cfg.DATASET.ROOT))
        self.dataset_dir = osp.join(self.root, type(self).dataset_dir)
        self.prepare(cfg)

        seed = cfg.SEED if cfg.SEED >= 0 else random.SystemRandom().randrange(2**31)
        print(f"Sampling {num_shots} shots per (class, domain) with seed {seed}")
        train = sample_few_shot(self.read_train_pool(), num_shots, seed)
        test = drop_unreadable(self.read_test(), f"the {name} test split")
        super().__init__(train_x=train, test=test)
        self.check_label_space(train, test)

    @property
    def name(self) -> str:
        """The config name (DATASET.NAME) the class is registered under."""
        return getattr(self, "config_name", type(self).__name__)

    # ----- to implement in subclasses -------------------------------------------
    def read_train_pool(self):
        """Every training candidate as a Datum (the shots are drawn from it)."""
        raise NotImplementedError

    def read_test(self):
        """Every test image of every domain as a Datum."""
        raise NotImplementedError

    def prepare(self, cfg):
        """Make sure the data is on disk (download it if possible), else fail."""
        self.require_paths(self.dataset_dir)

    # ----- helpers -----------------------------------------------------------------
    def require_paths(self, *paths):
        """Fail with the missing paths and the way to get the data."""
        missing = [p for p in paths if not osp.exists(p)]
        if missing:
            raise FileNotFoundError(
                f"{self.name}: missing {', '.join(missing)}. "
                f"Put the dataset under DATASET.ROOT={self.root} "
                f"({self.data_help}); see DATASETS.md."
            )

    def make_datum(self, impath, label, domain_name, classname):
        return Datum(impath=impath, label=label, domain=self.domains.index(domain_name),
                     classname=clean_classname(classname))

    def split_by_domain(self, items):
        out = defaultdict(list)
        for item in items:
            out[item.domain].append(item)
        return out

    def check_label_space(self, train, test):
        """Classes, names and labels must agree across splits and domains."""
        name = self.name
        train_map = {it.label: it.classname for it in train}
        test_map = {it.label: it.classname for it in test}
        if train_map != test_map:
            raise ValueError(
                f"{name}: train and test label spaces differ ({len(train_map)} "
                f"vs {len(test_map)} classes, or other names for the same label); "
                "check the split files."
            )
        if sorted(train_map) != list(range(len(train_map))):
            raise ValueError(f"{name}: class labels are not 0..{len(train_map) - 1}.")
        for split, items in (("train", train), ("test", test)):
            per_domain = self.split_by_domain(items)
            for d, dname in enumerate(self.domains):
                labels = {it.label for it in per_domain.get(d, [])}
                if labels != set(train_map):
                    raise ValueError(
                        f"{name}: domain '{dname}' has {len(labels)} of "
                        f"{len(train_map)} classes in the {split} split; every "
                        "domain must share the class list."
                    )


def list_images(folder: str, exts=(".jpg", ".jpeg", ".png", ".bmp")):
    """Sorted image files directly inside `folder` (hidden files skipped)."""
    return sorted(
        osp.join(folder, f) for f in os.listdir(folder)
        if not f.startswith(".") and f.lower().endswith(exts)
    )
