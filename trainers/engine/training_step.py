"""One training step, the same for every gradient-trained trainer and the tools.

`training_step` takes a `Batch` (the per-batch inputs, as data) and an
objective `(outputs, batch) -> (terms, logits)`: the forward under PREC's
autocast (`autocast_context`: amp's fp16 autocast, else none), the losses
outside it (in fp32), the gradients zeroed, the backward and every
optimiser's step, through amp's loss scaling when there is a scaler. It
never waits for the device: the trainers' log (loss_log.py) stops a run on
a non-finite loss at its next print; `check_finite` is the per-step stop for
tools that want one. No Dassl, so that tools/benchmark.py times (and counts
the host syncs of) the step the trainers take.
"""
import contextlib
from typing import NamedTuple, Optional

import torch


class Batch(NamedTuple):
    """A training batch on the device: images (or cached features) [B, ...],
    class and domain labels [B], the forget-domain mask [B], and the soft
    domain-CE targets [B, num_domains] of DATASET.DOMAIN_LABELS soft (else None)."""
    images: torch.Tensor
    labels: torch.Tensor
    domains: torch.Tensor
    forget_mask: torch.Tensor
    domain_targets: Optional[torch.Tensor] = None


def autocast_context(prec: str, device) -> contextlib.AbstractContextManager:
    """amp's fp16 autocast for PREC amp; no autocast otherwise (fp16 and fp32
    run in the weights' own dtype, precision.py)."""
    if prec == "amp":
        return torch.autocast(device_type=torch.device(device).type, dtype=torch.float16)
    return contextlib.nullcontext()


def check_finite(terms: dict, epoch: int, batch_idx: int, prec: str):
    """Stop on a non-finite loss, naming the term and where it happened.

    One device sync for all terms; the terms are looked at one by one only
    when something is wrong.
    """
    if torch.cat([v.detach().float().reshape(-1) for v in terms.values()]).isfinite().all():
        return
    for name, value in terms.items():
        if not torch.isfinite(value).all():
            hint = " Try PREC fp32 or amp." if prec == "fp16" else ""
            raise FloatingPointError(
                f"Loss term '{name}' is {value.item()} at epoch {epoch + 1}, "
                f"batch {batch_idx + 1}.{hint}"
            )


def training_step(model, batch: Batch, objective, optimizers, scaler=None, prec: str = "fp32",
                  device="cpu"):
    """One optimisation step on `batch`; returns (loss terms, class logits).

    The forward pass `model(batch.images)` runs under PREC's autocast;
    `objective(outputs, batch) -> (terms, logits)` computes the losses outside
    it (in fp32), `terms["total"]` the one to minimise. The gradients of
    `optimizers` (None entries skipped) are zeroed, and the backward and step
    go through amp's `scaler` when there is one (whose inf check is amp's own
    sync per step).
    """
    with autocast_context(prec, device):
        outputs = model(batch.images)
    terms, logits = objective(outputs, batch)
    optimizers = list(filter(None, optimizers))
    for optim in optimizers:
        optim.zero_grad()
    loss = terms["total"]
    if scaler is not None:
        scaler.scale(loss).backward()
        for optim in optimizers:
            scaler.step(optim)
        scaler.update()
    else:
        loss.backward()
        for optim in optimizers:
            optim.step()
    return terms, logits
