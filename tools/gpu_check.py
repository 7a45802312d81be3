"""One call that measures a GPU for ADU (scripts/adu/gpu_check.sh), in a few minutes.

    python tools/gpu_check.py --out output/gpu_check [--data data]

What it measures, into OUT/gpu_check.md (one Markdown table, also printed)
and OUT/gpu_check.json:
- the device, torch, CUDA, cuDNN and driver versions;
- the ADU training step against the frozen encoder's floor (a forward and a
  backward of stock encode_image) in PREC fp16, amp and fp32 at batch 32
  and 128, with the peak GPU memory of the step (max_memory_allocated) and
  the evaluation throughput: tools/benchmark.py's rows 1-4 and 6, one
  benchmark call per setting (its output in OUT/benchmark.log);
- the data loader at 224 px from JPEG files, with the configs' workers and
  train transform (Dassl's loader, as train.py builds it), beside the images
  per second the fp16 step at batch 128 consumes: a loader slower than the
  step means the GPU waits for data;
- a 2-epoch run of ADU on the toy benchmark through train.py in PREC fp16,
  with its H, and the non-finite check over its steps: train.py stops on a
  non-finite loss (precision.check_finite), every logged loss must be finite
  and so must every trained weight.

On a machine without a CUDA GPU it says so in one line and exits 0.
--smoke runs the same code on the CPU at toy sizes (tiny CLIP, a few
images, one epoch), to test this program where there is no GPU.
"""
import argparse
import contextlib
import gc
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import warnings

os.environ.setdefault("OUTDATED_IGNORE", "1")  # Dassl -> wilds: no network check
if __name__ == "__main__":
    # Dassl -> wilds -> outdated imports pkg_resources in a thread: a warning
    # no user can act on (as in tools/dataset_info.py), filtered in this program only.
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for path in (REPO, os.path.join(REPO, "tools")):
    if path not in sys.path:
        sys.path.insert(0, path)

import torch  # noqa: E402

PRECS = ("fp16", "amp", "fp32")
BATCHES = (32, 128)
METHOD_CFG = os.path.join(REPO, "configs", "trainers", "ADU", "vit_b16_ep50.yaml")
DATASET_CFG = os.path.join(REPO, "configs", "datasets", "office_home.yaml")
TIME_BUDGET_S = 8 * 60


def progress(message):
    print(f"gpu_check: {message}", flush=True)


# ------------------------------------------------------------------ device
def describe_device(device) -> dict:
    info = {"device": str(device), "torch": torch.__version__, "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available()
            else None, "python": platform.python_version(), "cpus": len(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity") else os.cpu_count()}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(name=props.name, capability=f"{props.major}.{props.minor}",
                    memory_gib=props.total_memory / 2**30,
                    tf32_matmul=torch.backends.cuda.matmul.allow_tf32)
        if shutil.which("nvidia-smi"):
            proc = subprocess.run(["nvidia-smi", "--query-gpu=driver_version",
                                   "--format=csv,noheader", "-i", str(device.index or 0)],
                                  capture_output=True, text=True)
            info["driver"] = proc.stdout.strip() if proc.returncode == 0 else None
    else:
        info["name"] = platform.processor() or "CPU"
    return info


# ---------------------------------------------------- training steps (benchmark)
def measure_steps(settings, smoke, log, scratch):
    """tools/benchmark.py (rows 1-4 and 6) once per (PREC, batch); a setting
    whose step overflows or runs out of memory is reported, not fatal."""
    import benchmark
    measured = []
    for prec, batch in settings:
        path = os.path.join(scratch, f"benchmark_{prec}_{batch}.json")
        argv = ["--prec", prec, "--batch", str(batch), "--skip", "5,7", "--json", path]
        argv += (["--tiny", "--device", "cpu", "--reps", "1", "--eval-reps", "1"] if smoke
                 else ["--reps", "5", "--eval-reps", "5", "--warmup", "2"])
        progress(f"ADU step, PREC {prec}, batch {batch}")
        entry = {"prec": prec, "batch": batch}
        try:
            with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
                benchmark.main(argv)
            with open(path) as f:
                found = json.load(f)
            found["prec_used"] = found.pop("prec")  # fp32 where there is no CUDA
            entry.update(found)
        except FloatingPointError as err:  # precision.check_finite: a non-finite loss
            entry["error"] = f"non-finite loss: {err}"
        except torch.cuda.OutOfMemoryError:
            entry["error"] = "out of GPU memory"
        finally:
            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        measured.append(entry)
    return measured


# -------------------------------------------------------------- data loader
def write_jpegs(folder, count, size):
    """`count` JPEG photos-to-be (smooth colour fields plus noise, like a
    photo's statistics for the decoder), `size` = (width, height)."""
    import numpy as np
    from PIL import Image
    rng = np.random.default_rng(0)
    os.makedirs(folder, exist_ok=True)
    w, h = size
    paths = []
    for i in range(count):
        coarse = rng.integers(0, 256, (h // 32 + 1, w // 32 + 1, 3), dtype=np.uint8)
        image = Image.fromarray(coarse).resize((w, h), Image.BICUBIC)
        noise = rng.normal(0, 12, (h, w, 3))
        pixels = np.clip(np.asarray(image, dtype=np.float32) + noise, 0, 255).astype(np.uint8)
        path = os.path.join(folder, f"{i:04d}.jpg")
        Image.fromarray(pixels).save(path, quality=90)
        paths.append(path)
    return paths


def measure_loader(scratch, smoke, log, epochs=2):
    """Images/s of the training loader train.py builds for the paper's
    config (224 px, random resized crop + flip, its workers, its batch), over
    whole epochs (workers restart each epoch, as in training), on an
    Office-Home-sized epoch drawn from a few hundred JPEG files."""
    from dassl.data.data_manager import build_data_loader
    from dassl.data.datasets import Datum
    from dassl.data.transforms import build_transform

    import train
    opts = ["DATALOADER.TRAIN_X.BATCH_SIZE", "8"] if smoke else []
    files = write_jpegs(os.path.join(scratch, "jpeg"), 24 if smoke else 256, (512, 384))
    with contextlib.redirect_stdout(log):  # cap_workers' note, Dassl's transform list
        cfg = train.setup_cfg(train.parse_args(["--config-file", METHOD_CFG,
                                                "--dataset-config-file", DATASET_CFG, *opts]))
        batch = cfg.DATALOADER.TRAIN_X.BATCH_SIZE
        per_epoch = batch * (2 if smoke else 16)  # Office-Home, 8 shots: ~16 batches of 128
        items = [Datum(impath=files[i % len(files)], label=i % 65, domain=i % 4)
                 for i in range(per_epoch)]
        loader = build_data_loader(cfg, sampler_type=cfg.DATALOADER.TRAIN_X.SAMPLER,
                                   data_source=items, batch_size=batch,
                                   tfm=build_transform(cfg, is_train=True), is_train=True)
    start, images, shape = time.perf_counter(), 0, None
    for _ in range(epochs):
        for batch_data in loader:
            images += batch_data["img"].shape[0]
            shape = list(batch_data["img"].shape[1:])
    seconds = time.perf_counter() - start
    return {"workers": cfg.DATALOADER.NUM_WORKERS, "batch": batch, "image_shape": shape,
            "files": len(files), "images": images, "epochs": epochs, "seconds": seconds,
            "images_per_second": images / seconds}


# ------------------------------------------------------------------ toy run
LOSS = re.compile(r"loss_(\w+) (\S+) \((\S+)\)")


def toy_run(out_dir, data_root, smoke):
    """2 epochs (smoke: 1, 2 shots) of ADU on the toy benchmark through
    train.py in PREC fp16; its H and the non-finite check over its steps."""
    run_dir = os.path.join(out_dir, "toy_run")
    shutil.rmtree(run_dir, ignore_errors=True)  # train.py would resume an old run
    epochs = 1 if smoke else 2
    command = [sys.executable, os.path.join(REPO, "train.py"), "--root", data_root,
               "--seed", "1", "--trainer", "ADU", "--forget-domains", "sketch",
               "--dataset-config-file", os.path.join(REPO, "configs", "datasets",
                                                     "toy_domains.yaml"),
               "--config-file", os.path.join(REPO, "configs", "trainers", "ADU", "toy_tiny.yaml"),
               "--output-dir", run_dir, "OPTIM.MAX_EPOCH", str(epochs),
               "TRAINER.ADU.PREC", "fp16", "TRAIN.PRINT_FREQ", "1"]
    if smoke:
        command += ["DATASET.NUM_SHOTS", "2"]
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True,
                          env=dict(os.environ, OUTDATED_IGNORE="1"))
    seconds = time.perf_counter() - start
    with open(os.path.join(out_dir, "toy_run.log"), "w") as f:
        f.write(proc.stdout + proc.stderr)
    entry = {"epochs": epochs, "seconds": seconds, "exit": proc.returncode,
             "command": command, "log": os.path.join(out_dir, "toy_run.log"),
             "prec": "fp32 (PREC fp16 fell back: no CUDA)"
             if "PREC=fp16 needs a CUDA device" in proc.stdout else "fp16"}
    entry.update(logged_losses(proc.stdout, proc.stderr))
    entry["non_finite_weights"] = (non_finite_weights(run_dir, epochs) if proc.returncode == 0
                                   else None)
    entry["finite"] = (proc.returncode == 0 and entry["steps_logged"] > 0
                       and not entry["non_finite_losses"] and entry["non_finite_weights"] == []
                       and not entry["overflow"])
    results = os.path.join(run_dir, "results.json")
    if proc.returncode == 0 and os.path.isfile(results):
        with open(results) as f:
            record = json.load(f)
        entry.update({k: record.get(k) for k in ("h", "mem", "for")})
    else:
        entry["error"] = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return entry


def logged_losses(stdout, stderr) -> dict:
    """What train.py's log says of its steps' losses (TRAIN.PRINT_FREQ 1: every
    step): how many, which were not finite, and whether train.py stopped on
    a non-finite loss (precision.check_finite's FloatingPointError)."""
    lines = [line for line in stdout.splitlines() if line.startswith("epoch [")]
    losses = [(name, float(value)) for line in lines for name, value, _ in LOSS.findall(line)]
    return {"steps_logged": len(lines), "losses_logged": len(losses),
            "non_finite_losses": [f"{n}={v}" for n, v in losses if not math.isfinite(v)],
            "overflow": "FloatingPointError" in stderr}


def non_finite_weights(run_dir, epoch):
    """Names of the trained tensors of the last checkpoint that hold a NaN or an inf."""
    from dassl.utils import load_checkpoint
    path = os.path.join(run_dir, "learner", f"model.pth.tar-{epoch}")
    if not os.path.isfile(path):
        return [f"no checkpoint {path}"]
    state = load_checkpoint(path)["state_dict"]
    return [name for name, value in state.items()
            if torch.is_tensor(value) and value.is_floating_point()
            and not torch.isfinite(value).all()]


# ------------------------------------------------------------------ report
def plural(n, word):
    return f"{n} {word}{'' if n == 1 else 's'}"


def fmt_s(seconds):
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def report_rows(info, steps, loader, toy):
    """(check, setting, result, note) rows of the one Markdown table."""
    rows = [("device", info.get("name", ""),
             f"{info.get('memory_gib', 0):.1f} GiB, compute {info.get('capability', '-')}"
             if "memory_gib" in info else info["device"],
             f"torch {info['torch']}, CUDA {info['cuda']}, cuDNN {info['cudnn']}, driver "
             f"{info.get('driver', '-')}, {info['cpus']} CPUs")]
    for s in steps:
        setting = f"PREC {s['prec']}, batch {s['batch']}"
        if "error" in s:
            rows.append(("ADU step", setting, "FAILED", s["error"]))
            continue
        sec, ratio = s["step_seconds"], s["step_vs_floor"]
        mem = s["memory_mib"].get("adu") or {}
        rows.append(("ADU step", setting,
                     f"{fmt_s(sec['adu'])} = {ratio['adu']:.2f}x the floor "
                     f"({fmt_s(sec['floor'])})",
                     f"{s['batch'] / sec['adu']:.0f} img/s; Baseline {ratio['baseline']:.2f}x; "
                     f"peak {mem.get('peak', float('nan')):.0f} MiB ({s['memory_kind']}), "
                     f"{mem.get('above_model', float('nan')):.0f} above the model; "
                     f"text-encoder calls {s['text_encoder_calls']}"
                     + ("" if s["prec"] == s["prec_used"] else
                        f"; ran in {s['prec_used']} (no CUDA)")))
        ips = s["eval_images_per_second"]
        rows.append(("evaluation", setting, f"{ips['adu']:.0f} img/s (ADU model)",
                     f"stock encode_image {ips['stock']:.0f} img/s "
                     f"({ips['adu'] / ips['stock']:.2f}x)"))
    consumer = next((s for s in steps if "error" not in s and s["prec"] == "fp16"
                     and s["batch"] == max(x["batch"] for x in steps)), None)
    need = consumer["batch"] / consumer["step_seconds"]["adu"] if consumer else None
    verdict = ""
    if need:
        verdict = (f"the fp16 step at batch {consumer['batch']} consumes {need:.0f} img/s: "
                   + ("data-bound (the GPU waits for the loader)"
                      if loader["images_per_second"] < need else "the loader keeps up")
                   + f" ({loader['images_per_second'] / need:.2f}x)")
    rows.append(("data loader", f"{loader['workers']} workers, JPEG -> "
                 f"{'x'.join(map(str, loader['image_shape'][1:]))} px, batch {loader['batch']}",
                 f"{loader['images_per_second']:.0f} img/s", verdict))
    if "error" in toy:
        rows.append(("toy run", f"{plural(toy['epochs'], 'epoch')}, train.py, {toy['prec']}",
                     "FAILED",
                     f"exit {toy['exit']}: {toy['error']}; log {toy['log']}"))
    else:
        rows.append(("toy run", f"{plural(toy['epochs'], 'epoch')}, train.py, {toy['prec']}",
                     f"H {toy['h']:.2f} (Mem {toy['mem']:.2f}, For {toy['for']:.2f})",
                     f"{toy['seconds']:.0f} s including start-up"))
    rows.append(("fp16 non-finite check", f"the toy run's {plural(toy['steps_logged'], 'step')}",
                 "pass" if toy["finite"] else "FAIL",
                 f"{toy['losses_logged']} logged losses, non-finite: "
                 f"{', '.join(toy['non_finite_losses']) or 'none'}; trained weights "
                 f"non-finite: {', '.join(toy['non_finite_weights'] or []) or 'none'}"
                 + ("; train.py stopped on a non-finite loss" if toy["overflow"] else "")))
    return rows


def markdown(rows, wall, arch):
    lines = ["| check | setting | result | note |", "|---|---|---|---|"]
    lines += ["| " + " | ".join(str(c).replace("|", "/") for c in row) + " |" for row in rows]
    lines.append("")
    lines.append(f"Wall time {wall:.0f} s"
                 + (f" (over the {TIME_BUDGET_S // 60}-minute budget)"
                    if wall > TIME_BUDGET_S else "") + ". Steps: median of timed runs after "
                 f"warm-up, random CLIP {arch} weights; floor = stock encode_image forward + "
                 "backward to the input; details in benchmark.log.")
    return "\n".join(lines) + "\n"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default="output/gpu_check", help="folder of the report")
    p.add_argument("--data", default=os.environ.get("DATA") or "data",
                   help="dataset root; the toy benchmark is generated there on first use")
    p.add_argument("--smoke", action="store_true",
                   help="run everything on the CPU at toy sizes (tests this program)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
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
    settings = [("fp16", 4)] if args.smoke else [(p, b) for p in PRECS for b in BATCHES]
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as scratch, \
            open(os.path.join(args.out, "benchmark.log"), "w") as log:
        steps = measure_steps(settings, args.smoke, log, scratch)
        progress("data loader")
        loader = measure_loader(scratch, args.smoke, log)
    progress("toy run through train.py")
    toy = toy_run(os.path.abspath(args.out), os.path.abspath(args.data), args.smoke)
    wall = time.perf_counter() - start
    rows = report_rows(info, steps, loader, toy)
    table = markdown(rows, wall, "tiny" if args.smoke else "ViT-B/16")
    with open(os.path.join(args.out, "gpu_check.md"), "w") as f:
        f.write(table)
    with open(os.path.join(args.out, "gpu_check.json"), "w") as f:
        json.dump({"device": info, "steps": steps, "loader": loader, "toy_run": toy,
                   "rows": [dict(zip(("check", "setting", "result", "note"), r)) for r in rows],
                   "wall_seconds": wall}, f, indent=1)
    print()
    print(table, end="")
    print(f"written: {os.path.join(args.out, 'gpu_check.md')}, "
          f"{os.path.join(args.out, 'gpu_check.json')}")
    return 0 if toy["finite"] and not any("error" in s for s in steps) else 1


if __name__ == "__main__":
    sys.exit(main())
