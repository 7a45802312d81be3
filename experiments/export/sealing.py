"""An exported file is sealed by its FILE.json: the json holds the sha256
and size of its model file and a sha256 of its own fields, so that a model
with flipped bytes, a truncated or replaced one, a json edited by hand or
the json of another model is refused before any image is read.

    meta = seal(meta, "adu.pt2")          # at export, after the file is written
    meta, data = read_sealed("adu.pt2", "torch.export")  # at predict: the checked bytes

The digest of the json is over its fields in canonical form (sorted keys,
no spaces) without `metadata_sha256` itself; it catches an accident (an
edited class name, a json truncated or copied from another export), not an
attacker, who could recompute it.
"""
import hashlib
import json
import os.path as osp

from datasets.files import open_regular
from user_errors import BadFileError, MissingFileError

CHUNK = 1 << 20
SEAL_KEYS = ("sha256", "size", "metadata_sha256")
# Fields predict.py reads; a json without them is not an export's json.
NEEDED = ("format", "classnames", "input", "outputs", "forget_domains") + SEAL_KEYS


def file_digest(path: str) -> tuple:
    """(sha256 hex, size in bytes) of the regular file at `path`."""
    digest, size = hashlib.sha256(), 0
    with open_regular(path) as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def metadata_digest(meta: dict) -> str:
    fields = {k: v for k, v in meta.items() if k != "metadata_sha256"}
    return hashlib.sha256(json.dumps(fields, sort_keys=True, separators=(",", ":"))
                          .encode()).hexdigest()


def seal(meta: dict, path: str) -> dict:
    """`meta` with the digest and size of the written file at `path`, then its own digest."""
    sha256, size = file_digest(path)
    sealed = {**meta, "sha256": sha256, "size": size}
    sealed["metadata_sha256"] = metadata_digest(sealed)
    return sealed


def export_again(path: str) -> str:
    return f"export the run again (python tools/export.py RUN_DIR ... {path})"


def read_json(meta_path: str, path: str) -> dict:
    if not osp.lexists(meta_path):
        raise MissingFileError(f"{meta_path} not found: an exported model is read with the "
                               f"json tools/export.py wrote beside it; {export_again(path)}.")
    try:
        with open_regular(meta_path) as f:
            meta = json.loads(f.read().decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        problem = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise BadFileError(f"{meta_path} is not a readable json ({problem}): it is damaged or "
                           f"not an export's json; {export_again(path)}.") from None
    missing = [k for k in NEEDED if not isinstance(meta, dict) or k not in meta]
    if missing:
        raise BadFileError(f"{meta_path} is not the sealed json of an export (no "
                           f"{', '.join(missing)}): {export_again(path)}.")
    return meta


def read_sealed(path: str, file_format: str) -> tuple:
    """(FILE.json of the exported `path`, the bytes of `path`), after checking
    that the json is intact and that the bytes are those it was written for
    (size, then sha256); one line naming the file and the fix otherwise. The
    model is loaded from these bytes, so a file replaced after the check is
    not read."""
    meta_path = path + ".json"
    meta = read_json(meta_path, path)
    if meta["metadata_sha256"] != metadata_digest(meta):
        raise BadFileError(f"{meta_path} was changed after export (its fields no longer match "
                           f"their digest metadata_sha256): {export_again(path)}.")
    if meta["format"] != file_format:
        raise BadFileError(f"{meta_path} describes a {meta['format']} file, but {path} is read "
                           f"as {file_format}: pass the file the json was written for, or "
                           f"{export_again(path)}.")
    try:
        with open_regular(path) as f:
            data = f.read()
    except OSError as err:
        raise BadFileError(f"{path} cannot be read ({err.strerror or err}): "
                           f"{export_again(path)}.") from None
    sha256, size = hashlib.sha256(data).hexdigest(), len(data)
    if size != meta["size"]:
        what = "truncated" if size < meta["size"] else "longer than exported"
        raise BadFileError(f"{path} is {size} bytes, its json says {meta['size']}: the file "
                           f"is {what} or replaced; copy it again, or {export_again(path)}.")
    if sha256 != meta["sha256"]:
        raise BadFileError(f"{path} does not match its json's sha256 (damaged, or the json of "
                           f"another export): copy the pair again, or {export_again(path)}.")
    return meta, data
