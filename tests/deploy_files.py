"""Small sealed exports for the deployment tests (test_deploy_sealed.py,
test_accidents_deploy.py): a zero-shot module of the tests' tiny CLIP
written by experiments.export.exporter.write_export, as tools/export.py
writes a run's (same saver, same sealing), without training a run; and a
few images in a folder.
"""
import signal
from contextlib import contextmanager

import numpy as np
import torch
from PIL import Image

from experiments.export.deployed import DeployedClassifier
from experiments.export.exporter import write_export
from experiments.export.parts import zeroshot_parts
from trainers.modules.clip_heads import ZeroshotClassifier
from trainers.modules.tiny_clip import build_clip

CLASSES = ["cat", "dog", "car"]
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
SIZE = 32


def zeroshot_module() -> DeployedClassifier:
    torch.manual_seed(0)
    classifier = ZeroshotClassifier(build_clip("tiny"), CLASSES, "a photo of a {}.").eval()
    return DeployedClassifier(zeroshot_parts(classifier), CLIP_MEAN, CLIP_STD).eval()


def metadata(file_format: str) -> dict:
    """The fields predict.py reads, as export_metadata writes them."""
    return {"file": "", "format": file_format, "precision": "fp32", "outputs": ["logits"],
            "classnames": CLASSES, "domains": ["a", "b"], "forget_domains": ["b"],
            "memorize_domains": ["a"],
            "input": {"size": [SIZE, SIZE], "resize_shorter_side": SIZE,
                      "interpolation": "bicubic", "center_crop": [SIZE, SIZE],
                      "normalization": {"mean": CLIP_MEAN, "std": CLIP_STD,
                                        "inside_the_model": True}}}


def export_zeroshot(path: str, file_format: str, model=None) -> dict:
    model = model if model is not None else zeroshot_module()
    example = torch.rand(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    return write_export(model, example, path, file_format, metadata(file_format))


def write_images(folder, count=3):
    """`count` textured RGB .png files in `folder`; their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        path = folder / f"img{i}.png"
        Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    return paths


def flip_byte(path, offset=None):
    """One byte of `path` inverted, in the middle unless `offset`."""
    with open(path, "r+b") as f:
        data = f.read()
        offset = len(data) // 2 if offset is None else offset
        f.seek(offset)
        f.write(bytes([data[offset] ^ 0xFF]))


@contextmanager
def deadline(seconds: int):
    """A TimeoutError in the block after `seconds` (a blocked open() included:
    the signal interrupts it), so that a hang fails the test instead of
    stopping the suite. Main thread, POSIX."""
    def expire(signum, frame):
        raise TimeoutError(f"still blocked after {seconds} s")
    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
