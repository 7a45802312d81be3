"""The paper's analyses of a finished run, next to zero-shot CLIP on the same images.

    python tools/analyze.py RUN_DIR [--out DIR] [--images-per-domain 2]

Writes into --out (default: the run folder):
- tsne.png: t-SNE of the test embeddings, zero-shot CLIP | the run,
  coloured by domain, forget domains drawn as crosses;
- attention.png: for a few test images per domain, the CLS token's
  attention over the patches in the last block and its attention rollout
  (trainers/modules/attention_maps.py), zero-shot CLIP | the run;
- domains.json (atomically), also printed: the run's domain classifier
  accuracy (the paper's domain-classification accuracy, docs/METHOD.md
  section 7; null for a run without one), a linear domain probe fitted on the
  training shots' embeddings and scored on the test split, zero-shot and
  run, and the class accuracy of every test domain, zero-shot and run.
The run is rebuilt from its own config.yaml and last checkpoint
(experiments/analysis/finished_run.py); a toy run needs no GPU. The logic
lives in experiments/analysis/.
"""
import argparse
import os.path as osp
import sys
import warnings

# Dassl -> wilds -> outdated imports pkg_resources, which setuptools flags on
# every import: nothing a user can act on (as in tools/check_data.py). Set
# here, not left to which module of the library imports Dassl first.
warnings.filterwarnings("ignore", message="pkg_resources is deprecated",
                        module="outdated")
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from experiments.analysis.command import run_command  # noqa: E402
from user_errors import ConfigError  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("run_dir", help="a finished run's output directory")
    p.add_argument("--out", default="", help="where to write (default: the run folder)")
    p.add_argument("--root", default="", help="dataset root, if it moved since the run")
    p.add_argument("--images-per-domain", type=int, default=2,
                   help="test images per domain in attention.png")
    p.add_argument("--tsne-max", type=int, default=2000,
                   help="at most this many test images in the t-SNE (a seeded subset)")
    p.add_argument("--cpu", action="store_true", help="run on the CPU even with a GPU")
    args = p.parse_args(argv)
    if args.images_per_domain < 1 or args.tsne_max < 10:
        raise ConfigError("--images-per-domain must be >= 1 and --tsne-max >= 10")
    return args


def main(argv=None):
    def work(args):  # torch and Dassl: imported once the arguments are read
        from experiments.analysis.analyze import analyze
        return analyze(args)

    def finish(args, result, seconds):
        from experiments.analysis.analyze import report_written
        return report_written(args, result, seconds)
    return run_command("analyze.py", parse_args, work, finish, argv)


if __name__ == "__main__":
    main()
