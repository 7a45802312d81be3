"""A finished run -> a torch.export program and/or an ONNX file, each with
its sealed FILE.json.

    exported = export_run("output/run", pt2="adu.pt2", onnx="adu.onnx")
    exported.files["adu.pt2"]["classnames"]

.pt2: the DeployedClassifier through torch.export (torch.export.save; read
with torch.export.load, no deprecation), a dynamic batch, static H, W (the
program's guards refuse another size). ONNX: the same module through
torch's torch.export-based exporter (`dynamo=True`, onnxscript), the same
axes, so onnxruntime itself refuses another image size. TorchScript is no
longer written (torch deprecates torch.jit: ONNX serves the runtimes
without Python, .pt2 Python). Every file is written atomically, then its
digest goes into its json (sealing.py), so predict.py refuses a damaged or
replaced file.
"""
import contextlib
import copy
import io
import time
from typing import NamedTuple, Optional

import torch

from trainers.engine.precision import cast_clip
from trainers.run.files import atomic_write, write_json_atomic
from user_errors import ConfigError, MissingFileError

from .deployed import DeployedClassifier
from .metadata import export_metadata, input_spec
from .parts import EXPORTABLE
from .run_model import load_export_run
from .sealing import seal
from .verify import verify_export

OPSET = 18  # the torch.export-based exporter's own
EXAMPLE_BATCH = 2  # the tracing input; the files take any batch size


class Exported(NamedTuple):
    files: dict                   # {path: its metadata (FILE.json)}
    seconds: dict                 # {path: seconds to trace / export and write it}
    verification: Optional[dict]  # verify.verify_export's report, or None


def require_onnx():
    """onnx and onnxscript (torch's torch.export-based ONNX exporter needs
    both), or one clear error."""
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as err:
        raise MissingFileError(f"--onnx needs the {err.name} package, which is not installed: "
                               "pip install onnx onnxscript onnxruntime "
                               "(requirements.txt)") from err


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


def exported_program(model: DeployedClassifier, example: torch.Tensor):
    """`model` through torch.export: a dynamic batch, H and W fixed at the example's."""
    with torch.no_grad():
        return torch.export.export(model, (example,),
                                   dynamic_shapes={"images": {0: torch.export.Dim("batch")}})


def save_pt2(model: DeployedClassifier, example: torch.Tensor, path: str):
    program = exported_program(model, example)
    with atomic_write(path, "wb") as f:
        torch.export.save(program, f)


def save_onnx(model: DeployedClassifier, example: torch.Tensor, path: str):
    require_onnx()
    names = list(model.output_names)
    with torch.no_grad(), contextlib.redirect_stdout(io.StringIO()):  # its progress lines
        program = torch.onnx.export(
            model, (example,), input_names=["images"], output_names=names,
            opset_version=OPSET, dynamo=True, verbose=False, optimize=True,
            dynamic_shapes={"images": {0: torch.export.Dim("batch")}})
    with atomic_write(path, "wb") as f:
        f.write(program.model_proto.SerializeToString())


SAVERS = {"torch.export": save_pt2, "onnx": save_onnx}
EXTENSIONS = {"torch.export": ".pt2", "onnx": ".onnx"}


def check_targets(pt2: str, onnx: str):
    if not pt2 and not onnx:
        raise ConfigError("nothing to write: pass --pt2 FILE.pt2 and/or --onnx FILE.onnx")
    for path, ext in ((pt2, ".pt2"), (onnx, ".onnx")):
        if path and not path.endswith(ext):
            raise ConfigError(f"{path}: the file name must end in {ext}")
    if onnx:
        require_onnx()


def write_export(model: DeployedClassifier, example: torch.Tensor, path: str,
                 file_format: str, meta: dict) -> dict:
    """`model` written to `path` in `file_format`, then its json sealed with
    the written file's digest; both atomically (a link planted at either
    name is replaced, never followed). Returns the json's fields."""
    SAVERS[file_format](model, example, path)
    meta = seal(meta, path)
    write_json_atomic(path + ".json", meta)
    return meta


def export_run(run_dir: str, pt2: str = "", onnx: str = "", fp16: bool = False,
               root: str = "", verify: bool = False) -> Exported:
    """Write the requested files and their sealed json: {path: metadata}, the
    seconds each took, and with `verify` their check on the test split."""
    check_targets(pt2, onnx)
    run = load_export_run(run_dir, root)
    model = deployed_model(run, fp16)
    example = example_input(run.trainer.cfg)
    written, seconds = {}, {}
    for path, file_format in ((pt2, "torch.export"), (onnx, "onnx")):
        if not path:
            continue
        start = time.time()
        written[path] = write_export(
            model, example, path, file_format,
            export_metadata(run, run_dir, file_format, path, model.output_names, fp16))
        seconds[path] = time.time() - start
    return Exported(written, seconds, verify_export(run, written) if verify else None)
