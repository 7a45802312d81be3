"""What results.json's two linear probes cost (trainers/modules/probes.py),
fitted to their gradient tolerance on synthetic features of a dataset's
sizes: seconds, iterations, whether they converged, peak memory."""
import os
import time

import torch
import torch.nn.functional as F

from experiments.bench.memory import _proc_status_kib
from experiments.bench.timing import synchronize
from trainers.modules.probes import fit_probe

# (shots, domains, classes, test images): the domain probe reads every shot,
# the forget-class probe one domain's shots (8 per class).
SIZES = {"tiny": (96, 4, 3, 400), "office_home": (2080, 4, 65, 15588),
         "imagenet": (16000, 2, 1000, 60000)}
DIM = 512  # ViT-B/16's embedding


def synthetic(n, classes, dim, gen):
    """Unit-norm features of `classes` overlapping clusters, and their labels."""
    centers = torch.randn(classes, dim, generator=gen)
    y = torch.randint(0, classes, (n,), generator=gen)
    return F.normalize(centers[y] * 0.05 + torch.randn(n, dim, generator=gen), dim=-1), y


def peak_mib(fn, device):
    """(fn's result, peak memory above the start in MiB: RSS high-water mark
    on a CPU, max_memory_allocated on a GPU; None where neither is readable)."""
    if device.type == "cuda":
        synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        out = fn()
        synchronize(device)
        return out, (torch.cuda.max_memory_allocated(device) - base) / 2 ** 20
    if not os.path.exists("/proc/self/clear_refs"):
        return fn(), None
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # VmHWM := the current resident set
    base = _proc_status_kib("VmRSS")
    out = fn()
    return out, (_proc_status_kib("VmHWM") - base) / 1024


def probe_costs(size: str, device) -> dict:
    """{probe: seconds, iterations, converged, accuracy, peak MiB} at `size`."""
    shots, domains, classes, test = SIZES[size]
    gen = torch.Generator().manual_seed(0)
    per_domain_test = test // domains
    problems = {"domain_probe": (synthetic(shots, domains, DIM, gen),
                                 synthetic(test, domains, DIM, gen)),
                "forget_class_probe": (synthetic(shots // domains, classes, DIM, gen),
                                       synthetic(per_domain_test, classes, DIM, gen))}
    costs = {}
    for name, ((tr_x, tr_y), (te_x, te_y)) in problems.items():
        start = time.perf_counter()
        result, mib = peak_mib(lambda: fit_probe(tr_x, tr_y, te_x, te_y, device), device)
        costs[name] = {"seconds": time.perf_counter() - start, "peak_mib": mib,
                       "iterations": result.iterations, "converged": result.converged,
                       "accuracy": result.accuracy, "train": len(tr_y), "test": len(te_y),
                       "classes": int(tr_y.max()) + 1}
    return costs
