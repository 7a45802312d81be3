"""How far a reader walks to follow one training step: the project code that
one `forward_backward` of a toy ADU run passes through.

    python tools/step_trace.py [--root data] [--trainer ADU] [--config-file ...] [--json]

Builds the trainer the way train.py does (toy benchmark, tiny CLIP, CPU),
takes one step untraced (first-call caches), then traces the second with
`sys.setprofile` and counts the Python functions whose code lives in the
repository (tests/ excluded), the files they are in, and the deepest nesting
of project frames (forward_backward itself is depth 1). `--list` prints
every function. docs/LAYOUT.md gives the figures; tests/test_step_trace.py
keeps them under the targets (25 functions, 5 files, no config check).
"""
import argparse
import json
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if sys.path[0] != REPO:
    sys.path.insert(0, REPO)


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


def build_trainer(argv):
    import train
    if hasattr(train, "register"):
        train.register()
    from dassl.engine import build_trainer as dassl_build
    cfg = train.setup_cfg(train.parse_args(argv))
    return dassl_build(cfg)


def step_trace(root: str, trainer: str = "ADU", config_file: str = "", opts=()) -> dict:
    """{"functions", "files", "depth", "calls"} of a toy trainer's second training step."""
    import tempfile

    import torch
    config_file = config_file or os.path.join(REPO, "configs", "trainers", trainer, "toy_tiny.yaml")
    with tempfile.TemporaryDirectory() as out:
        argv = ["--root", root, "--seed", "1", "--trainer", trainer, "--output-dir", out,
                "--dataset-config-file",
                os.path.join(REPO, "configs", "datasets", "toy_domains.yaml"),
                "--config-file", config_file, "--forget-domains", "sketch", *opts]
        torch.manual_seed(1)
        t = build_trainer(argv)
        t.set_model_mode("train")
        loader = iter(t.train_loader_x)
        t.epoch, t.num_batches = 0, len(t.train_loader_x)
        t.batch_idx = 0
        t.forward_backward(next(loader))
        t.batch_idx = 1
        calls, depth = trace_call(t.forward_backward, next(loader))
    return {"functions": len(calls), "files": len({f for f, _ in calls}), "depth": depth,
            "calls": sorted(f"{f}:{q}" for f, q in calls)}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", default="data", help="dataset root (the toy is made there)")
    p.add_argument("--trainer", default="ADU")
    p.add_argument("--config-file", default="", help="default: configs/trainers/T/toy_tiny.yaml")
    p.add_argument("--list", action="store_true", help="print every function")
    p.add_argument("--json", action="store_true", help="one JSON object")
    p.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config options")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    result = step_trace(args.root, args.trainer, args.config_file, args.opts)
    if args.json:
        print(json.dumps(result))
        return
    print(f"{args.trainer} step: {result['functions']} project functions in "
          f"{result['files']} files, {result['depth']} project frames deep")
    if args.list:
        print("\n".join(f"  {c}" for c in result["calls"]))


if __name__ == "__main__":
    main()
