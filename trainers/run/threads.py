"""How many CPU threads torch uses in a run: at most the CPUs this process
may run on.

torch starts one intra-op thread per core of the machine, not per CPU this
process is allowed (taskset, a container's or SLURM's cpuset); threads
beyond those CPUs wait on each other at every parallel operation.
OMP_NUM_THREADS, when set, is the user's choice and is kept. The count
changes no number here: a run of the demo's ADU config gave a byte-identical
results.json with 1 and with 2 threads (docs/PERFORMANCE.md, "The demo's
time and threads"). Plain Python; torch is imported by set_threads only.
"""
import os


def cpu_count() -> int:
    """CPUs this process may use, the count torch's DataLoader checks against."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def chosen_threads(default: int, environ=os.environ):
    """The thread count to set, or None to keep torch's `default`."""
    if environ.get("OMP_NUM_THREADS"):
        return None  # torch read it at start-up
    return min(default, cpu_count())


def set_threads() -> int:
    """Apply chosen_threads; the count torch now uses."""
    import torch  # here: train.py imports this module and no torch
    threads = chosen_threads(torch.get_num_threads())
    if threads is not None and threads != torch.get_num_threads():
        torch.set_num_threads(threads)
    return torch.get_num_threads()
