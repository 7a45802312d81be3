"""Measure whether a CLIP is in OpenAI CLIP's regime for prompt learning.

    python tools/toy_regime.py assets/tiny_clip_toy.pt --root data [--check]

The method's weights (gamma, lambda) and its prompts were set for ViT-B/16,
so a small CLIP that stands in for it (the demo's) should share the
properties that decide how strong each term and each prompt token is
(issue 12; docs/METHOD.md section 10):

- logit_scale.exp() = 100: L_memorize's gradient scales with it, while
  gamma and lambda are absolute weights;
- at most 12 % of a prompted block's tokens are prompt tokens (ViT-B/16:
  8 of 205, 3.9 %) and at least 2 attention heads;
- embedding dimension >= 128 (room to separate domains without moving the
  class directions);
- untrained default prompts (N_CTX_VISION x PROMPT_DEPTH_VISION tokens drawn
  from N(0, 0.02^2), no InstaPG) change each domain's zero-shot accuracy by
  at most 3 points, and zero-shot accuracy is >= 60 % in every domain
  (toy_domains TEST split, template "a photo of a {}.").

Works for any OpenAI-format ViT CLIP file or name; the accuracies need the
toy benchmark (written under ROOT/toy_domains on first use) and a CLIP whose
input resolution suits its 32 px images. --check exits 1 when a property is
out of range. The pretraining tool prints the same report. The logic
lives in experiments/toy/regime.py.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from experiments.toy import regime  # noqa: E402


def parse_args(argv=None):
    return regime.parse_args(argv)


def main(argv=None):
    return regime.main(argv)


if __name__ == "__main__":
    sys.exit(main())
