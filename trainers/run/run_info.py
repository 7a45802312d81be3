"""What a run writes about itself so that it can be reproduced later.

`config.yaml` (the resolved config, under its fingerprint: fingerprint.py)
and `run_info.json` (the project's git commit, the package versions and the
device) go into the output directory.
"""
import os.path as osp
import platform
import subprocess
import sys
from importlib import metadata

import torch

from .files import PROJECT_ROOT, atomic_write, write_json_atomic
from .fingerprint import config_yaml


def git_commit(path: str = PROJECT_ROOT) -> dict:
    def git(*args):
        return subprocess.run(["git", "-C", path, *args], capture_output=True,
                              text=True, timeout=10).stdout.strip()
    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        commit, dirty = "", False
    return {"commit": commit or None, "dirty": dirty if commit else None}


def package_version(name: str):
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def run_info(device) -> dict:
    return {
        "git": git_commit(),
        "command": sys.argv,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.cuda.is_available() else None,
        "dassl": package_version("dassl"),
        "openai_clip": package_version("openai-clip"),
        "torchvision": package_version("torchvision"),
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device)
        if torch.device(device).type == "cuda" else platform.processor() or platform.machine(),
    }


def describe_device(device) -> str:
    """Which single device the run uses, and how to pick another one."""
    device = torch.device(device)
    if device.type != "cuda":
        return f"Using device {device.type} ({torch.get_num_threads()} threads)"
    index = device.index if device.index is not None else torch.cuda.current_device()
    count = torch.cuda.device_count()
    text = f"Using device cuda:{index} ({torch.cuda.get_device_name(index)})"
    if count > 1:
        text += (f"; {count} GPUs are visible and this run uses only this one "
                 "(set CUDA_VISIBLE_DEVICES to pick another)")
    return text


def write_run_info(cfg, device, keep: bool = False) -> None:
    """config.yaml and run_info.json; with `keep` (an evaluation), those the
    folder already holds (a training run's) are left as they are."""
    out = cfg.OUTPUT_DIR
    if not (keep and osp.isfile(osp.join(out, "config.yaml"))):
        with atomic_write(osp.join(out, "config.yaml")) as f:
            f.write(config_yaml(cfg))
    if not (keep and osp.isfile(osp.join(out, "run_info.json"))):
        write_json_atomic(osp.join(out, "run_info.json"), run_info(device))
