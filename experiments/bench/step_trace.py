"""How far a reader walks to follow one training step: the project code that
one `forward_backward` of a toy trainer passes through (tools/step_trace.py).

The trainer is built the way train.py builds it (toy benchmark, shipped tiny
CLIP, CPU, seed 1); one step runs untraced (first-call caches), then the
second is traced with `sys.setprofile`: the Python functions whose code lives
in a file of the repository (tests/ and code made at run time excluded), the
files they are in, and the deepest nesting of project frames
(forward_backward itself is depth 1). tests/test_step_trace.py keeps the
figures under docs/LAYOUT.md's targets.
"""
import os
import sys
import tempfile

import torch

import train
from trainers.run.files import PROJECT_ROOT as REPO


def project_file(path: str):
    """The repository-relative path of a project source file, else None."""
    if not os.path.isfile(path):  # code made at run time (namedtuple, dataclass): "<string>"
        return None
    path = os.path.abspath(path)
    rel = os.path.relpath(path, REPO)
    if rel.startswith("..") or rel.startswith(("tests" + os.sep, ".venv" + os.sep)):
        return None
    return rel


def trace_call(fn, *args):
    """Run fn(*args) under a profiler; (functions as {(file, qualname): calls}, max depth)."""
    calls, depth, deepest = {}, [0], [0]
    files_seen = {}

    def profile(frame, event, arg):
        if event not in ("call", "return"):
            return
        code = frame.f_code
        rel = files_seen.get(code.co_filename, 0)
        if rel == 0:
            rel = files_seen[code.co_filename] = project_file(code.co_filename)
        if rel is None:
            return
        if event == "call":
            key = (rel, getattr(code, "co_qualname", code.co_name))
            calls[key] = calls.get(key, 0) + 1
            depth[0] += 1
            deepest[0] = max(deepest[0], depth[0])
        else:
            depth[0] -= 1

    sys.setprofile(profile)
    try:
        fn(*args)
    finally:
        sys.setprofile(None)
    return calls, deepest[0]


def step_trace(root: str, trainer: str = "ADU", config_file: str = "", opts=(),
               dataset: str = "toy_domains", forget: str = "sketch") -> dict:
    """{"functions", "files", "depth", "calls"} of a trainer's second training
    step on `dataset` ("calls": "file:qualname" of each function, sorted)."""
    config_file = config_file or os.path.join(REPO, "configs", "trainers", trainer, "toy_tiny.yaml")
    with tempfile.TemporaryDirectory() as out:
        argv = ["--root", root, "--seed", "1", "--trainer", trainer, "--output-dir", out,
                "--dataset-config-file", os.path.join(REPO, "configs", "datasets",
                                                      f"{dataset}.yaml"),
                "--config-file", config_file, "--forget-domains", forget, *opts]
        torch.manual_seed(1)
        train.register()
        t = train.build(train.setup_cfg(train.parse_args(argv)))
        t.set_model_mode("train")
        loader = iter(t.train_loader_x)
        t.epoch, t.num_batches = 0, len(t.train_loader_x)
        t.batch_idx = 0
        t.forward_backward(next(loader))
        t.batch_idx = 1
        calls, depth = trace_call(t.forward_backward, next(loader))
    return {"functions": len(calls), "files": len({f for f, _ in calls}), "depth": depth,
            "calls": sorted(f"{f}:{q}" for f, q in calls)}
