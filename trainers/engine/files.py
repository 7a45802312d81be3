"""Where the repository is, and how a run writes its files.

Kept free of Dassl and of the rest of the package, so that the method's
modules, the engine and the tools can all import it without a cycle.
"""
import json
import os
import os.path as osp

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


def write_json_atomic(path: str, obj) -> None:
    """Write JSON so that a reader never sees a half-written file."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
