"""The zero-shot table of a saved tiny CLIP on the toy TEST split, loaded
back through `clip.load` as a user would load it."""
import warnings

import clip
import torch

from datasets.toy_render import CLASSES, DOMAINS
from experiments.toy.regime import toy_test_images
from trainers.modules.clip_heads import ZeroshotClassifier

EVAL_TEMPLATE = "a photo of a {}."


@torch.no_grad()
def zero_shot_table(path, dataset_dir, template=EVAL_TEMPLATE):
    """Per-domain zero-shot accuracy of the saved file on the TEST split, via
    clip.load, scored as the ZeroshotCLIP trainer scores."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        model, _ = clip.load(path, device="cpu", jit=False)
    classifier = ZeroshotClassifier(model.float().eval(), CLASSES, template)
    # clip.load's preprocessing is CLIP's own transform at the model's resolution.
    images, labels, domains = toy_test_images(dataset_dir, model.visual.input_resolution)
    correct = classifier(images).argmax(1) == labels
    rows = [(d, int((domains == i).sum()), correct[domains == i].float().mean().item())
            for i, d in enumerate(DOMAINS)]
    return rows, correct.float().mean().item()


def print_table(path, rows, overall, template=EVAL_TEMPLATE):
    print(f"\nZero-shot accuracy of {path} on the toy_domains TEST split")
    print(f"(template \"{template}\", {len(CLASSES)} classes, chance "
          f"{100 / len(CLASSES):.1f} %)")
    print(f"{'domain':<10} {'images':>6}  {'accuracy':>8}")
    for domain, n, acc in rows:
        print(f"{domain:<10} {n:>6}  {100 * acc:>7.1f} %")
    print(f"{'all':<10} {sum(n for _, n, _ in rows):>6}  {100 * overall:>7.1f} %")
