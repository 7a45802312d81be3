"""Timing calls: medians of repetitions after warm-up, round by round so
that the machine's load changes cancel in per-round ratios."""
import statistics
import time

import torch


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
