"""The machine a GPU check ran on: device, torch, CUDA, cuDNN, driver."""
import os
import platform
import shutil
import subprocess

import torch


def describe_device(device) -> dict:
    info = {"device": str(device), "torch": torch.__version__, "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available()
            else None, "python": platform.python_version(), "cpus": len(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity") else os.cpu_count()}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(name=props.name, capability=f"{props.major}.{props.minor}",
                    memory_gib=props.total_memory / 2**30,
                    tf32_matmul=torch.backends.cuda.matmul.allow_tf32)
        if shutil.which("nvidia-smi"):
            proc = subprocess.run(["nvidia-smi", "--query-gpu=driver_version",
                                   "--format=csv,noheader", "-i", str(device.index or 0)],
                                  capture_output=True, text=True)
            info["driver"] = proc.stdout.strip() if proc.returncode == 0 else None
    else:
        info["name"] = platform.processor() or "CPU"
    return info
