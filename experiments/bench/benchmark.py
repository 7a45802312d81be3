"""What tools/benchmark.py does with its settings: each measurement in
turn (memory on the CPU first, the training steps, evaluation, MMD, the
text recompute), the table and its notes printed, --json written."""
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field

import torch

from experiments.bench.loader_speed import measure_loaders
from experiments.bench.memory import cpu_peak_memory, gpu_peak_memory
from experiments.bench.mmd import mmd_comparison
from experiments.bench.models import build_models, openai_reference, training_batch
from experiments.bench.probe_cost import probe_costs
from experiments.bench.steps import (CoOpStyleText, TextCallCounter, text_recompute_step,
                                     timed_step)
from experiments.bench.syncs import count_step_syncs, per_step
from experiments.bench.table import (Table, add_eval_rows, add_memory_rows, add_mmd_rows,
                                     add_loader_rows, add_probe_rows, add_step_rows,
                                     add_sync_row,
                                     add_text_rows, notes)
from experiments.bench.timing import median, paired_ratio, run_timed
from trainers.engine.precision import resolve_precision
from trainers.engine.training_step import autocast_context
from trainers.modules.timm_towers import image_embed_dim, timm_trunk


@dataclass
class Measured:
    """What one benchmark run measured, for the table and --json."""
    names: list                 # the step configurations timed: floor, baseline, adu...
    unit: str                   # what the memory rows hold
    memory: dict = field(default_factory=dict)  # {name: (MiB above the model, peak) or None}
    times: dict = None          # {name: seconds per step, per round}
    text_calls: int = 0         # text-encoder calls during all those steps
    n_steps: int = 0
    eval_times: dict = None     # {"stock"/"adu": seconds per batch, per round}
    mmd: tuple = None           # (times, values) of row 5; None when skipped
    chunk: int = 0              # most classes per text-encoder pass in row 7
    text_costs: dict = None     # row 7, measure_text_recompute's
    syncs: dict = None          # row 3s, syncs.count_step_syncs' of the ADU step
    reference: str = None       # row 3o's OpenAI architecture (--backbone open_clip:ARCH)
    loaders: dict = None        # row 8, loader_speed.measure_loaders'
    probes: dict = None         # row 9, {size: probe_cost.probe_costs'}


def progress(message):
    print(f"  {message}", file=sys.stderr, flush=True)


def load_average():
    return f"{os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else "n/a"


def print_header(settings, device, prec, gpu):
    print(f"ADU benchmark: CLIP {settings.arch} (random weights) on {device}{gpu}, PREC {prec}, "
          f"torch {torch.__version__}, torch threads {torch.get_num_threads()}; batch "
          f"{settings.batch}, {settings.classes} classes; warm-up {settings.warmup}, median of "
          f"{settings.reps} (steps) / {settings.eval_reps} (eval) / {settings.mmd_reps} (MMD); "
          f"load average {load_average()} at start", flush=True)


def measure_evaluation(settings, models, device, prec) -> dict:
    """4: evaluation, the ADU model whole (class + domain logits), as trainers/adu.py runs it."""
    eval_images = training_batch(settings, device, seed=3, batch=settings.eval_batch)[0]
    models["adu"].eval()

    def evaluation(fn):
        def run():
            with torch.no_grad(), autocast_context(prec, device):
                fn(eval_images)
        return run

    return run_timed({"stock": evaluation(models["clip"].encode_image),
                      "adu": evaluation(models["adu"])},
                     settings.warmup, settings.eval_reps, device)


def measure_text_recompute(settings, clip_model, counter, chunk, device, prec) -> dict:
    """7: {class count: (seconds per step, chunks, classes per chunk, text-encoder
    calls)} of the class text features recomputed every step, CoOp-style."""
    text_costs = {}
    if "7" not in settings.skip and timm_trunk(clip_model.visual) is not None:
        progress("text recompute: skipped (CoOp's text prompts do not run on a timm-tower "
                 "model, docs/BACKBONES.md)")
        return text_costs
    for n_classes in ([] if "7" in settings.skip else settings.coop_classes):
        n_chunks = math.ceil(n_classes / chunk)
        size = math.ceil(n_classes / n_chunks)  # equal chunks covering every class
        text = CoOpStyleText(clip_model, size).to(device)
        before = counter.calls
        per_chunk = run_timed({"chunk": text_recompute_step(text, prec, device)},
                              settings.warmup, settings.reps, device)["chunk"]
        calls = (counter.calls - before) // (settings.warmup + settings.reps) * n_chunks
        text_costs[n_classes] = (median(per_chunk) * n_chunks, n_chunks, size, calls)
    return text_costs


def write_measurements(path, measured):
    """--json: what the table shows, as numbers (seconds, images/s, MiB)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    with open(path, "w") as f:
        json.dump(measured, f, indent=1)


def measurements(settings, device, gpu, prec, m: Measured, table, wall) -> dict:
    """The --json record of the measurements `m`."""
    return {
        "arch": settings.arch, "device": str(device), "gpu": gpu.strip(" ()"), "prec": prec,
        "batch": settings.batch, "eval_batch": settings.eval_batch, "torch": torch.__version__,
        "step_seconds": {name: median(m.times[name]) for name in m.names},
        "step_vs_floor": {name: paired_ratio(m.times, name, "floor") for name in m.names},
        "backbone": settings.backbone, "reference_arch": m.reference,
        "reference_adu_step_seconds": median(m.times["adu_openai"]) if m.reference else None,
        "adu_step_vs_reference": (paired_ratio(m.times, "adu", "adu_openai")
                                  if m.reference else None),
        "eval_images_per_second": {name: settings.eval_batch / median(t)
                                   for name, t in m.eval_times.items()},
        "memory_mib": {name: None if value is None else
                       {"above_model": value[0], "peak": value[1]}
                       for name, value in m.memory.items()},
        "memory_kind": m.unit, "text_encoder_calls": m.text_calls,
        "host_syncs": {**m.syncs, "print_freq": settings.print_freq,
                       "steps_per_epoch": settings.steps_per_epoch,
                       "per_step": per_step(m.syncs, settings.steps_per_epoch,
                                            settings.print_freq)},
        "loaders": m.loaders, "probes": m.probes,
        "rows": [dict(zip(Table.COLUMNS, row)) for row in table.rows],
        "wall_seconds": wall}


def measure(settings, device, prec) -> Measured:
    """Every measurement of the table, in the order that keeps them apart."""
    m = Measured(["floor", "baseline", "adu"]
                 + (["adu_ckpt"] if settings.grad_checkpointing else []),
                 "peak RSS" if device.type == "cpu" else "peak allocated")
    # 6 on CPU first: forked before this process has run any parallel work.
    if device.type == "cpu":
        for name in m.names:
            m.memory[name] = cpu_peak_memory(name, settings, device, prec)
            progress(f"memory of {name}: done")

    models = build_models(settings, device, prec, configs=m.names)
    batch = training_batch(settings, device)
    steps = {name: timed_step(name, models, batch, prec, device) for name in m.names}
    m.reference = openai_reference(settings)
    if m.reference:  # 3o: the same ADU step on OpenAI's CLIP code, in the same rounds
        reference = build_models(settings, device, prec, configs=("adu",), arch=m.reference)
        steps["adu_openai"] = timed_step("adu", reference, batch, prec, device)

    # 1-3, counting text-encoder calls in every step, warm-up included.
    counter = TextCallCounter(models["clip"])
    m.times = run_timed(steps, settings.warmup, settings.reps, device)
    m.text_calls = counter.calls
    m.n_steps = (settings.warmup + settings.reps) * len(m.names)
    m.syncs = count_step_syncs(steps["adu"])  # one more step, counted
    progress("training steps: done")
    if device.type == "cuda":
        for name in m.names:
            m.memory[name] = gpu_peak_memory(steps[name], device)

    m.eval_times = measure_evaluation(settings, models, device, prec)
    progress("evaluation: done")
    if "5" not in settings.skip:
        m.mmd = mmd_comparison(settings, device, image_embed_dim(models["clip"]))
        progress("MMD: done")
    m.chunk = settings.text_chunk or (125 if device.type == "cpu"
                                         else max(settings.coop_classes))
    m.text_costs = measure_text_recompute(settings, models["clip"], counter, m.chunk,
                                             device, prec)
    counter.handle.remove()
    if m.text_costs:
        progress("text recompute: done")
    if "8" not in settings.skip:
        m.loaders = measure_loaders(settings.tiny, settings.loader_workers)
        progress("data loaders: done")
    if "9" not in settings.skip:
        m.probes = {size: probe_costs(size, device) for size in settings.probe_sizes}
        progress("probes: done")
    return m


def build_table(settings, m: Measured) -> Table:
    table = Table()
    add_step_rows(table, m.times, m.n_steps, m.text_calls, m.reference)
    add_sync_row(table, m.syncs, settings.print_freq, settings.steps_per_epoch)
    add_eval_rows(table, settings.eval_batch, m.eval_times)
    if m.mmd is not None:
        add_mmd_rows(table, settings, *m.mmd)
    add_memory_rows(table, m.names, m.memory, m.unit)
    add_text_rows(table, median(m.times["adu"]), m.text_costs)
    if m.loaders:
        add_loader_rows(table, m.loaders)
    if m.probes:
        add_probe_rows(table, m.probes)
    return table


def run_benchmark(settings) -> Table:
    """Measure, print the table and its notes (and write --json); the table."""
    device = torch.device(settings.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    prec = resolve_precision(settings.prec or ("fp16" if device.type == "cuda" else "fp32"),
                             device)
    torch.set_num_threads(settings.threads)
    start = time.perf_counter()
    gpu = f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""
    print_header(settings, device, prec, gpu)
    m = measure(settings, device, prec)
    table = build_table(settings, m)
    print()
    table.print()
    for row, note in notes(device.type == "cpu", m.unit, m.chunk).items():
        if row not in settings.skip:
            print(note)
    wall = time.perf_counter() - start
    print(f"Load average {load_average()} at the end; wall time {wall:.0f} s.")
    if settings.json:
        write_measurements(settings.json, measurements(settings, device, gpu, prec, m, table,
                                                       wall))
    return table
