"""Export a finished run as one file that runs without this project.

    python tools/export.py RUN_DIR [--pt2 FILE.pt2] [--onnx FILE.onnx] [--fp16]

The module (a torch.export program, an ONNX graph) takes RGB images
[B, 3, H, W] in [0, 1] at the run's INPUT.SIZE (CLIP's normalisation is
inside) and returns the class logits (and, for ADU, the domain logits as a
second output). FILE.json beside each file holds the class names, the input
recipe, the forgotten domains, the run's scores and the file's sha256 and
size (predict.py refuses a file that does not match). Bad input (no
finished run, a trainer that cannot be exported, no onnx): one line, exit 2.
See docs/DEPLOY.md.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from experiments.export.cli import export_main, parse_export_args as parse_args  # noqa: E402,F401


def main(argv=None):
    return export_main(argv)


if __name__ == "__main__":
    main()
