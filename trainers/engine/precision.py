"""PREC handling shared by every trainer: fp16, fp32 or amp for the frozen CLIP.

Trainable parameters always stay in fp32; only the frozen CLIP is cast. A CPU
cannot run CLIP in half precision efficiently (and autocast fp16 is a GPU
feature), so fp16 and amp fall back to fp32 there, with one notice. The
training step that goes with a PREC (the forward under autocast, the check
for an overflowed loss, amp's loss scaling) lives here too, so every
gradient-trained trainer and tools/benchmark.py take the same step.
"""
import contextlib

import torch
from clip.model import convert_weights

from user_errors import ConfigError

PRECISIONS = ("fp16", "fp32", "amp")


def resolve_precision(prec: str, device: torch.device) -> str:
    if prec not in PRECISIONS:
        raise ConfigError(f"PREC must be one of {PRECISIONS}, got '{prec}'.")
    if prec != "fp32" and torch.device(device).type != "cuda":
        print(f"Note: PREC={prec} needs a CUDA device; running in fp32 on "
              f"{torch.device(device).type}.")
        return "fp32"
    return prec


def cast_clip(clip_model, prec: str):
    """Put the frozen CLIP's weights in the precision `prec` asks for."""
    if prec == "fp16":
        convert_weights(clip_model)
    else:
        clip_model.float()
    return clip_model


def autocast_context(prec: str, device: torch.device):
    if prec == "amp":
        return torch.autocast(device_type=torch.device(device).type, dtype=torch.float16)
    return contextlib.nullcontext()


def make_grad_scaler(prec: str, device: torch.device):
    """A GradScaler for amp (fp16 gradients can underflow); None otherwise."""
    if prec == "amp":
        return torch.amp.GradScaler(torch.device(device).type)
    return None


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


def backward_and_step(loss: torch.Tensor, optimizers, scaler=None):
    """Backward `loss` and step every optimiser (None entries skipped), through
    amp's GradScaler when there is one. Gradients must have been zeroed."""
    optimizers = [o for o in optimizers if o is not None]
    if scaler is not None:
        scaler.scale(loss).backward()
        for optim in optimizers:
            scaler.step(optim)
        scaler.update()
    else:
        loss.backward()
        for optim in optimizers:
            optim.step()


def training_step(model, images, objective, optimizers, scaler=None, prec: str = "fp32",
                  device="cpu", epoch: int = 0, batch_idx: int = 0):
    """One optimisation step; returns (loss terms, class logits).

    The forward pass `model(images)` runs under PREC's autocast;
    `objective(outputs) -> (terms, logits)` computes the losses outside it
    (in fp32), `terms["total"]` the one to minimise. Every term is checked
    to be finite before the gradients of `optimizers` are zeroed, and the
    backward and step go through amp's `scaler` when there is one.
    """
    with autocast_context(prec, device):
        outputs = model(images)
    terms, logits = objective(outputs)
    check_finite(terms, epoch, batch_idx, prec)
    optimizers = [o for o in optimizers if o is not None]
    for optim in optimizers:
        optim.zero_grad()
    backward_and_step(terms["total"], optimizers, scaler)
    return terms, logits
