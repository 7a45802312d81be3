"""What tools/gpu_check.py does (its docstring says what it measures): the
benchmark's rows 1-4 and 6 (and 3s, the host syncs) per PREC and batch, the
three data loaders (Dassl's, persistent workers, the shot cache), the toy run,
and the report in OUT/gpu_check.md and OUT/gpu_check.json."""
import argparse
import contextlib
import gc
import json
import os
import tempfile
import time

import torch

from experiments.bench.device import describe_device
from experiments.bench.gpu_report import markdown, report_rows
from experiments.bench.loader_speed import LOADERS, measure_loader
from experiments.bench.settings import Settings
from experiments.bench.toy_run import toy_run

PRECS = ("fp16", "amp", "fp32")
BATCHES = (32, 128)


def progress(message):
    print(f"gpu_check: {message}", flush=True)


def measure_steps(pairs, smoke, log, scratch):
    """The benchmark (rows 1-4 and 6) once per (PREC, batch) of `pairs`; a
    setting whose step overflows or runs out of memory is reported, not fatal."""
    # Imported here: without a GPU the check says so before Dassl's MMD op loads.
    from experiments.bench.benchmark import run_benchmark
    measured = []
    for prec, batch in pairs:
        path = os.path.join(scratch, f"benchmark_{prec}_{batch}.json")
        sizes = (dict(tiny=True, device="cpu", reps=1, eval_reps=1) if smoke
                 else dict(reps=5, eval_reps=5, warmup=2))
        progress(f"ADU step, PREC {prec}, batch {batch}")
        entry = {"prec": prec, "batch": batch}
        try:
            with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
                run_benchmark(Settings(prec=prec, batch=batch, skip={"5", "7", "8", "9"},
                                       json=path, **sizes))
            with open(path) as f:
                found = json.load(f)
            found["prec_used"] = found.pop("prec")  # fp32 where there is no CUDA
            entry.update(found)
        except FloatingPointError as err:  # loss_log.LossLog.read: a non-finite loss
            entry["error"] = f"non-finite loss: {err}"
        except torch.cuda.OutOfMemoryError:
            entry["error"] = "out of GPU memory"
        finally:
            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        measured.append(entry)
    return measured


def check_gpu(args) -> int:
    """tools/gpu_check.py for parsed `args`: its exit status."""
    if not args.smoke and not torch.cuda.is_available():
        print(f"gpu_check: no CUDA GPU on this machine (torch {torch.__version__} sees none); "
              "nothing measured.")
        return 0
    start = time.perf_counter()
    device = torch.device("cpu" if args.smoke else "cuda")
    os.makedirs(args.out, exist_ok=True)
    info = describe_device(device)
    progress(f"{info.get('name')} ({device}), torch {info['torch']}, CUDA {info['cuda']}; "
             f"report into {args.out}")
    pairs = [("fp16", 4)] if args.smoke else [(p, b) for p in PRECS for b in BATCHES]
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as scratch, \
            open(os.path.join(args.out, "benchmark.log"), "w") as log:
        steps = measure_steps(pairs, args.smoke, log, scratch)
        loaders = {}
        for mode in LOADERS:
            progress(f"data loader: {LOADERS[mode]}")
            loaders[mode] = measure_loader(scratch, args.smoke, log, mode=mode)
    progress("toy run through train.py")
    toy = toy_run(os.path.abspath(args.out), os.path.abspath(args.data), args.smoke)
    wall = time.perf_counter() - start
    rows = report_rows(info, steps, loaders, toy)
    table = markdown(rows, wall, "tiny" if args.smoke else "ViT-B/16")
    with open(os.path.join(args.out, "gpu_check.md"), "w") as f:
        f.write(table)
    with open(os.path.join(args.out, "gpu_check.json"), "w") as f:
        json.dump({"device": info, "steps": steps, "loaders": loaders, "toy_run": toy,
                   "rows": [dict(zip(("check", "setting", "result", "note"), r)) for r in rows],
                   "wall_seconds": wall}, f, indent=1)
    print()
    print(table, end="")
    print(f"written: {os.path.join(args.out, 'gpu_check.md')}, "
          f"{os.path.join(args.out, 'gpu_check.json')}")
    return 0 if toy["finite"] and not any("error" in s for s in steps) else 1


def parse_args(argv=None):
    """tools/gpu_check.py's command line."""
    p = argparse.ArgumentParser(
        description="The GPU check: timings, memory and a toy run of ADU on this machine's GPU.")
    p.add_argument("--out", default="output/gpu_check", help="folder of the report")
    p.add_argument("--data", default=os.environ.get("DATA") or "data",
                   help="dataset root; the toy benchmark is generated there on first use")
    p.add_argument("--smoke", action="store_true",
                   help="run everything on the CPU at toy sizes (tests this program)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    return check_gpu(parse_args(argv))
