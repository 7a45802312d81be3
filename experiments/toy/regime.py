"""Whether a CLIP is in OpenAI CLIP's regime for prompt learning
(tools/toy_regime.py; issue 12, docs/METHOD.md section 10): its logit
scale, prompt share, heads and embedding dimension, and how much untrained
prompts move its zero-shot accuracy on the toy TEST split. The tiny CLIP's
pretraining (experiments/toy/pretrain.py) prints the same report."""
import argparse
import os.path as osp
import sys

import torch

from datasets.toy_render import CLASSES, DOMAINS, ensure_toy_domains, read_toy_split
from trainers.modules.adu_model import PromptedImageEncoder, VisionPrompts
from trainers.modules.clip_heads import ZeroshotClassifier, normalize
from trainers.modules.clip_loading import load_clip, require_vit
from user_errors import UserError

TEMPLATE = "a photo of a {}."
LIMITS = dict(logit_scale=100.0, max_prompt_share=0.12, min_heads=2, min_embed_dim=128,
              max_prompt_shift=3.0, min_zero_shot=60.0)


def architecture(model, n_ctx: int = 8):
    """Shape properties of a ViT CLIP: scale, tokens per prompted block, heads, dims."""
    visual = model.visual
    n_patches = visual.positional_embedding.shape[0] - 1
    heads = visual.transformer.resblocks[0].attn.num_heads
    return dict(
        logit_scale=model.logit_scale.exp().item(),
        blocks=len(visual.transformer.resblocks), width=visual.transformer.width,
        heads=heads, patches=n_patches, embed_dim=visual.output_dim,
        prompt_share=n_ctx / (1 + n_patches + n_ctx))


def toy_test_images(dataset_dir, resolution: int):
    """The toy TEST split through CLIP's own preprocessing: images, labels, domain ids."""
    from clip.clip import _transform
    from PIL import Image
    preprocess = _transform(resolution)
    items = read_toy_split(dataset_dir, "test")
    images = torch.stack([preprocess(Image.open(p)) for p, *_ in items])
    labels = torch.tensor([label for _, label, _, _ in items])
    domains = torch.tensor([DOMAINS.index(d) for _, _, d, _ in items])
    return images, labels, domains


@torch.no_grad()
def per_domain_accuracy(logits_fn, images, labels, domains, batch_size=200):
    """Accuracy in % of each domain, in DOMAINS order."""
    preds = torch.cat([logits_fn(images[i:i + batch_size]).argmax(1)
                       for i in range(0, len(images), batch_size)])
    correct = (preds == labels).float()
    return [100 * correct[domains == i].mean().item() for i in range(len(DOMAINS))]


@torch.no_grad()
def zero_shot_with_and_without_prompts(model, dataset_dir, n_ctx=8, depth=9, seeds=(1, 2, 3)):
    """(zero-shot accuracy per domain, [the same with untrained prompts, per seed])."""
    classifier = ZeroshotClassifier(model, CLASSES, TEMPLATE)
    images, labels, domains = toy_test_images(dataset_dir, model.visual.input_resolution)
    plain = per_domain_accuracy(classifier, images, labels, domains)
    prompted = []
    for seed in seeds:
        torch.manual_seed(seed)
        prompts = VisionPrompts(model.visual.transformer.width, n_ctx, depth)
        encoder = PromptedImageEncoder(model.visual, prompts).eval()
        prompted.append(per_domain_accuracy(
            lambda x, enc=encoder: classifier.logits(normalize(enc(x)), classifier.text_features),
            images, labels, domains))
    return plain, prompted


def measure(model, dataset_dir, n_ctx=8, depth=9):
    """Every regime property of `model` (a dict; accuracies in %)."""
    props = architecture(model, n_ctx)
    plain, prompted = zero_shot_with_and_without_prompts(model, dataset_dir, n_ctx, depth)
    props["zero_shot"] = dict(zip(DOMAINS, plain))
    props["prompted"] = [dict(zip(DOMAINS, accs)) for accs in prompted]
    props["prompt_shift"] = max(abs(p[d] - props["zero_shot"][d])
                                for p in props["prompted"] for d in DOMAINS)
    return props


def failures(props):
    """The properties out of range, one line each (empty: in CLIP's regime)."""
    lim = LIMITS
    out = []
    if abs(props["logit_scale"] - lim["logit_scale"]) > 0.01:
        out.append(f"logit_scale.exp() is {props['logit_scale']:.2f}, not 100")
    if props["prompt_share"] > lim["max_prompt_share"]:
        out.append(f"prompt tokens are {100 * props['prompt_share']:.1f} % of a prompted "
                   f"block's tokens (> {100 * lim['max_prompt_share']:.0f} %)")
    if props["heads"] < lim["min_heads"]:
        out.append(f"{props['heads']} attention head(s) (< {lim['min_heads']})")
    if props["embed_dim"] < lim["min_embed_dim"]:
        out.append(f"embedding dimension {props['embed_dim']} (< {lim['min_embed_dim']})")
    if props["prompt_shift"] > lim["max_prompt_shift"]:
        out.append(f"untrained prompts move a domain's zero-shot accuracy by "
                   f"{props['prompt_shift']:.1f} points (> {lim['max_prompt_shift']:.0f})")
    low = {d: a for d, a in props["zero_shot"].items() if a < lim["min_zero_shot"]}
    if low:
        out.append("zero-shot accuracy below 60 %: "
                   + ", ".join(f"{d} {a:.1f}" for d, a in low.items()))
    return out


def report(props, name=""):
    """The properties as printed lines."""
    lines = [
        f"Regime of {name}" if name else "Regime",
        f"  logit_scale.exp()  {props['logit_scale']:.2f}   (OpenAI CLIPs: 100)",
        f"  vision             {props['blocks']} blocks, width {props['width']}, "
        f"{props['heads']} heads, {props['patches']} patches",
        f"  prompt share       {100 * props['prompt_share']:.1f} % of a prompted block's "
        "tokens (ViT-B/16: 3.9 %; limit 12 %)",
        f"  embedding dim      {props['embed_dim']}   (limit >= 128)",
        f"  {'domain':<10} {'zero-shot':>9} {'untrained prompts (3 draws)':>30}",
    ]
    for d in DOMAINS:
        draws = " ".join(f"{p[d]:5.1f}" for p in props["prompted"])
        lines.append(f"  {d:<10} {props['zero_shot'][d]:>9.1f} {draws:>30}")
    lines.append(f"  largest change from untrained prompts: {props['prompt_shift']:.1f} points "
                 "(limit 3); zero-shot limit >= 60")
    bad = failures(props)
    lines.append("  in CLIP's regime" if not bad else "  OUT of CLIP's regime: " + "; ".join(bad))
    return lines


def regime_command(args) -> int:
    """tools/toy_regime.py for parsed `args`: the report; 1 with --check when
    out of the regime, 2 (one line) for a wrong path or model."""
    try:
        model = load_clip(args.clip)
        require_vit(model, args.clip, "toy_regime.py")
        dataset_dir = ensure_toy_domains(osp.join(args.root, "toy_domains"))
        props = measure(model, dataset_dir, args.n_ctx, args.depth)
    except UserError as err:  # a wrong path or model: one line, no traceback
        print(f"toy_regime.py: error: {err}", file=sys.stderr)
        return 2
    print("\n".join(report(props, args.clip)))
    return 1 if args.check and failures(props) else 0


def parse_args(argv=None):
    """tools/toy_regime.py's command line."""
    parser = argparse.ArgumentParser(
        description="Is a CLIP in ViT-B/16's regime for deep prompts on the toy benchmark?")
    parser.add_argument("clip", help="OpenAI-format CLIP file (or model name)")
    parser.add_argument("--root", default="data", help="DATASET.ROOT of toy_domains")
    parser.add_argument("--n-ctx", type=int, default=8, help="prompt tokens per block")
    parser.add_argument("--depth", type=int, default=9, help="prompted blocks")
    parser.add_argument("--check", action="store_true", help="exit 1 when out of the regime")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    return regime_command(parse_args(argv))
