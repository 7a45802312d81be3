"""Peak memory of one training step: the resident set of a forked process
on the CPU, max_memory_allocated on a GPU."""
import ctypes
import ctypes.util
import os

import torch

from experiments.bench.models import build_models, training_batch
from experiments.bench.steps import timed_step
from experiments.bench.timing import synchronize

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter


def _proc_status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def cpu_peak_memory(name, settings, device, prec):
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
            torch.set_num_threads(settings.threads)
            models = build_models(settings, device, prec, configs=(name,))
            step = timed_step(name, models, training_batch(settings, device), prec, device)
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
