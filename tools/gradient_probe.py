"""How hard each ADU loss term pulls, at the start of training, on the toy.

    python tools/gradient_probe.py [--clip assets/tiny_clip_toy.pt] [--root data]
        [--forget sketch] [--gamma 30] [--lam 10] [--seeds 1 2 3]

gamma and lambda are absolute weights, while L_memorize's gradient scales
with CLIP's logit scale, so whether the Domain Disentangling Loss dominates
the class losses depends on the backbone. This tool measures it: on one
batch of few-shot train images (8 per class and domain, seeded, as the
trainers sample) through ADU's untrained learner (deep vision prompts,
InstaPG, domain classifier, as the paper's defaults), the gradient norm of
each weighted term, L_memorize, L_forget, gamma * L_CE(domain) and
-lambda * MMD^2, with respect to

- the image embeddings (the features the terms read), and
- the learner's parameters (what the optimiser steps),

and each norm relative to L_memorize's. Ratios well above 1 mean the
domain terms steer the first steps. The table is the mean over --seeds
(learner initialisation and batch). No Dassl needed. The logic lives in
experiments/analysis/gradient_probe.py.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clip", default="assets/tiny_clip_toy.pt",
                        help="OpenAI-format CLIP file (relative to the repository root)")
    parser.add_argument("--root", default="data", help="DATASET.ROOT of toy_domains")
    parser.add_argument("--forget", nargs="+", default=["sketch"], help="forget domains")
    parser.add_argument("--gamma", type=float, default=30.0, help="weight of L_CE (paper: 30)")
    parser.add_argument("--lam", type=float, default=10.0, help="weight of MMD^2 (paper: 10)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--shots", type=int, default=8, help="per class and domain")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from experiments.analysis.gradient_probe import probe_command  # torch: after --help
    return probe_command(args)


if __name__ == "__main__":
    sys.exit(main())
