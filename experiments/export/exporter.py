"""A finished run -> TorchScript and/or ONNX files, each with FILE.json.

    exported = export_run("output/run", torchscript="adu.pt", onnx="adu.onnx")
    exported.files["adu.pt"]["classnames"]

TorchScript: the DeployedClassifier traced (torch.jit.trace), behind a
scripted shape check (deployed.SizeChecked). ONNX: the same module through
torch's TorchScript-based exporter (`dynamo=False`; the torch.export one of
torch 2.14.1 with onnxscript 0.7.2 writes an invalid graph for CLIP here),
opset 17, a dynamic batch axis and static H, W, so onnxruntime itself
refuses another image size. Every file is written atomically.
"""
import copy
import os
import os.path as osp
import time
import warnings
from typing import NamedTuple, Optional

import torch

from trainers.engine.precision import cast_clip
from trainers.run.files import atomic_write, temp_path, write_json_atomic
from user_errors import ConfigError, MissingFileError

from .deployed import DeployedClassifier, SizeChecked
from .metadata import export_metadata, input_spec
from .parts import EXPORTABLE
from .run_model import load_export_run
from .verify import verify_export

OPSET = 17
EXAMPLE_BATCH = 2  # the tracing input; the files take any batch size


class Exported(NamedTuple):
    files: dict                   # {path: its metadata (FILE.json)}
    seconds: dict                 # {path: seconds to trace / export and write it}
    verification: Optional[dict]  # verify.verify_export's report, or None


def require_onnx():
    """The onnx package (torch's ONNX exporter needs it), or one clear error."""
    try:
        import onnx  # noqa: F401
    except ImportError as err:
        raise MissingFileError("--onnx needs the onnx package, which is not installed: "
                               "pip install onnx onnxruntime (requirements.txt)") from err


def deployed_model(run, fp16: bool = False) -> DeployedClassifier:
    """The run's model as one image -> logits module, in eval mode on the CPU."""
    cfg = run.trainer.cfg
    parts = EXPORTABLE[cfg.TRAINER.NAME](run.trainer.model)
    if fp16:  # on a copy: the run's own model stays the fp32 reference (--verify)
        parts = copy.deepcopy(parts)
        cast_clip(parts.visual, "fp16")
    spec = input_spec(cfg)["normalization"]
    return DeployedClassifier(parts, spec["mean"], spec["std"]).eval()


def example_input(cfg) -> torch.Tensor:
    height, width = (int(v) for v in cfg.INPUT.SIZE)
    return torch.rand(EXAMPLE_BATCH, 3, height, width, generator=torch.Generator().manual_seed(0))


def save_torchscript(model: DeployedClassifier, example: torch.Tensor, path: str):
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # jit.trace, jit.save: deprecated, work
        # Shape checks inside nn.MultiheadAttention: constant for one input size.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        traced = torch.jit.trace(model, example, check_trace=False)
        checked = torch.jit.script(SizeChecked(traced, example.shape[2], example.shape[3]))
        with atomic_write(path, "wb") as f:
            torch.jit.save(checked, f)


def save_onnx(model: DeployedClassifier, example: torch.Tensor, path: str):
    require_onnx()
    names = list(model.output_names)
    tmp = temp_path(path)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            torch.onnx.export(model, (example,), tmp, input_names=["images"],
                              output_names=names, opset_version=OPSET, dynamo=False,
                              dynamic_axes={n: {0: "batch"} for n in ["images", *names]})
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


def check_targets(torchscript: str, onnx: str):
    if not torchscript and not onnx:
        raise ConfigError("nothing to write: pass --torchscript FILE.pt and/or --onnx FILE.onnx")
    for path, ext in ((torchscript, ".pt"), (onnx, ".onnx")):
        if path and not path.endswith(ext):
            raise ConfigError(f"{path}: the file name must end in {ext}")
    if onnx:
        require_onnx()


def export_run(run_dir: str, torchscript: str = "", onnx: str = "", fp16: bool = False,
               root: str = "", verify: bool = False) -> Exported:
    """Write the requested files and their json: {path: metadata}, the
    seconds each took, and with `verify` their check on the test split."""
    check_targets(torchscript, onnx)
    run = load_export_run(run_dir, root)
    model = deployed_model(run, fp16)
    example = example_input(run.trainer.cfg)
    written, seconds = {}, {}
    for path, file_format, save in ((torchscript, "torchscript", save_torchscript),
                                    (onnx, "onnx", save_onnx)):
        if not path:
            continue
        start = time.time()
        save(model, example, path)
        seconds[path] = time.time() - start
        meta = export_metadata(run, run_dir, file_format, path, model.output_names, fp16)
        write_json_atomic(path + ".json", meta)
        written[path] = meta
    return Exported(written, seconds, verify_export(run, written) if verify else None)

