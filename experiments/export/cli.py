"""The main() of tools/export.py and tools/predict.py: parse, work, and a
user error (no finished run, a trainer that cannot be exported, a missing
onnx / onnxruntime) as one line and exit status 2."""
import argparse
import json
import os
import sys

from experiments.analysis.command import run_command
from user_errors import ConfigError

# The exit status of predict.py when an input was skipped (the other inputs'
# lines are printed): the status of every one-line refusal.
SKIPPED_STATUS = 2


def parse_export_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="export.py", description="Export a finished run as one image -> logits "
        "module (torch.export .pt2 and/or ONNX), each file with its sealed FILE.json beside it.")
    parser.add_argument("run_dir", help="a finished run (train.py --output-dir)")
    parser.add_argument("--pt2", default="", metavar="FILE.pt2",
                        help="a torch.export program (torch.export.load)")
    parser.add_argument("--onnx", default="", metavar="FILE.onnx")
    parser.add_argument("--torchscript", default="", metavar="FILE.pt", help=argparse.SUPPRESS)
    parser.add_argument("--fp16", action="store_true",
                        help="CLIP's image tower in half precision (for a GPU)")
    parser.add_argument("--verify", action="store_true",
                        help="run the files and the project's model on the run's test split "
                             "and report the largest logit differences")
    parser.add_argument("--root", default="",
                        help="DATASET.ROOT, when the run's data has moved (class names)")
    args = parser.parse_args(argv)
    if args.torchscript:
        raise ConfigError(f"--torchscript {args.torchscript}: TorchScript is no longer exported "
                          "(torch deprecates torch.jit); pass --pt2 FILE.pt2 (torch.export, "
                          "for Python) and/or --onnx FILE.onnx (any runtime)")
    return args


def export_work(args):
    from .exporter import export_run
    return export_run(args.run_dir, args.pt2, args.onnx, args.fp16, args.root, args.verify)


def export_finish(args, exported, seconds):
    for path, meta in exported.files.items():
        print(f"{path}: {meta['format']} {meta['precision']}, outputs {meta['outputs']}, "
              f"{len(meta['classnames'])} classes, forgets {meta['forget_domains']}; "
              f"{os.path.getsize(path) / 2**20:.2f} MiB, written in "
              f"{exported.seconds[path]:.1f} s (json: {path}.json)")
    if exported.verification:
        print("verification on the run's test split: " + json.dumps(exported.verification))
    print(f"done in {seconds:.1f} s (the run rebuilt, then exported)")
    return exported


def export_main(argv=None):
    return run_command("export.py", parse_export_args, export_work, export_finish, argv)


def parse_predict_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="predict.py", description="Classify images with a run folder or an exported "
        "model: one line PATH<TAB>CLASS<TAB>PROBABILITY per image; a file that is not a "
        "readable image is named on stderr and skipped, and then the exit status is 2.")
    parser.add_argument("model", help="a run folder, FILE.pt2 or FILE.onnx (tools/export.py)")
    parser.add_argument("images", nargs="+", help="image files or folders (walked)")
    parser.add_argument("--top", type=int, default=1, metavar="K",
                        help="print the K most probable classes (default 1)")
    args = parser.parse_args(argv)
    if args.top < 1:
        parser.error(f"--top must be >= 1, got {args.top}")
    return args


def predict_work(args):
    from .predictor import load_predictor, predict
    return predict(load_predictor(args.model), args.images, args.top,
                   err=lambda line: print(line, file=sys.stderr))


def predict_finish(args, skipped, seconds):
    if skipped:
        print(f"predict.py: {skipped} file(s) skipped (named above); the other images' "
              "lines are complete", file=sys.stderr)
    return SKIPPED_STATUS if skipped else 0


def predict_main(argv=None) -> int:
    return run_command("predict.py", parse_predict_args, predict_work, predict_finish, argv)
