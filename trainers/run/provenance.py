"""What a result was computed from, recorded in results.json and checked by
whoever trusts it (the skip test, the tables, the exports).

A results.json holds, besides its numbers, `provenance`:

- `weights`: the epoch scored, the fingerprint of the run that trained the
  weights, and per registered model the sha256 of the state it scored (its
  tensors, as loaded) and of the checkpoint file it came from;
- `backbone`: MODEL.BACKBONE.NAME and the sha256 of its local file(s) (None
  for a model name: clip.load checks its download against the sha256 in its
  URL, recorded as `download_sha256`);
- `test_split`: the sha256 of the list of test images read (path relative
  to the dataset root, label, domain) and how many there are;
- `kind`: "training", "evaluation" or "cross-evaluation";

and `record_sha256`, the sha256 of the record without that key, so that a
record edited by hand is told from one the run wrote. `record_problem` names
what is inconsistent in a record (also in one written before provenance: an
H that is not the harmonic mean of Mem and For).

A local backbone's digest is cached by its size, mtime, ctime and inode
(under ADU_CACHE_DIR, default ~/.cache/adu, in `file_sha256/`), so that a
rerun stats a file of gigabytes instead of reading it; an entry that does not
check (edited, truncated, another file's) is recomputed, never trusted.
Plain Python (no torch, no Dassl): the launcher's skip test uses it.
"""
import hashlib
import json
import math
import os
import os.path as osp

from .checkpoint_digest import file_sha256
from .files import write_json_atomic

RECORD_SEAL = "record_sha256"
RESULTS_FILE = "results.json"
KINDS = ("training", "evaluation", "cross-evaluation")
# |H - 2 Mem For / (Mem + For)| allowed in a record, in percentage points: a
# record rounded to one decimal still checks, an edited H does not.
H_TOLERANCE = 0.05
OPENAI_CLIP_FILE_SUFFIXES = (".pt", ".pth")


def eval_record_name(epoch, cross: bool = False) -> str:
    """The file an --eval-only writes: it names the epoch it scored, and never
    is results.json, the training run's record."""
    return f"results_{'cross_eval' if cross else 'eval'}_epoch{epoch}.json"


def canonical(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def seal(record: dict) -> dict:
    """`record` with its record_sha256 (computed without that key) added last."""
    body = {k: v for k, v in record.items() if k != RECORD_SEAL}
    return {**body, RECORD_SEAL: hashlib.sha256(canonical(body)).hexdigest()}


def seal_matches(record: dict) -> bool:
    """True when the record carries no seal (written before it) or its seal matches."""
    if RECORD_SEAL not in record:
        return True
    return seal(record)[RECORD_SEAL] == record[RECORD_SEAL]


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def record_problem(record: dict):
    """Why a results record cannot be trusted as its run wrote it (one
    phrase), or None. Checks what the record alone can tell."""
    if not seal_matches(record):
        return ("it was changed after the run wrote it (record_sha256 does not match "
                "its content)")
    mem, for_, h = (record.get(k) for k in ("mem", "for", "h"))
    if all(is_number(v) and math.isfinite(v) for v in (mem, for_, h)):
        want = 2 * mem * for_ / (mem + for_) if mem + for_ > 0 else 0.0
        if abs(h - want) > H_TOLERANCE:
            return (f"its H {h} is not the harmonic mean of its Mem {mem} and For {for_} "
                    f"({want:.4f})")
    keys, fp = record.get("fingerprint_keys"), record.get("fingerprint")
    if "provenance" in record and isinstance(keys, dict) and fp is not None:
        from .fingerprint import digest
        if digest(keys) != fp:
            return "its fingerprint is not the digest of its fingerprint_keys"
    kind = (record.get("provenance") or {}).get("kind") if isinstance(
        record.get("provenance"), dict) else None
    if "provenance" in record and kind not in KINDS:
        return f"its provenance kind {kind!r} is none of {', '.join(KINDS)}"
    return None


def record_kind(record: dict) -> str:
    """"training", "evaluation" or "cross-evaluation"; a record without
    provenance (written before it) counts as a training one."""
    prov = record.get("provenance")
    return prov.get("kind", "training") if isinstance(prov, dict) else "training"


# --- file digests, cached -------------------------------------------------

def cache_folder() -> str:
    return osp.join(os.environ.get("ADU_CACHE_DIR")
                    or osp.join(osp.expanduser("~"), ".cache", "adu"), "file_sha256")


def stamp(st) -> dict:
    """What tells a file from the one hashed before, without reading it. ctime
    changes whenever the content is written, even by a copy that keeps the mtime."""
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "ctime_ns": st.st_ctime_ns,
            "ino": st.st_ino, "dev": st.st_dev}


def entry_check(entry: dict) -> str:
    return hashlib.sha256(canonical({k: v for k, v in entry.items() if k != "check"})).hexdigest()


def cached_file_sha256(path: str) -> str:
    """sha256 of the file at `path`, read from the cache when the file's
    stamp is the one hashed; a damaged or stale entry is recomputed."""
    real = osp.realpath(path)
    st = os.stat(real)
    entry_path = osp.join(cache_folder(), hashlib.sha256(real.encode()).hexdigest() + ".json")
    try:
        with open(entry_path) as f:
            entry = json.load(f)
        if (isinstance(entry, dict) and entry.get("check") == entry_check(entry)
                and entry.get("path") == real and entry.get("stamp") == stamp(st)
                and isinstance(entry.get("sha256"), str) and len(entry["sha256"]) == 64):
            return entry["sha256"]
    except (OSError, ValueError):
        pass  # no entry, or one that does not parse: hash the file
    digest = file_sha256(real)
    if stamp(os.stat(real)) == stamp(st):  # not changed while it was read
        entry = {"path": real, "stamp": stamp(st), "sha256": digest}
        try:
            write_json_atomic(entry_path, {**entry, "check": entry_check(entry)})
        except OSError:
            pass  # an unwritable cache only costs the next run a read
    return digest


def backbone_files(name: str, resolve) -> list:
    """The local files a MODEL.BACKBONE.NAME reads (resolved by `resolve`,
    files.repo_path): an OpenAI-format file, or an open_clip backbone's
    model-config JSON and weights file; [] for a model name."""
    name = str(name or "")
    if name.startswith("open_clip:"):
        parts = name[len("open_clip:"):].split(":", 1)
        paths = [resolve(p) for p in parts]
    else:
        paths = [resolve(name)] if name else []
    return [p for p in paths if p and osp.isfile(p)]


def backbone_sha256(name: str, resolve):
    """One sha256 over the backbone's local files (their contents, in order),
    None for a model name (no local file)."""
    files = backbone_files(name, resolve)
    if not files:
        return None
    if len(files) == 1:
        return cached_file_sha256(files[0])
    return hashlib.sha256("".join(cached_file_sha256(f) for f in files).encode()).hexdigest()


def recorded_backbone_sha256(record: dict):
    prov = record.get("provenance")
    if isinstance(prov, dict) and isinstance(prov.get("backbone"), dict):
        return prov["backbone"].get("sha256")
    return None


def test_split_digest(items, root: str) -> dict:
    """{"sha256", "images"} of the test items read: each image's path relative
    to the dataset root (the same files elsewhere give the same digest),
    label and domain, in the loader's order."""
    h = hashlib.sha256()
    n = 0
    root = osp.abspath(osp.expanduser(root)) if root else ""
    for item in items:
        path = osp.abspath(item.impath)
        rel = osp.relpath(path, root) if root and path.startswith(root + os.sep) else path
        h.update(f"{rel}\t{item.label}\t{item.domain}\n".encode())
        n += 1
    return {"sha256": h.hexdigest(), "images": n}
