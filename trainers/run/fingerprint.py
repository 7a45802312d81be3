"""A run folder belongs to one config: the fingerprint of a resolved config.

A run folder is named after a few settings only (dataset, trainer config,
forget domains, shots, seed), so without a check a command with other
options would resume the folder's checkpoints, overwrite its config.yaml,
or be skipped because its results.json exists. Every run therefore records
the fingerprint of its resolved config: the sha256 of the canonical JSON of
every key that can change its numbers (all keys but those in EXCLUDED, and
the keys added since fingerprints began while at their default: FIRST_KEYS).
`config.yaml` carries it in a comment line above the config (whose keys are
the kept ones plus the excluded ones), `results.json` carries it with the
kept keys (`fingerprint`, `fingerprint_keys`), so that a mismatch can name
the keys that differ.

train.py refuses to resume, skip or write into a folder whose recorded
fingerprint differs from its own config's (`check_run_folder`), and into a
folder written before fingerprints were recorded: its checkpoints may come
from another config, and nothing tells which. Plain Python and yacs
(no Dassl, no torch), so that tools can use it.
"""
import functools
import hashlib
import json
import os.path as osp
import re

import yaml
from yacs.config import CfgNode as CN

from trainers.config import extend_cfg
from user_errors import PathTakenError

from .files import repo_path
from .provenance import (RESULTS_FILE, backbone_sha256, record_kind, record_problem,
                         recorded_backbone_sha256)

# Keys left out of the fingerprint: each names where the run reads or writes,
# what it prints, or how fast it runs, not what it computes. A key ending in
# "." leaves out its whole subtree. Everything else is kept, the keys of other
# trainers included (a change there is rare and harmless to refuse).
EXCLUDED = {
    # The folder itself: where the run writes.
    "OUTPUT_DIR": "where the run writes",
    # Where checkpoints are read from; that folder's own fingerprint is checked.
    "RESUME": "where checkpoints are resumed from",
    # The same files under another root give the same run.
    "DATASET.ROOT": "where the datasets are",
    # Log lines only.
    "TRAIN.PRINT_FREQ": "how often the training log prints",
    "VERBOSE": "how much Dassl prints",
    # Which epochs get a checkpoint; saving one draws no random number, and
    # the last epoch is always saved.
    "TRAIN.CHECKPOINT_FREQ": "which epochs are saved",
    # Loader processes. With random augmentations each worker draws from its
    # own seeded stream, so another count draws other crops, as another GPU
    # rounds differently: the run is the same experiment. train.py caps the
    # count at the machine's CPUs, so keeping it would tie a folder to one machine.
    "DATALOADER.NUM_WORKERS": "how many loader processes run",
    # Recomputes activations in the backward pass: the same numbers
    # (tests/test_reproducibility.py), less memory; an out-of-memory run may
    # be resumed with it switched on.
    "TRAINER.ADU.GRAD_CHECKPOINTING": "memory against time, same numbers",
    # The method's name in results.json and the tables, not its numbers; the
    # scripts put their TAG into the folder name as well.
    "TEST.METHOD_TAG": "the method's name in the tables",
    # Whether an unreadable image stops the run or is skipped: a run that
    # finishes either way has read the same images (skips are counted in
    # results.json), so switching it on to get past a broken file keeps the folder.
    "DATASET.SKIP_UNREADABLE": "whether an unreadable image stops the run",
}
# The project's keys when run folders first recorded fingerprints: frozen, no
# key ever joins it. Each is kept at every value (as Dassl's own keys are).
# A key added to trainers/config.py since is left out of the fingerprint while
# it is at its default there: at that value the code computes what it
# computed before the key existed, so finished runs keep their fingerprint,
# and any other value is kept (`added_defaults`).
FIRST_KEYS = frozenset({
    "DATASET.FORGET_DOMAINS", "TEST.LINEAR_PROBES",
    "DATASET.NUM_SHOTS",  # Dassl's key, with the project's default
    "TRAINER.ADU.DDL", "TRAINER.ADU.DDL_CE", "TRAINER.ADU.DDL_GAMMA",
    "TRAINER.ADU.DDL_LAMBDA", "TRAINER.ADU.DDL_MMD", "TRAINER.ADU.FORGET_LOSS",
    "TRAINER.ADU.INSTAPG", "TRAINER.ADU.INSTAPG_LAYERS", "TRAINER.ADU.INSTAPG_STYLE",
    "TRAINER.ADU.MMD_BANDWIDTH", "TRAINER.ADU.MMD_INPUT", "TRAINER.ADU.MMD_KERNEL",
    "TRAINER.ADU.N_CTX_TEXT", "TRAINER.ADU.N_CTX_VISION", "TRAINER.ADU.PREC",
    "TRAINER.ADU.PROMPT_DEPTH_TEXT", "TRAINER.ADU.PROMPT_DEPTH_VISION",
    "TRAINER.ADU.TEXT_CTX_INIT", "TRAINER.ADU.TEXT_TEMPLATE",
    "TRAINER.BBFADU.FORGET_LOSS", "TRAINER.BBFADU.ITERATIONS", "TRAINER.BBFADU.N_CTX",
    "TRAINER.BBFADU.POPSIZE", "TRAINER.BBFADU.PREC", "TRAINER.BBFADU.PROJECTION_SEED",
    "TRAINER.BBFADU.SHARED_LATENT_DIM", "TRAINER.BBFADU.SIGMA0",
    "TRAINER.BBFADU.UNIQUE_LATENT_DIM", "TRAINER.BBFADU.VAL_SHOTS",
    "TRAINER.CLIPFITADU.DISTILL_WEIGHT", "TRAINER.CLIPFITADU.FORGET_LOSS",
    "TRAINER.CLIPFITADU.PREC", "TRAINER.CLIPFITADU.TEXT_BIAS",
    "TRAINER.CLIPFITADU.TEXT_TEMPLATE",
    "TRAINER.COOPADU.CTX_INIT", "TRAINER.COOPADU.FORGET_LOSS", "TRAINER.COOPADU.N_CTX",
    "TRAINER.COOPADU.PREC",
    "TRAINER.LPPLUSPLUSADU.ALPHA_EVERY", "TRAINER.LPPLUSPLUSADU.FORGET_LOSS",
    "TRAINER.LPPLUSPLUSADU.PREC", "TRAINER.LPPLUSPLUSADU.TEXT_TEMPLATE",
    "TRAINER.MAPLEADU.CTX_INIT", "TRAINER.MAPLEADU.FORGET_LOSS", "TRAINER.MAPLEADU.N_CTX",
    "TRAINER.MAPLEADU.PREC", "TRAINER.MAPLEADU.PROMPT_DEPTH",
    "TRAINER.ZEROSHOTCLIP.PREC", "TRAINER.ZEROSHOTCLIP.TEXT_TEMPLATE",
})


@functools.lru_cache(maxsize=1)
def added_defaults() -> dict:
    """{key: default} of every key trainers/config.py adds to Dassl's config
    that is not in FIRST_KEYS: the keys left out at their default. (Read by
    adding them to the empty nodes they go under: no Dassl needed.)"""
    cfg = CN({node: CN() for node in ("DATASET", "DATALOADER", "TEST", "TRAINER")})
    cfg.MODEL = CN({"BACKBONE": CN()})
    extend_cfg(cfg)
    return {k: v for k, v in flatten(cfg).items() if k not in FIRST_KEYS}


HEADER = "# fingerprint: {} (sha256 of the keys that change results; " \
         "trainers/run/fingerprint.py)\n"
HEADER_PATTERN = re.compile(r"# fingerprint: ([0-9a-f]{64})\b")
# The second line of config.yaml when MODEL.BACKBONE.NAME is a local file: the
# fingerprint holds the backbone's name (its path), this line its content, so
# that a file replaced at the same path is another run (provenance.py).
BACKBONE_HEADER = "# backbone sha256: {} (the content of MODEL.BACKBONE.NAME's file)\n"
BACKBONE_PATTERN = re.compile(r"^# backbone sha256: ([0-9a-f]{64})\b", re.MULTILINE)
# Differences named in one error line; the rest are counted.
MAX_NAMED = 6
ABSENT = "(absent)"


def excluded(key: str) -> bool:
    return any(key == e or (e.endswith(".") and key.startswith(e)) for e in EXCLUDED)


def flatten(node, prefix: str = "") -> dict:
    """{"A.B.C": value} of a nested dict (a CfgNode is one); tuples become lists."""
    flat = {}
    for key, value in node.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = list(value) if isinstance(value, tuple) else value
    return flat


def at_added_default(key: str, value) -> bool:
    defaults = added_defaults()
    return key in defaults and value == defaults[key]


def kept_keys(config: dict) -> dict:
    """The keys of a (nested) config that change results, flat and sorted."""
    return {k: v for k, v in sorted(flatten(config).items())
            if not excluded(k) and not at_added_default(k, v)}


def digest(keys: dict) -> str:
    canonical = json.dumps(keys, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def cfg_keys(cfg) -> dict:
    """The kept keys of a yacs config, as config.yaml will give them back
    (through its YAML dump, so that a recorded config compares equal)."""
    return kept_keys(yaml.safe_load(cfg.dump()))


def fingerprint(cfg) -> str:
    return digest(cfg_keys(cfg))


def results_fields(cfg) -> dict:
    """What results.json records of the config."""
    keys = cfg_keys(cfg)
    return {"fingerprint": digest(keys), "fingerprint_keys": keys}


def current_backbone_sha256(cfg):
    """sha256 of the backbone's local file(s) now (cached), None for a model name."""
    name = ((cfg.get("MODEL") or {}).get("BACKBONE") or {}).get("NAME", "")
    return backbone_sha256(name, repo_path)


def config_yaml(cfg) -> str:
    """config.yaml: the fingerprint line (and the backbone's digest when it is
    a local file), then the resolved config (which train.py --config-file
    reads back; the lines are YAML comments)."""
    backbone = current_backbone_sha256(cfg)
    return (HEADER.format(fingerprint(cfg))
            + (BACKBONE_HEADER.format(backbone) if backbone else "") + cfg.dump())


def recorded_backbone(folder: str):
    """The backbone sha256 `folder` records (config.yaml's line, else
    results.json's provenance), or None when it records none."""
    path = osp.join(folder, "config.yaml")
    if osp.isfile(path):
        with open(path) as f:
            head = f.read(4096)
        match = BACKBONE_PATTERN.search(head)
        return match.group(1) if match else None
    record = read_json(osp.join(folder, RESULTS_FILE))
    return recorded_backbone_sha256(record) if isinstance(record, dict) else None


def backbone_change(cfg, recorded_sha):
    """'NAME: its file's sha256 OLD.. -> NEW..' when the backbone's local
    file is no longer the one `recorded_sha` names; None when it is, or when
    either side is unknown (a model name; a run written before this)."""
    if not recorded_sha:
        return None
    now = current_backbone_sha256(cfg)
    if now is None or now == recorded_sha:
        return None
    name = cfg.MODEL.BACKBONE.NAME
    return (f"MODEL.BACKBONE.NAME {name}: its file's sha256 "
            f"{recorded_sha[:12]}... -> {now[:12]}... (the file at that path was replaced)")


def read_json(path: str):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def recorded(folder: str):
    """(file, fingerprint or None, kept keys) of what `folder` records about
    its config (config.yaml, else results.json), or None for a folder that
    records nothing (new, or holding neither file)."""
    path = osp.join(folder, "config.yaml")
    if osp.isfile(path):
        with open(path) as f:
            text = f.read()
        match = HEADER_PATTERN.match(text)
        try:
            keys = kept_keys(yaml.safe_load(text) or {})
        except yaml.YAMLError:
            keys = {}
        return path, match.group(1) if match else None, keys
    path = osp.join(folder, "results.json")
    if osp.isfile(path):
        try:
            with open(path) as f:
                record = json.load(f)
        except (OSError, ValueError):
            record = None
        if not isinstance(record, dict):
            return None  # a damaged result records nothing; the run is done again
        keys = record.get("fingerprint_keys")
        return path, record.get("fingerprint"), keys if isinstance(keys, dict) else {}
    return None


def differences(old: dict, new: dict) -> list:
    """'KEY: old -> new' for every key whose value differs, sorted by key."""
    return [f"{k}: {old.get(k, ABSENT)} -> {new.get(k, ABSENT)}"
            for k in sorted(set(old) | set(new))
            if old.get(k, ABSENT) != new.get(k, ABSENT)]


def describe_differences(old: dict, new: dict) -> str:
    diffs = differences(old, new)
    if not diffs:
        return "no kept key differs, but the fingerprint does (another version of the code?)"
    more = len(diffs) - MAX_NAMED
    return "; ".join(diffs[:MAX_NAMED]) + (f"; and {more} more" if more > 0 else "")


def check_run_folder(cfg, folder: str, role: str = "--output-dir") -> None:
    """Refuse `folder` (the run's --output-dir or --resume folder) unless it
    records nothing or records this config's fingerprint."""
    found = recorded(folder)
    if found is None:
        return
    path, old_fingerprint, old_keys = found
    if role == "--resume":
        fix = "resume from a folder of this config, or leave out --resume"
    else:
        fix = ("use another OUTPUT or TAG (another --output-dir), or delete the folder "
               "to run it again")
    if old_fingerprint is None:
        raise PathTakenError(
            f"{folder} was written before run folders recorded their config's "
            f"fingerprint ({osp.basename(path)} has none), so its checkpoints may come "
            f"from another config: {fix}.")
    new_keys = cfg_keys(cfg)
    if old_fingerprint == digest(new_keys):
        changed = backbone_change(cfg, recorded_backbone(folder))
        if changed:
            raise PathTakenError(
                f"{folder} holds a run on another backbone ({changed}), so its "
                f"checkpoints and results belong to those weights: restore the file the "
                f"run used, or {fix}.")
        return
    raise PathTakenError(
        f"{folder} holds a run of another config ({osp.basename(path)} -> this command: "
        f"{describe_differences(old_keys, new_keys)}): {fix}.")


def results_mismatch(cfg, folder: str):
    """Why folder/results.json is not the finished result of this config, in
    one line with what makes it right; None when it is: a training record
    that checks (provenance.record_problem), of this config's fingerprint,
    scored on the backbone file there now."""
    path = osp.join(folder, RESULTS_FILE)
    record = read_json(path)
    if not isinstance(record, dict):
        return f"{path} is missing or no JSON object" if osp.exists(path) else None
    rerun = "run its train.py command again (it resumes from the last checkpoint " \
            "and scores it again)"
    problem = record_problem(record)
    if problem:
        return f"{path}: {problem}: {rerun}"
    kind = record_kind(record)
    if kind != "training":
        return (f"{path} is the record of an {kind}, not of a training run: move it away "
                f"and {rerun}")
    if record.get("fingerprint") != fingerprint(cfg):
        return None if record.get("fingerprint") is None else \
            f"{path} records another config's fingerprint (train.py names the keys)"
    changed = backbone_change(cfg, recorded_backbone_sha256(record))
    if changed:
        return (f"{path} was scored on another backbone ({changed}): restore that file, "
                "or delete the run folder to train it again")
    return None


def results_match(cfg, folder: str) -> bool:
    """True when folder/results.json is this config's finished result
    (results_mismatch says why not)."""
    path = osp.join(folder, RESULTS_FILE)
    record = read_json(path)
    return (isinstance(record, dict) and record.get("fingerprint") == fingerprint(cfg)
            and results_mismatch(cfg, folder) is None)
