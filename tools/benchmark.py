"""What an ADU training step and ADU evaluation cost, side by side.

    python tools/benchmark.py            # CLIP ViT-B/16, random weights; GPU if present
    python tools/benchmark.py --tiny     # the tiny CLIP, a smoke run of a few seconds

ADU trains prompts on a frozen CLIP whose class text features are cached, so
a step should cost a frozen image-encoder forward + a backward to the
prompts, and evaluation should run at stock CLIP speed. This script measures
that claim and prints one table:

 1  floor: stock `encode_image` forward + backward to the input (frozen CLIP)
 2  Baseline step: deep vision prompts, L_memorize + L_forget
 3  ADU step: prompts + InstaPG + Domain Disentangling Loss; plus the number of
    text-encoder calls inside the training steps of 2 and 3 (must be 0)
 4  evaluation throughput of the ADU model vs stock `encode_image` (no_grad)
 5  all-pairs MMD^2 from one kernel matrix vs per-domain-pair loops
 6  peak memory of 1-3 (CPU: resident set of a forked process; GPU:
    max_memory_allocated), above what the built model already holds
 7  the ADU step if the class text features were recomputed through the text
    encoder every step, as trainers that learn text prompts (CoOp) must do

Every time is the median of timed runs after --warmup untimed ones. The
training steps (and the two evaluations) are timed in turn, round by round,
and their ratios are medians of per-round ratios, so that changes in the
machine's load between rounds cancel. Weights are random: timing does not
depend on their values. On CPU the default run takes a quarter of an hour on
2 cores (one ViT-B/16 step at batch 32 takes ~20-40 s there); --tiny takes
seconds.
"""
import argparse
import ctypes
import ctypes.util
import json
import math
import os
import statistics
import sys
import time

os.environ.setdefault("OUTDATED_IGNORE", "1")  # Dassl -> wilds: no network check
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from trainers.engine.precision import (  # noqa: E402
    autocast_context,
    cast_clip,
    make_grad_scaler,
    resolve_precision,
    training_step,
)
from trainers.modules.adu_clip import ADUCLIP, adu_objective  # noqa: E402
from trainers.modules.clip_utils import ARCHITECTURES, build_clip, freeze  # noqa: E402
from trainers.modules.losses import (  # noqa: E402
    ADULossConfig,
    median_bandwidth,
    mmd2_all_pairs,
    squared_distances,
)
from trainers.modules.text_prompts import PromptTextFeatures, initial_context  # noqa: E402

try:
    from dassl.modeling.ops.mmd import MaximumMeanDiscrepancy
except ImportError:  # the per-pair loops below then run without Dassl's op
    MaximumMeanDiscrepancy = None

NUM_DOMAINS = 4  # Office-Home's, for the training batches
TARGET_STEP = 1.15
TARGET_EVAL = 0.90
TARGET_MMD = 20.0
TARGET_MEMORY = 1.15
MMD_TOLERANCE = 1e-5
M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter


# ---------------------------------------------------------------- the models
def build_models(args, device, prec, configs=("floor", "baseline", "adu")):
    """The frozen CLIP and the ADU models that wrap it (sharing its weights)."""
    torch.manual_seed(0)
    clip_model = freeze(cast_clip(build_clip(args.arch).to(device), prec))
    classnames = [f"class {i}" for i in range(args.classes)]
    models = {"clip": clip_model}
    for name in configs:
        if name == "baseline":  # the paper's ablation with InstaPG and DDL off
            models[name] = ADUCLIP(clip_model, classnames, NUM_DOMAINS,
                                   instapg_layers=[], domain_head=False).to(device)
        elif name in ("adu", "adu_ckpt"):
            models[name] = ADUCLIP(clip_model, classnames, NUM_DOMAINS,
                                   grad_checkpointing=name == "adu_ckpt").to(device)
    return models


LOSSES = {"baseline": ADULossConfig(ddl=False), "adu": ADULossConfig(),
          "adu_ckpt": ADULossConfig()}


def training_batch(args, device, seed=1):
    g = torch.Generator().manual_seed(seed)
    res = ARCHITECTURES[args.arch]["image_resolution"]
    images = torch.randn(args.batch, 3, res, res, generator=g)
    labels = torch.randint(0, args.classes, (args.batch,), generator=g)
    domains = torch.arange(args.batch) % NUM_DOMAINS
    forget_mask = domains == 0
    return [t.to(device) for t in (images, labels, domains, forget_mask)]


# --------------------------------------------------------- what gets timed
def floor_step(clip_model, images, prec, device):
    """Frozen stock encode_image, forward + backward to the input."""
    x = images.to(clip_model.dtype).clone().requires_grad_(True)

    def step():
        with autocast_context(prec, device):
            out = clip_model.encode_image(x)
        out.float().sum().backward()
        x.grad = None
    return step


def adu_step(model, loss_cfg, batch, prec, device):
    """One training step of trainers/adu.py, through the functions it calls:
    precision.training_step (forward, the finiteness check, backward and SGD
    step on the learner, with amp's scaler under PREC amp) on adu_objective."""
    images, labels, domains, forget_mask = batch
    optim = torch.optim.SGD(model.learner.parameters(), lr=0.0025, momentum=0.9,
                            weight_decay=5e-4)
    scaler = make_grad_scaler(prec, device)

    def objective(out):
        return adu_objective(out, labels, domains, forget_mask, loss_cfg)

    def step():
        training_step(model, images, objective, [optim], scaler, prec, device)
    return step


def timed_step(name, models, batch, prec, device):
    if name == "floor":
        return floor_step(models["clip"], batch[0], prec, device)
    model = models[name]
    model.train()
    return adu_step(model, LOSSES[name], batch, prec, device)


class CoOpStyleText(nn.Module):
    """Class text features recomputed through the frozen text encoder with a
    learnable context, "X X X X {class}.", by the piece CoOpADU uses
    (PromptTextFeatures, trainers/modules/text_prompts.py): what a trainer
    that learns text prompts pays every step and ADU does not."""

    def __init__(self, clip_model, num_classes: int, n_ctx: int = 4):
        super().__init__()
        self.features = PromptTextFeatures(
            clip_model, [f"class {i}" for i in range(num_classes)], n_ctx)
        device = clip_model.token_embedding.weight.device
        self.ctx = nn.Parameter(initial_context(clip_model, n_ctx).to(device))

    def forward(self) -> torch.Tensor:
        return self.features(self.ctx)


def text_recompute_step(text: CoOpStyleText, prec, device):
    """Text-encoder forward + backward to the context for its classes."""
    def step():
        with autocast_context(prec, device):
            feats = text()
        feats.sum().backward()
        text.ctx.grad = None
    return step


class TextCallCounter:
    """Counts text-encoder passes: calls of CLIP's final text LayerNorm, which
    encode_text and the prompt encoders of text_prompts.py all end with."""

    def __init__(self, clip_model):
        self.calls = 0
        self.handle = clip_model.ln_final.register_forward_pre_hook(self._count)

    def _count(self, module, inputs):
        self.calls += 1


# ------------------------------------------------------------------ timing
def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device) -> float:
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - start


def run_timed(fns: dict, warmup: int, reps: int, device, round_robin=True) -> dict:
    """Seconds per call of each function, `reps` of them after `warmup`.

    round_robin: one call of each per round, so that the machine's load
    changes between rounds hit all alike and per-round ratios cancel them
    (for calls of seconds). Otherwise each function runs its repetitions
    back to back, so that a call of a millisecond is not timed in the caches
    another function just left.
    """
    times = {name: [] for name in fns}
    if round_robin:
        for fn in fns.values():
            for _ in range(warmup):
                fn()
        for _ in range(reps):
            for name, fn in fns.items():
                times[name].append(timed(fn, device))
    else:
        for name, fn in fns.items():
            for _ in range(warmup):
                fn()
            times[name] = [timed(fn, device) for _ in range(reps)]
    return times


def median(times) -> float:
    return statistics.median(times)


def paired_ratio(times: dict, a: str, b: str) -> float:
    """Median over rounds of time(a) / time(b) within the same round."""
    return statistics.median(x / y for x, y in zip(times[a], times[b]))


# ------------------------------------------------------------ peak memory
def _proc_status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def cpu_peak_memory(name, args, device, prec):
    """(peak RSS above the warmed-up model, peak RSS) in MiB during one
    training step of `name`. Linux only; None elsewhere.

    Runs in a forked process, so that no other configuration's memory is
    resident in it. There, glibc is told to give every block of 64 KiB or
    more its own mapping (returned to the system when freed), so that the
    resident set follows the live tensors instead of what the heap kept; a
    warm-up step first allocates what the math libraries keep for good; then
    the peak (VmHWM) is reset and one more step is measured.
    """
    if not hasattr(os, "fork") or not os.path.exists("/proc/self/clear_refs"):
        return None
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(read_end)
            libc = ctypes.CDLL(ctypes.util.find_library("c"))
            libc.mallopt(M_MMAP_THRESHOLD, 64 * 1024)
            torch.set_num_threads(args.threads)
            models = build_models(args, device, prec, configs=(name,))
            step = timed_step(name, models, training_batch(args, device), prec, device)
            step()
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # VmHWM := the current resident set
            base = _proc_status_kib("VmRSS")
            step()
            os.write(write_end, f"{base} {_proc_status_kib('VmHWM')}".encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end) as f:
        reply = f.read()
    _, status = os.waitpid(pid, 0)
    if status != 0 or not reply:
        raise RuntimeError(f"the memory probe for '{name}' failed (status {status})")
    base, peak = (int(v) / 1024 for v in reply.split())
    return peak - base, peak


def gpu_peak_memory(step, device):
    """(peak allocated above what was allocated before, peak) in MiB."""
    synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    base = torch.cuda.memory_allocated(device)
    step()
    synchronize(device)
    peak = torch.cuda.max_memory_allocated(device)
    return (peak - base) / 2**20, peak / 2**20


# -------------------------------------------------------------------- MMD
class SameKernelMMD(MaximumMeanDiscrepancy or nn.Module):
    """Dassl's per-pair MMD op with ADU's kernel swapped in: one Gaussian RBF
    exp(-d^2 / h) and self-distances kept (the V-statistic ADU uses), so its
    value must equal ADU's all-pairs MMD^2 for the same pair."""

    def __init__(self, bandwidth):
        super().__init__()
        self.bandwidth = bandwidth

    def rbf_kernel_mixture(self, sq_dists):
        return torch.exp(-sq_dists / self.bandwidth)

    @staticmethod
    def remove_self_distance(distmat):
        return distmat

    def forward(self, x, y):
        if MaximumMeanDiscrepancy is not None:
            return super().forward(x, y)
        # Without Dassl: the same computation, written out.
        k = self.rbf_kernel_mixture
        return (k(squared_distances_between(x, x)).mean()
                + k(squared_distances_between(y, y)).mean()
                - 2 * k(squared_distances_between(x, y)).mean())


def squared_distances_between(x, y):
    return ((x * x).sum(1, keepdim=True) + (y * y).sum(1)[None] - 2 * x @ y.t()).clamp(min=0)


def per_pair_mmd2(features, domains, op):
    """Mean of op(domain a, domain b) over every pair a < b, one pair at a time."""
    present = torch.unique(domains).tolist()
    values = [op(features[domains == a], features[domains == b])
              for i, a in enumerate(present) for b in present[i + 1:]]
    return torch.stack(values).mean()


def mmd_comparison(args, device, embed_dim):
    """Times (fwd + bwd) and values of the three MMD computations."""
    g = torch.Generator().manual_seed(2)
    feats = F.normalize(torch.randn(args.mmd_batch, embed_dim, generator=g), dim=-1)
    domains = torch.randperm(args.mmd_batch, generator=g) % args.mmd_domains
    feats, domains = feats.to(device).requires_grad_(True), domains.to(device)
    # The bandwidth ADU's median heuristic picks, given to the loop as a number.
    h = median_bandwidth(squared_distances(feats.detach())).item()
    same_kernel = SameKernelMMD(h)

    def fwd_bwd(compute):
        def run():
            compute().backward()
            feats.grad = None
        return run

    fns = {"all_pairs": fwd_bwd(lambda: mmd2_all_pairs(feats, domains, "median")),
           "same_kernel_loop": fwd_bwd(lambda: per_pair_mmd2(feats, domains, same_kernel))}
    if MaximumMeanDiscrepancy is not None:
        dassl_op = MaximumMeanDiscrepancy(kernel_type="rbf")
        fns["dassl_loop"] = fwd_bwd(lambda: per_pair_mmd2(feats, domains, dassl_op))
    times = run_timed(fns, args.mmd_warmup, args.mmd_reps, device, round_robin=False)
    times = {name: median(t) for name, t in times.items()}
    with torch.no_grad():
        values = {"all_pairs": mmd2_all_pairs(feats, domains, "median").item(),
                  "same_kernel_loop": per_pair_mmd2(feats, domains, same_kernel).item()}
        if MaximumMeanDiscrepancy is not None:
            values["dassl_loop"] = per_pair_mmd2(feats, domains, dassl_op).item()
    return times, values


# ------------------------------------------------------------------ table
class Table:
    COLUMNS = ("#", "measurement", "value", "vs", "ratio", "target", "met")

    def __init__(self):
        self.rows = []
        self.verdicts = []

    def add(self, key, label, value, vs="", ratio="", target="", met=None):
        if met is not None:
            self.verdicts.append((f"{key} {label}", met))
        self.rows.append((key, label, value, vs, ratio, target,
                          "" if met is None else ("yes" if met else "NO")))

    def print(self):
        widths = [max(len(str(r[i])) for r in self.rows + [self.COLUMNS])
                  for i in range(len(self.COLUMNS))]
        line = "  ".join("-" * w for w in widths)
        fmt = lambda row: "  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip()
        print(fmt(self.COLUMNS))
        print(line)
        for row in self.rows:
            print(fmt(row))
        print(line)
        missed = [name for name, ok in self.verdicts if not ok]
        print(f"targets met: {len(self.verdicts) - len(missed)} of {len(self.verdicts)}"
              + (f"; missed: {', '.join(missed)}" if missed else ""))


def seconds(t):
    return f"{t:.3f} s" if t >= 0.1 else f"{t * 1000:.2f} ms"


def ratio_str(r):
    return f"{r:.3f}x" if r < 10 else f"{r:.1f}x"


def add_mmd_rows(table, args, mmd_times, mmd_values):
    """Rows 5a-5c: the all-pairs MMD^2 against the per-pair loops."""
    table.add("5a", f"MMD^2 all pairs, one kernel matrix (B {args.mmd_batch}, "
              f"{args.mmd_domains} domains, fwd+bwd)", seconds(mmd_times["all_pairs"]))
    speedup = mmd_times["same_kernel_loop"] / mmd_times["all_pairs"]
    has_dassl = MaximumMeanDiscrepancy is not None
    table.add("5b", "per-pair loop, ADU's kernel + bandwidth ("
              + ("Dassl's op, kernel swapped)" if has_dassl else "no Dassl: plain loop)"),
              seconds(mmd_times["same_kernel_loop"]), "5a", f"{speedup:.1f}x slower",
              "" if has_dassl else f">= {TARGET_MMD:.0f}x",
              None if has_dassl else speedup >= TARGET_MMD)
    diff = abs(mmd_values["all_pairs"] - mmd_values["same_kernel_loop"])
    table.add("5v", "|5a - 5b|, same estimate (value-checked)", f"{diff:.1e}", "", "",
              f"<= {MMD_TOLERANCE:.0e}", diff <= MMD_TOLERANCE)
    if has_dassl:
        speedup = mmd_times["dassl_loop"] / mmd_times["all_pairs"]
        table.add("5c", "per-pair loop, Dassl's MaximumMeanDiscrepancy (timing only)",
                  seconds(mmd_times["dassl_loop"]), "5a", f"{speedup:.1f}x slower",
                  f">= {TARGET_MMD:.0f}x", speedup >= TARGET_MMD)


# ------------------------------------------------------------------- main
def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tiny", action="store_true",
                   help="the tiny CLIP, batch 4, one repetition: a smoke run")
    p.add_argument("--device", default="", help="cpu or cuda (default: cuda if present)")
    p.add_argument("--prec", default="",
                   help="fp32, fp16 or amp (default: fp16 on GPU, fp32 on CPU)")
    p.add_argument("--batch", type=int, default=None, help="training batch (32)")
    p.add_argument("--eval-batch", type=int, default=None, help="default: --batch")
    p.add_argument("--reps", type=int, default=None,
                   help="timed repetitions of each training step (3)")
    p.add_argument("--eval-reps", type=int, default=None,
                   help="timed repetitions of each evaluation batch (5)")
    p.add_argument("--warmup", type=int, default=None, help="untimed runs first (1)")
    p.add_argument("--classes", type=int, default=65, help="classes of the ADU model")
    p.add_argument("--coop-classes", default="65,1000",
                   help="class counts of the text-recompute contrast (row 7)")
    p.add_argument("--text-chunk", type=int, default=0,
                   help="most classes per text-encoder pass in row 7 (default: 125 "
                        "on CPU, all on GPU); the cost is summed over the chunks")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default: the CPUs this process may use)")
    p.add_argument("--mmd-batch", type=int, default=128)
    p.add_argument("--mmd-domains", type=int, default=6)
    p.add_argument("--grad-checkpointing", action="store_true",
                   help="also run the ADU step with gradient checkpointing (3c, 6d)")
    p.add_argument("--skip", default="",
                   help="rows to leave out, comma-separated: 5 (MMD), 7 (text recompute)")
    p.add_argument("--json", default="", metavar="PATH",
                   help="also write the measurements (seconds, images/s, MiB) to PATH")
    args = p.parse_args(argv)
    args.skip = {r.strip() for r in args.skip.split(",") if r.strip()}
    if not args.skip <= {"5", "7"}:
        p.error(f"--skip takes rows 5 and 7 only, got {','.join(sorted(args.skip))}")
    args.arch = "tiny" if args.tiny else "ViT-B/16"
    args.batch = args.batch or (4 if args.tiny else 32)
    args.eval_batch = args.eval_batch or args.batch
    args.reps = args.reps or (1 if args.tiny else 3)
    args.eval_reps = args.eval_reps or (1 if args.tiny else 5)
    args.warmup = 1 if args.warmup is None else args.warmup
    args.mmd_reps = 3 if args.tiny else 50
    args.mmd_warmup = 1 if args.tiny else 5
    if args.threads is None:
        args.threads = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                        else os.cpu_count())
    args.coop_classes = [int(c) for c in args.coop_classes.split(",") if c]
    return args


def progress(message):
    print(f"  {message}", file=sys.stderr, flush=True)


def load_average():
    return f"{os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else "n/a"


def main(argv=None):
    args = parse_args(argv)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    prec = resolve_precision(args.prec or ("fp16" if device.type == "cuda" else "fp32"),
                             device)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    names = ["floor", "baseline", "adu"] + (["adu_ckpt"] if args.grad_checkpointing else [])
    gpu = f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""
    print(f"ADU benchmark: CLIP {args.arch} (random weights) on {device}{gpu}, PREC {prec}, "
          f"torch {torch.__version__}, torch threads {torch.get_num_threads()}; batch "
          f"{args.batch}, {args.classes} classes; warm-up {args.warmup}, median of "
          f"{args.reps} (steps) / {args.eval_reps} (eval) / {args.mmd_reps} (MMD); "
          f"load average {load_average()} at start", flush=True)

    # 6 on CPU first: forked before this process has run any parallel work.
    memory = {}
    if device.type == "cpu":
        for name in names:
            memory[name] = cpu_peak_memory(name, args, device, prec)
            progress(f"memory of {name}: done")

    models = build_models(args, device, prec, configs=names)
    clip_model = models["clip"]
    batch = training_batch(args, device)
    steps = {name: timed_step(name, models, batch, prec, device) for name in names}

    # 1-3, counting text-encoder calls in every step, warm-up included.
    counter = TextCallCounter(clip_model)
    times = run_timed(steps, args.warmup, args.reps, device)
    text_calls = counter.calls
    n_steps = (args.warmup + args.reps) * len(names)
    progress("training steps: done")
    if device.type == "cuda":
        for name in names:
            memory[name] = gpu_peak_memory(steps[name], device)

    # 4: evaluation, the ADU model whole (class + domain logits), as trainers/adu.py runs it.
    eval_images = training_batch(argparse.Namespace(**{**vars(args), "batch": args.eval_batch}),
                                 device, seed=3)[0]
    models["adu"].eval()

    def evaluation(fn):
        def run():
            with torch.no_grad(), autocast_context(prec, device):
                fn(eval_images)
        return run

    eval_times = run_timed({"stock": evaluation(clip_model.encode_image),
                            "adu": evaluation(models["adu"])},
                           args.warmup, args.eval_reps, device)
    progress("evaluation: done")

    # 5
    if "5" not in args.skip:
        mmd_times, mmd_values = mmd_comparison(args, device, clip_model.visual.output_dim)
        progress("MMD: done")

    # 7: class text features recomputed every step, CoOp-style.
    chunk = args.text_chunk or (125 if device.type == "cpu" else max(args.coop_classes))
    text_costs = {}
    for n_classes in ([] if "7" in args.skip else args.coop_classes):
        n_chunks = math.ceil(n_classes / chunk)
        size = math.ceil(n_classes / n_chunks)  # equal chunks covering every class
        text = CoOpStyleText(clip_model, size).to(device)
        before = counter.calls
        per_chunk = run_timed({"chunk": text_recompute_step(text, prec, device)},
                              args.warmup, args.reps, device)["chunk"]
        calls = (counter.calls - before) // (args.warmup + args.reps) * n_chunks
        text_costs[n_classes] = (median(per_chunk) * n_chunks, n_chunks, size, calls)
    counter.handle.remove()
    if text_costs:
        progress("text recompute: done")

    table = Table()
    adu = median(times["adu"])
    table.add("1", "floor: stock encode_image fwd + bwd to input", seconds(median(times["floor"])))
    table.add("2", "Baseline step (prompts; memorize + forget)", seconds(median(times["baseline"])),
              "1", ratio_str(paired_ratio(times, "baseline", "floor")))
    r = paired_ratio(times, "adu", "floor")
    table.add("3", "ADU step (prompts + InstaPG + DDL)", seconds(adu), "1", ratio_str(r),
              f"<= {TARGET_STEP}x", r <= TARGET_STEP)
    if "adu_ckpt" in times:
        table.add("3c", "ADU step, gradient checkpointing", seconds(median(times["adu_ckpt"])),
                  "1", ratio_str(paired_ratio(times, "adu_ckpt", "floor")))
    table.add("3t", f"text-encoder calls during all {n_steps} steps of 1-3",
              str(text_calls), "", "", "0", text_calls == 0)
    stock_ips = args.eval_batch / median(eval_times["stock"])
    r = paired_ratio(eval_times, "stock", "adu")
    table.add("4a", f"eval: stock encode_image, no_grad, batch {args.eval_batch}",
              f"{stock_ips:.2f} img/s")
    table.add("4b", "eval: ADU model (class + domain logits), no_grad",
              f"{args.eval_batch / median(eval_times['adu']):.2f} img/s", "4a", ratio_str(r),
              f">= {TARGET_EVAL}x", r >= TARGET_EVAL)
    if "5" not in args.skip:
        add_mmd_rows(table, args, mmd_times, mmd_values)
    unit = "peak RSS" if device.type == "cpu" else "peak allocated"
    floor_mem = memory.get("floor")
    for key, name, label in (("6a", "floor", "floor"), ("6b", "baseline", "Baseline step"),
                             ("6c", "adu", "ADU step"), ("6d", "adu_ckpt", "ADU step, ckpt")):
        if name not in names:
            continue
        if memory.get(name) is None:
            table.add(key, f"memory: {label}", "n/a (needs Linux /proc)")
            continue
        extra, peak = memory[name]
        value = f"{extra:.0f} MiB (peak {peak:.0f})"
        if name == "floor" or not floor_mem:
            table.add(key, f"memory: {label}, {unit} above the model", value)
            continue
        r = extra / floor_mem[0]
        target = name == "adu"
        table.add(key, f"memory: {label}, {unit} above the model", value, "6a", ratio_str(r),
                  f"<= {TARGET_MEMORY}x" if target else "", (r <= TARGET_MEMORY) if target else None)
    for letter, (n_classes, (cost, n_chunks, size, calls)) in zip("abcdefgh", text_costs.items()):
        how = f"{n_chunks} x {size} classes" if n_chunks > 1 else f"{size} classes"
        table.add(f"7{letter}", f"ADU step + text re-encoded every step (CoOp), {n_classes} "
                  "classes", seconds(adu + cost), "3", ratio_str((adu + cost) / adu))
        table.add("", f"  of which text-encoder fwd + bwd ({how}, {calls} "
                  f"call{'s' if calls != 1 else ''})", seconds(cost))
    print()
    table.print()
    notes = {
        "": "Times: medians. Ratios of 2-4: medians of per-round ratios (the configurations "
            "are timed in turn, so load changes between rounds cancel).",
        "5": "5: forward + backward. 5a and 5b compute the same estimate (one Gaussian RBF, "
             "the bandwidth of the median heuristic, self-distances kept) and must agree; "
             "Dassl's stock op (5c) uses a sum of RBFs (sigma 1, 5, 10) without "
             "self-distances, a different estimate: timed only.",
        "6": f"6: {unit} during one step above the model after a warm-up step"
             + (", each configuration in its own forked process" if device.type == "cpu"
                else "") + "; ratios of those excesses.",
        "7": "7: 3 + a text-encoder forward + backward to a learnable context for every "
             f"class, timed per chunk of at most {chunk} classes and summed (ADU's cached "
             "step does not grow with the class count beyond a batch x classes matmul).",
    }
    for row, note in notes.items():
        if row not in args.skip:
            print(note)
    wall = time.perf_counter() - start
    print(f"Load average {load_average()} at the end; wall time {wall:.0f} s.")
    if args.json:
        write_measurements(args.json, {
            "arch": args.arch, "device": str(device), "gpu": gpu.strip(" ()"), "prec": prec,
            "batch": args.batch, "eval_batch": args.eval_batch, "torch": torch.__version__,
            "step_seconds": {name: median(times[name]) for name in names},
            "step_vs_floor": {name: paired_ratio(times, name, "floor") for name in names},
            "eval_images_per_second": {name: args.eval_batch / median(t)
                                       for name, t in eval_times.items()},
            "memory_mib": {name: None if value is None else
                           {"above_model": value[0], "peak": value[1]}
                           for name, value in memory.items()},
            "memory_kind": unit, "text_encoder_calls": text_calls,
            "rows": [dict(zip(Table.COLUMNS, row)) for row in table.rows],
            "wall_seconds": wall})
    return table


def write_measurements(path, measured):
    """--json: what the table shows, as numbers (seconds, images/s, MiB)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    with open(path, "w") as f:
        json.dump(measured, f, indent=1)


if __name__ == "__main__":
    main()
