"""How shallow is the forgetting of a finished run? (docs/METHOD.md section 9)

    python tools/robustness.py RUN_DIR [--out DIR] [--shots 1,2,4,8,16]
        [--relearn-shots 8] [--steps 50] [--every 10]

- Recovery by probing: a linear probe (trainers/modules/probes.py) fitted on
  k labelled forget-domain images per class of the training pool (nested
  seeded draws, k = --shots) and scored on the forget-domain test images,
  on the run's embeddings and on zero-shot CLIP's.
- Recovery by relearning: the run's trainable parameters fine-tuned on
  --relearn-shots of those images per class with plain cross-entropy
  against the run's class texts (experiments/analysis/relearning.py), the
  forget-domain test accuracy scored every --every steps; against the same
  budget from the same learner untrained (its initial weights, the run's
  seed).

Writes robustness.json (atomically) and robustness.png into --out (default:
the run folder); parse_results.py shows "Rec@8" (the probe at k = 8 on the
run's embeddings) when the file is there. The logic lives in
experiments/analysis/.
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


def parse_shots(text: str):
    try:
        shots = sorted({int(s) for s in text.split(",") if s.strip()})
    except ValueError:
        shots = []
    if not shots or shots[0] < 1:
        raise ConfigError(f"--shots {text!r}: give positive integers separated by commas, "
                          "e.g. --shots 1,2,4,8,16")
    return shots


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("run_dir", help="a finished run's output directory")
    p.add_argument("--out", default="", help="where to write (default: the run folder)")
    p.add_argument("--root", default="", help="dataset root, if it moved since the run")
    p.add_argument("--shots", default="1,2,4,8,16", help="k of the probe curve")
    p.add_argument("--relearn-shots", type=int, default=8, help="k of the relearning")
    p.add_argument("--steps", type=int, default=50, help="relearning steps")
    p.add_argument("--every", type=int, default=10, help="score every this many steps")
    p.add_argument("--lr", type=float, default=0.0, help="relearning lr (default: the run's OPTIM.LR)")
    p.add_argument("--seed", type=int, default=-1, help="draw seed (default: the run's)")
    p.add_argument("--cpu", action="store_true", help="run on the CPU even with a GPU")
    args = p.parse_args(argv)
    args.shots = parse_shots(args.shots)
    for name in ("relearn_shots", "steps", "every"):
        if getattr(args, name) < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be >= 1")
    return args


def main(argv=None):
    def work(args):  # torch and Dassl: imported once the arguments are read
        from experiments.analysis.robustness import measure
        return measure(args)

    def finish(args, result, seconds):
        from experiments.analysis.robustness import write_record
        return write_record(args, result, seconds)
    return run_command("robustness.py", parse_args, work, finish, argv)


if __name__ == "__main__":
    main()
