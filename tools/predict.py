"""Classify images with a run folder or an exported .pt2 / .onnx.

    python tools/predict.py MODEL IMAGE_OR_FOLDER... [--top K]

Prints PATH<TAB>CLASS<TAB>PROBABILITY per image (K class/probability pairs
with --top K); images are resized and center-cropped as the run's test
transform does. An exported file is checked against the sha256 in its json
first. Folders are walked for images; a file that is not a readable image
(or not a regular file: a FIFO, a device) is named on stderr and skipped,
the others' lines printed, and the exit status is then 2; bad input exits 2
with one line. See docs/DEPLOY.md.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from experiments.export.cli import parse_predict_args as parse_args, predict_main  # noqa: E402,F401


def main(argv=None):
    return predict_main(argv)


if __name__ == "__main__":
    sys.exit(main())
