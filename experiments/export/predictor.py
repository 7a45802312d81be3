"""What tools/predict.py runs: a model (a run folder, an exported .pt2 or
.onnx) with its metadata, the images read as the run's test transform reads
them, and one output line per image.

An exported file is checked against its sealed json (sealing.py) before it
is loaded and before any image is read. Images: only regular files are
opened (a FIFO, socket or device named *.png is skipped with a note, never
waited on), each decoded as the RGB a person sees (datasets.files.read_rgb,
the training and test loaders' conversion); a file that is not a readable
image (truncated, another format, a decompression bomb) is named with what
to do and skipped, the other images' lines printed.

Reading a .pt2 needs torch only, a .onnx onnxruntime only (plus numpy); a
run folder is rebuilt with this project, Dassl and its data (for the class
names), as tools/export.py does.
"""
import contextlib
import io
import os
import os.path as osp
import sys
from typing import Callable, List, NamedTuple

import torch
from PIL import Image
from torchvision import transforms

from datasets.files import NotRegularFileError, read_rgb
from user_errors import ConfigError, MissingFileError

from .sealing import read_sealed

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
INTERPOLATIONS = {"bilinear": transforms.InterpolationMode.BILINEAR,
                  "bicubic": transforms.InterpolationMode.BICUBIC,
                  "nearest": transforms.InterpolationMode.NEAREST}


class Predictor(NamedTuple):
    logits: Callable[[torch.Tensor], torch.Tensor]  # images [B, 3, H, W] in [0, 1] -> [B, C]
    metadata: dict                                  # what FILE.json holds


def require_onnxruntime():
    try:
        import onnxruntime
    except ImportError as err:
        raise MissingFileError("reading a .onnx model needs onnxruntime, which is not "
                               "installed: pip install onnxruntime (requirements.txt)") from err
    return onnxruntime


def pt2_predictor(source, metadata: dict) -> Predictor:
    """`source`: a .pt2 file's path or its bytes."""
    module = torch.export.load(io.BytesIO(source) if isinstance(source, bytes)
                               else source).module()

    def logits(images):
        with torch.no_grad():
            out = module(images)
        return (out[0] if isinstance(out, tuple) else out).float()
    return Predictor(logits, metadata)


def onnx_predictor(source, metadata: dict) -> Predictor:
    """`source`: a .onnx file's path or its bytes."""
    session = require_onnxruntime().InferenceSession(source, providers=["CPUExecutionProvider"])

    def logits(images):
        return torch.from_numpy(session.run(["logits"], {"images": images.numpy()})[0]).float()
    return Predictor(logits, metadata)


def run_predictor(run_dir: str) -> Predictor:
    """A run folder rebuilt in memory, with the metadata an export would write."""
    from .exporter import deployed_model
    from .metadata import export_metadata
    from .run_model import load_export_run
    with contextlib.redirect_stdout(sys.stderr):  # Dassl's build log: stdout is the answer
        run = load_export_run(run_dir)
        model = deployed_model(run)
    metadata = export_metadata(run, run_dir, "run", run_dir, model.output_names, False)

    def logits(images):
        with torch.no_grad():
            out = model(images)
        return out[0] if isinstance(out, tuple) else out
    return Predictor(logits, metadata)


LOADERS = {".pt2": ("torch.export", pt2_predictor), ".onnx": ("onnx", onnx_predictor)}


def load_predictor(model: str) -> Predictor:
    """MODEL: a run folder, FILE.pt2 or FILE.onnx (each checked against its
    sealed FILE.json before it is loaded)."""
    if osp.isdir(model):
        return run_predictor(model)
    if not osp.lexists(model):
        raise MissingFileError(f"{model} not found: pass a run folder, an exported .pt2 or "
                               "an exported .onnx")
    ext = osp.splitext(model)[1]
    if ext == ".pt":
        raise ConfigError(f"{model}: a TorchScript export, which is no longer read (torch "
                          "deprecates torch.jit): export the run again with --pt2 FILE.pt2")
    if ext not in LOADERS:
        raise ConfigError(f"{model}: MODEL must be a run folder, a .pt2 or a .onnx "
                          "(files written by tools/export.py)")
    file_format, load = LOADERS[ext]
    if file_format == "onnx":
        require_onnxruntime()
    metadata, data = read_sealed(model, file_format)
    return load(data, metadata)


def image_transform(metadata: dict):
    """The run's test transform, without the normalisation (the model does it)."""
    spec = metadata["input"]
    return transforms.Compose([
        transforms.Resize(spec["resize_shorter_side"],
                          interpolation=INTERPOLATIONS[spec["interpolation"]]),
        transforms.CenterCrop(spec["center_crop"]),
        transforms.ToTensor(),
    ])


def image_paths(inputs: List[str]) -> List[str]:
    """Files as given; folders walked (sorted) for image files (of any kind:
    read_image opens regular files only)."""
    paths = []
    for item in inputs:
        if not osp.isdir(item):
            paths.append(item)
            continue
        for top, dirs, files in os.walk(item):
            dirs.sort()
            paths += [osp.join(top, f) for f in sorted(files)
                      if f.lower().endswith(IMAGE_EXTENSIONS)]
    return paths


def read_image(path: str, transform) -> torch.Tensor:
    return transform(read_rgb(path))


def unreadable_line(path: str, error: Exception) -> str:
    """Why `path` was skipped and what to do, in one line."""
    if isinstance(error, NotRegularFileError):
        return f"{path}: {error}, not an image file; skipped (move it out of the folder)"
    if isinstance(error, Image.DecompressionBombError):
        return (f"{path}: more than {2 * Image.MAX_IMAGE_PIXELS} pixels (a decompression "
                "bomb, or a huge scan); skipped (resize it below "
                f"{Image.MAX_IMAGE_PIXELS} pixels to classify it)")
    if isinstance(error, FileNotFoundError):
        return f"{path}: not found; skipped (check the path)"
    problem = str(error).replace(f" '{path}'", "").splitlines()
    problem = problem[0] if problem and problem[0] else type(error).__name__
    return (f"{path}: cannot read this image ({problem}); skipped (replace the file with "
            "a readable .jpg/.png)")


def top_k_lines(path: str, probabilities: torch.Tensor, classnames, k: int) -> str:
    values, indices = probabilities.topk(min(k, len(classnames)))
    return "\t".join([path] + [f"{classnames[i]}\t{v:.4f}"
                               for v, i in zip(values.tolist(), indices.tolist())])


def predict(predictor: Predictor, inputs: List[str], top: int = 1, batch_size: int = 32,
            out=print, err=print) -> int:
    """Print PATH<TAB>CLASS<TAB>PROBABILITY (K pairs with top K) per readable
    image, name each unreadable one through `err`; returns how many were skipped."""
    transform = image_transform(predictor.metadata)
    classnames = predictor.metadata["classnames"]
    skipped = 0
    paths = image_paths(inputs)
    for start in range(0, len(paths), batch_size):
        batch, kept = [], []
        for path in paths[start:start + batch_size]:
            try:
                batch.append(read_image(path, transform))
                kept.append(path)
            except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
                err(unreadable_line(path, error))
                skipped += 1
        if not batch:
            continue
        probabilities = predictor.logits(torch.stack(batch)).softmax(dim=-1)
        for path, row in zip(kept, probabilities):
            out(top_k_lines(path, row, classnames, top))
    return skipped
