"""PREC handling shared by every trainer: fp16, fp32 or amp for the frozen CLIP.

Trainable parameters always stay in fp32; only the frozen CLIP is cast. A CPU
cannot run CLIP in half precision efficiently (and autocast fp16 is a GPU
feature), so fp16 and amp fall back to fp32 there, with one notice. The
training step that goes with a PREC, and its autocast, are training_step.py's.
"""
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
    if prec == "fp16" and type(clip_model).__module__.startswith("open_clip"):
        from open_clip.model import convert_weights_to_lp  # open_clip's own fp16 cast
        convert_weights_to_lp(clip_model)
    elif prec == "fp16":
        convert_weights(clip_model)
    else:
        clip_model.float()
    return clip_model


def make_grad_scaler(prec: str, device: torch.device):
    """A GradScaler for amp (fp16 gradients can underflow); None otherwise."""
    if prec == "amp":
        return torch.amp.GradScaler(torch.device(device).type)
    return None
