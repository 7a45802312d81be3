"""Counting the calls that make the host wait for the device.

On a GPU the host queues kernels and runs ahead until it needs a value back:
`.item()`, `.tolist()`, `.cpu()`, `.numpy()`, a tensor in an `if` (bool,
int, float), and the ops whose output size depends on the data
(`torch.unique`, `nonzero`, boolean-mask indexing). `SyncCounter` is a
TorchFunctionMode that counts those calls while it is active, on any
device: on a CPU they cost nothing, but each one is a stall on a GPU, so
the count measured here is the count a GPU run pays. (CUDA's own
`torch.cuda.set_sync_debug_mode` sees only real syncs, hence only on a GPU.)
"""
from collections import Counter

import torch
from torch.overrides import TorchFunctionMode

T = torch.Tensor
HOST_READS = {T.item, T.tolist, T.cpu, T.numpy, T.__bool__, T.__int__, T.__float__,
              T.__index__}
DATA_SIZED = {torch.unique, T.unique, torch.unique_consecutive, torch.nonzero, T.nonzero,
              torch.masked_select, T.masked_select, torch.argwhere, T.argwhere}


def name_of(func) -> str:
    return getattr(func, "__name__", str(func))


def is_mask_index(func, args) -> bool:
    """x[mask] / x[mask] = v with a boolean mask: the result's size is the mask's count."""
    if func not in (T.__getitem__, T.__setitem__) or len(args) < 2:
        return False
    index = args[1] if isinstance(args[1], tuple) else (args[1],)
    return any(isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in index)


def to_host(func, args, kwargs) -> bool:
    """tensor.to("cpu") of a tensor on another device (a copy the host waits
    for). A CPU tensor's `.to(device)` is the batch going to the device."""
    if func is not T.to or args[0].device.type == "cpu":
        return False
    target = kwargs.get("device", next((a for a in args[1:] if isinstance(a, (str, torch.device))),
                                       None))
    return target is not None and torch.device(target).type == "cpu"


class SyncCounter(TorchFunctionMode):
    """`with SyncCounter() as syncs: ...`; then `syncs.count`, and `syncs.calls`
    (a Counter by function name) says which calls they were."""

    def __init__(self):
        super().__init__()
        self.calls = Counter()

    @property
    def count(self) -> int:
        return sum(self.calls.values())

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in HOST_READS or func in DATA_SIZED or is_mask_index(func, args) \
                or to_host(func, args, kwargs):
            self.calls[name_of(func)] += 1
        return func(*args, **kwargs)


def reads_per_epoch(steps_per_epoch: int, print_freq: int) -> int:
    """How often the trainers read their log in an epoch (base.run_epoch):
    every print_freq steps and at the epoch's last step."""
    return steps_per_epoch // print_freq + (steps_per_epoch % print_freq != 0)


def count_step_syncs(step, steps: int = 1) -> dict:
    """The host syncs of `steps` calls of a benchmark's training step and of
    one read of its log (`step.read`), counted; what they cost per step at
    the configs' TRAIN.PRINT_FREQ is `per_step`."""
    with SyncCounter() as stepping:
        for _ in range(steps):
            step()
    with SyncCounter() as reading:
        step.read()
    return {"per_step_call": stepping.count / steps, "per_read": reading.count,
            "calls": dict(stepping.calls + reading.calls)}


def per_step(counted: dict, steps_per_epoch: int, print_freq: int) -> float:
    """Syncs per training step over an epoch of `steps_per_epoch` steps."""
    return (counted["per_step_call"] + counted["per_read"]
            * reads_per_epoch(steps_per_epoch, print_freq) / steps_per_epoch)
