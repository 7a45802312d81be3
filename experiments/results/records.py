"""One run's results.json (written by trainers/engine/evaluation.py) read and
checked into a `Run`; finding and loading every run under some folders."""
import json
import math
import os
import sys
from dataclasses import dataclass, field

from trainers.run.provenance import record_kind, record_problem

RESULTS_FILE = "results.json"
# What makes a record right again, named with each problem.
RERUN = ("run its train.py command again (it resumes from its last checkpoint and "
         "writes the record anew), or move the file away")
METRICS = (("h", "H"), ("mem", "Mem"), ("for", "For"))
# Shown by --table domains where the runs have them.
OPTIONAL_METRICS = (("domain_accuracy", "domain clf"), ("domain_probe_accuracy", "domain probe"),
                    ("forget_class_probe_accuracy", "forget-class probe"),
                    ("rec_at_8", "Rec@8"))
# tools/robustness.py's file beside a results.json: "Rec@8" is its probe at
# k = 8 shots per class on the run's embeddings (forget-domain test accuracy).
ROBUSTNESS_FILE = "robustness.json"
# Config keys the runs of one cell differ in by design: it averages over them.
AVERAGED_KEYS = ("SEED", "DATASET.FORGET_DOMAINS")


class ResultError(Exception):
    """A results.json that cannot be used, with the reason."""


@dataclass(frozen=True)
class Run:
    path: str
    dataset: str
    method: str
    num_shots: object
    domains: tuple
    forget: tuple
    seed: int
    scores: dict  # {"h", "mem", "for"} in percent
    # per-domain accuracy and the optional accuracies (domain classifier,
    # probes) in percent, where the run has them: for --table domains
    details: dict = field(default_factory=dict, compare=False)
    # its config's keys that change results, but AVERAGED_KEYS; None for a
    # results.json written before fingerprints
    config: object = field(default=None, compare=False)


def require(record: dict, key: str, kind, what: str):
    value = record.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ResultError(f"'{key}' is missing or not {what}")
    return value


def robustness_details(results_path: str, fingerprint) -> dict:
    """{"rec_at_8": ...} from the run's robustness.json when it is there, readable
    and of the same run (fingerprint); else nothing."""
    try:
        with open(os.path.join(os.path.dirname(results_path), ROBUSTNESS_FILE)) as f:
            record = json.load(f)
        value = record["probe"]["unlearned"]["8"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    if record.get("fingerprint") != fingerprint or not isinstance(value, (int, float)):
        return {}
    return {"rec_at_8": float(value)}


def read_record(path: str) -> dict:
    try:
        with open(path) as f:
            record = json.load(f)
    except json.JSONDecodeError as err:
        raise ResultError(f"not valid JSON ({err}; truncated, or another format): "
                          f"{RERUN}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ResultError(f"cannot be read ({err}; another format?): {RERUN}") from None
    if not isinstance(record, dict):
        raise ResultError(f"not a JSON object: {RERUN}")
    return record


def read_scores(record: dict) -> dict:
    scores = {}
    for key, _ in METRICS:
        value = require(record, key, (int, float), "a number")
        if not math.isfinite(value):
            raise ResultError(f"'{key}' is {value}")
        scores[key] = float(value)
    return scores


def read_details(record: dict, path: str) -> dict:
    details = {key: record[key] for key, _ in OPTIONAL_METRICS
               if isinstance(record.get(key), (int, float))}
    for name, row in (record.get("per_domain") or {}).items():
        if isinstance(row, dict) and isinstance(row.get("accuracy"), (int, float)):
            details[f"acc:{name}"] = row["accuracy"]
    details.update(robustness_details(path, record.get("fingerprint")))
    return details


def read_result(path: str, kinds=("training",)) -> Run:
    """One results.json (or, with `kinds` ("evaluation",), an --eval-only's
    record) -> Run; ResultError names what is wrong with it and what makes
    it right: a missing field, a record edited by hand or inconsistent
    (trainers/run/provenance.record_problem), a record of another kind."""
    record = read_record(path)
    problem = record_problem(record)
    if problem:
        raise ResultError(f"{problem}: {RERUN}")
    kind = record_kind(record)
    if kind not in kinds:
        raise ResultError(f"it is the record of an {kind}, not of a "
                          f"{' or '.join(kinds)} run: {RERUN}")
    dataset = require(record, "dataset", str, "a name")
    method = require(record, "method", str, "a name")
    seed = require(record, "seed", int, "an integer")
    domains = tuple(require(record, "domains", list, "a list"))
    forget = tuple(require(record, "forget_domains", list, "a list"))
    if not forget or not set(forget) < set(domains):
        raise ResultError(f"forget_domains {list(forget)} is not a proper, non-empty "
                          f"subset of domains {list(domains)}")
    scores = read_scores(record)
    forget = tuple(d for d in domains if d in forget)  # the dataset's domain order
    keys = record.get("fingerprint_keys")
    config = ({k: v for k, v in keys.items() if k not in AVERAGED_KEYS}
              if isinstance(keys, dict) else None)
    return Run(path, dataset, method, record.get("num_shots"), domains, forget, seed,
               scores, read_details(record, path), config)


def is_evaluation_file(name: str) -> bool:
    """results_eval_epoch<E>.json, the record of train.py --eval-only."""
    return name.startswith("results_eval_epoch") and name.endswith(".json")


def find_results(roots, evaluations: bool = False):
    """Paths of every results.json under the roots (with `evaluations`: of
    every --eval-only record instead), sorted."""
    found = []
    for root in roots:
        for folder, _, files in os.walk(root):
            found += [os.path.join(folder, f) for f in files
                      if (is_evaluation_file(f) if evaluations else f == RESULTS_FILE)]
    return sorted(found)


def load_runs(paths, warn, evaluations: bool = False, damaged=None):
    """Readable runs of `paths`; every other file is named through `warn`
    (and its path appended to `damaged`)."""
    runs, seen = [], {}
    kinds = ("evaluation",) if evaluations else ("training",)
    for path in paths:
        try:
            run = read_result(path, kinds)
        except ResultError as err:
            warn(f"skipping {path}: {err}")
            if damaged is not None:
                damaged.append(path)
            continue
        key = (run.dataset, run.method, run.num_shots, run.forget, run.seed)
        if key in seen:
            warn(f"skipping {path}: the same run (dataset {run.dataset}, method "
                 f"{run.method}, forget {','.join(run.forget)}, seed {run.seed}) is "
                 f"already in {seen[key]}")
            continue
        seen[key] = path
        runs.append(run)
    return runs


def check_files(paths) -> int:
    """--check: 0 when every file is a complete results.json, else 1 (reasons on stderr)."""
    bad = 0
    for path in paths:
        kinds = (("evaluation", "cross-evaluation")
                 if os.path.basename(path).startswith("results_") else ("training",))
        try:
            read_result(path, kinds)
        except ResultError as err:
            print(f"{path}: {err}", file=sys.stderr)
            bad += 1
    return 1 if bad else 0
