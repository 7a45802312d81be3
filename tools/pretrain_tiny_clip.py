"""Pretrain the tiny CLIP of the toy benchmark and save it in OpenAI's format.

    python tools/pretrain_tiny_clip.py --root data --output assets/tiny_clip_toy.pt

Contrastive pretraining (CLIP's symmetric InfoNCE) of `build_clip(--arch)` on
the TRAIN stream of toy_domains, with captions that name the class and, half
of the time, the rendering: "a sketch of a star." or just "star". The
pretraining pool is the first --pool images per (class, domain) of the train
stream, rendered in memory; the benchmark's train split (40 per pair) is its
prefix, so the few-shot images were seen in pretraining, as web images may
have been by OpenAI's CLIP. With the 40 alone the tiny ViT overfits the
cluttered photo and painting renderings. The test split is only read at the
end, for the zero-shot table, after the saved file is loaded back through
`clip.load` (the benchmark is written under ROOT on first use).

Only the token-embedding rows of tokens in the captions are non-zero (and
stay so: the other rows get no gradient), so the 49408-row table, most of the
file, compresses to almost nothing in git.

The defaults make the shipped assets/tiny_clip_toy.pt, a toy CLIP in
OpenAI CLIP's regime for prompt learning (tools/toy_regime.py, printed at
the end of the run):
- --arch toy: 64 patches of 4 px (8 prompts = 11 % of a block's tokens),
  width 128 (2 heads), embedding 128, 9 blocks (the fewest that take the
  paper's prompt depth 9); text: width 64, 4 blocks;
- the logit scale is learned from CLIP's 1/0.07 (clamped at 100) and SET to
  100 at the end (--final-logit-scale; 0 keeps the learned one): zero-shot
  predictions do not change, the softmax sharpens to OpenAI's. (It learned
  only about 15; training at 100 from the start left the loss flat.)
- --prompt-noise 0.5: in half of the batches every image gets 8 random
  N(0, 0.02^2) tokens before each of its first 9 blocks, ADU's untrained
  prompts, so that they do not disturb the model (without it, untrained
  prompts moved the old tiny CLIP's accuracy by up to 48 points).
The shipped file took about 45 CPU-minutes with 2 threads (an idle 2-core
machine: about 100 s per epoch). `--arch tiny --pool 200 --epochs 30
--final-logit-scale 0 --prompt-noise 0` is the earlier, smaller CLIP
(12 blocks of width 64, patch 8, embedding 32), out of the regime.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", default="data", help="DATASET.ROOT of toy_domains")
    parser.add_argument("--output", default="assets/tiny_clip_toy.pt")
    parser.add_argument("--arch", default="toy", help="tiny_clip.ARCHITECTURES entry")
    parser.add_argument("--pool", type=int, default=200,
                        help="pretraining images per (class, domain), train stream")
    parser.add_argument("--epochs", type=int, default=24)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--weight-decay", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--init", default="",
                        help="continue from this OpenAI-format CLIP file (a new schedule)")
    parser.add_argument("--prompt-noise", type=float, default=0.5,
                        help="share of batches with random prompt tokens (docstring)")
    parser.add_argument("--final-logit-scale", type=float, default=100.0,
                        help="set logit_scale.exp() to this at the end; 0 keeps the "
                             "learned one (docstring)")
    parser.add_argument("--eval-every", type=int, default=0,
                        help="every N epochs print zero-shot accuracy on 20 train-stream "
                             "images per (class, domain) beyond the pool (0: never)")
    parser.add_argument("--noise-ctx", type=int, default=8, help="random tokens per block")
    parser.add_argument("--noise-depth", type=int, default=9, help="blocks that get them")
    # The shipped file was made with 2 threads; another count may change its
    # last bits (the order of float sums). On a busy machine, two OpenMP
    # threads that wait on each other can be far slower than one.
    parser.add_argument("--threads", type=int, default=2)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from experiments.toy.pretrain import pretrain  # torch: after --help
    pretrain(args)


if __name__ == "__main__":
    main()
