"""What a benchmark run measures and how (tools/benchmark.py's options; the
GPU check fills them in itself): the sizes and repetitions that --tiny
changes are resolved here."""
import os
from dataclasses import dataclass, field

import yaml

from trainers.run.files import PROJECT_ROOT


def config_print_freq(config="configs/trainers/ADU/vit_b16_ep50.yaml") -> int:
    """TRAIN.PRINT_FREQ of a trainer config of the repository."""
    with open(os.path.join(PROJECT_ROOT, config)) as f:
        return int(yaml.safe_load(f)["TRAIN"]["PRINT_FREQ"])


def usable_cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


@dataclass
class Settings:
    tiny: bool = False            # the tiny CLIP, batch 4, one repetition: a smoke run
    device: str = ""              # cpu or cuda ("": cuda if present)
    prec: str = ""                # fp32, fp16 or amp ("": fp16 on GPU, fp32 on CPU)
    batch: int = None             # training batch (32; --tiny 4)
    eval_batch: int = None        # default: batch
    reps: int = None              # timed repetitions of each training step (3; --tiny 1)
    eval_reps: int = None         # ... of each evaluation batch (5; --tiny 1)
    warmup: int = None            # untimed runs first (1)
    classes: int = 65             # classes of the ADU model
    coop_classes: list = field(default_factory=lambda: [65, 1000])  # row 7's class counts
    text_chunk: int = 0           # most classes per text-encoder pass in row 7 (0: default)
    threads: int = None           # torch CPU threads (default: the CPUs usable)
    mmd_batch: int = 128
    mmd_domains: int = 6
    grad_checkpointing: bool = False  # also the ADU step with checkpointing (3c, 6d)
    skip: set = field(default_factory=set)  # rows left out: "5" (MMD), "7" (text recompute),
    #                                         "8" (data loaders), "9" (probes)
    loader_workers: int = 2       # row 8's loader workers
    probe_sizes: list = None      # row 9's sizes (probe_cost.SIZES; --tiny: tiny)
    json: str = ""                # also write the measurements here
    backbone: str = "openai"      # "openai" (clip's model code) or "open_clip:ARCH"
    steps_per_epoch: int = 16     # row 3s: Office-Home's (2,080 shots / batch 128)
    print_freq: int = None        # row 3s (default: the ADU ViT-B/16 config's TRAIN.PRINT_FREQ)
    arch: str = field(init=False)
    mmd_reps: int = field(init=False)
    mmd_warmup: int = field(init=False)

    def __post_init__(self):
        if self.backbone.startswith("open_clip:"):  # open_clip's ARCH, random weights
            self.arch = self.backbone
        else:
            self.arch = "tiny" if self.tiny else "ViT-B/16"
        self.batch = self.batch or (4 if self.tiny else 32)
        self.eval_batch = self.eval_batch or self.batch
        self.reps = self.reps or (1 if self.tiny else 3)
        self.eval_reps = self.eval_reps or (1 if self.tiny else 5)
        self.warmup = 1 if self.warmup is None else self.warmup
        self.mmd_reps = 3 if self.tiny else 50
        self.mmd_warmup = 1 if self.tiny else 5
        if self.probe_sizes is None:
            self.probe_sizes = ["tiny"] if self.tiny else ["office_home", "imagenet"]
        if self.print_freq is None:
            self.print_freq = config_print_freq()
        if self.threads is None:
            self.threads = usable_cpus()
