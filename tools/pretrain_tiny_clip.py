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
import math
import os
import os.path as osp
import sys
import time
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import clip  # noqa: E402

from datasets.toy_render import (  # noqa: E402
    CLASSES,
    DOMAINS,
    ensure_toy_domains,
    read_toy_split,
    render_image,
)
from tools.toy_regime import measure, report  # noqa: E402
from trainers.modules.clip_utils import (  # noqa: E402
    CLIP_PIXEL_MEAN,
    CLIP_PIXEL_STD,
    ZeroshotClassifier,
    build_clip,
    load_clip,
    save_clip_archive,
)
from trainers.modules.vision_prompts import PromptedImageEncoder  # noqa: E402

CLIP_MEAN = torch.tensor(CLIP_PIXEL_MEAN).view(1, 3, 1, 1)
CLIP_STD = torch.tensor(CLIP_PIXEL_STD).view(1, 3, 1, 1)
EVAL_TEMPLATE = "a photo of a {}."


def caption_table():
    """Captions [class * (|D| + 1)]: "a <domain> of a <class>." per domain, then "<class>"."""
    return [f"a {d} of a {c}." for c in CLASSES for d in DOMAINS] + list(CLASSES)


def caption_ids(labels, domains, plain):
    """Index into caption_table() of each sample's caption."""
    return torch.where(plain, len(CLASSES) * len(DOMAINS) + labels,
                       labels * len(DOMAINS) + domains)


def describes(labels, domains, caps):
    """[B, U] bool: caption u is true of image i (same class; plain or same domain)."""
    n_dom = len(DOMAINS)
    plain = caps >= len(CLASSES) * n_dom
    cap_label = torch.where(plain, caps - len(CLASSES) * n_dom, caps // n_dom)
    same_class = labels[:, None] == cap_label[None, :]
    same_domain = plain[None, :] | (domains[:, None] == (caps % n_dom)[None, :])
    return same_class & same_domain


def render_train_pool(per_pair, first=0):
    """uint8 images [N, 3, H, W], labels, domain labels: train indices
    first..first+per_pair-1."""
    keys = [(c, d) for d in range(len(DOMAINS)) for c in range(len(CLASSES))]
    images = np.stack([np.asarray(render_image(CLASSES[c], DOMAINS[d], "train", i))
                       for c, d in keys for i in range(first, first + per_pair)])
    labels = torch.tensor([c for c, _ in keys for _ in range(per_pair)])
    domains = torch.tensor([d for _, d in keys for _ in range(per_pair)])
    return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), labels, domains


def augment(images, gen, scale=(0.5, 1.0), ratio=(3 / 4, 4 / 3)):
    """Random resized crop + horizontal flip on a uint8 batch, then CLIP normalisation."""
    b = images.shape[0]
    area = torch.empty(b).uniform_(*scale, generator=gen)
    log_r = torch.empty(b).uniform_(math.log(ratio[0]), math.log(ratio[1]), generator=gen)
    w = torch.sqrt(area * log_r.exp()).clamp(max=1.0)
    h = torch.sqrt(area / log_r.exp()).clamp(max=1.0)
    cx = (torch.rand(b, generator=gen) * 2 - 1) * (1 - w)
    cy = (torch.rand(b, generator=gen) * 2 - 1) * (1 - h)
    flip = torch.where(torch.rand(b, generator=gen) < 0.5, -1.0, 1.0)
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2] = w * flip, cx
    theta[:, 1, 1], theta[:, 1, 2] = h, cy
    x = images.float() / 255
    grid = F.affine_grid(theta, x.shape, align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    return (x - CLIP_MEAN) / CLIP_STD


def multi_positive_infonce(logits, positives):
    """Symmetric InfoNCE where an image may have several true captions and vice versa."""
    log_i2t = logits.log_softmax(dim=1)
    log_t2i = logits.log_softmax(dim=0)
    pos = positives.float()
    loss_i2t = -(log_i2t * pos).sum(1) / pos.sum(1)
    loss_t2i = -(log_t2i * pos).sum(0) / pos.sum(0)
    return (loss_i2t.mean() + loss_t2i.mean()) / 2


class NoisePrompts:
    """Fresh N(0, std^2) prompt tokens per image and block, in the shape of
    ADU's untrained prompts (for PromptedImageEncoder; nothing is learned)."""

    def __init__(self, n_ctx, depth, width, gen, std=0.02):
        self.n_ctx, self.depth, self.width, self.gen, self.std = n_ctx, depth, width, gen, std

    def for_block(self, block, patches):
        shape = (patches.shape[0], self.n_ctx, self.width)
        return torch.randn(shape, generator=self.gen) * self.std


def zero_unused_token_rows(model, tokens):
    used = torch.zeros(model.token_embedding.num_embeddings, dtype=torch.bool)
    used[tokens.unique()] = True
    with torch.no_grad():
        model.token_embedding.weight[~used] = 0
    return used


@torch.no_grad()
def held_out_accuracy(model, held_out):
    """Zero-shot accuracy per domain on train-stream images beyond the pool
    (never the test split), to watch the pretraining converge."""
    images, labels, domains = held_out
    was_training = model.training
    model.eval()
    classifier = ZeroshotClassifier(model, CLASSES, EVAL_TEMPLATE)
    x = (images.float() / 255 - CLIP_MEAN) / CLIP_STD
    preds = torch.cat([classifier(x[i:i + 500]).argmax(1) for i in range(0, len(x), 500)])
    model.train(was_training)
    return [100 * (preds == labels)[domains == d].float().mean().item()
            for d in range(len(DOMAINS))]


def train(model, images, labels, domains, args, held_out=None):
    captions = caption_table()
    tokens = clip.tokenize(captions, context_length=model.context_length)
    used = zero_unused_token_rows(model, tokens)
    print(f"Token embedding: {int(used.sum())} of {len(used)} rows in use, the rest zero")

    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    decay = [p for n, p in params if p.ndim >= 2 and "embedding" not in n]
    no_decay = [p for n, p in params if p.ndim < 2 or "embedding" in n]
    optim = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                               {"params": no_decay, "weight_decay": 0.0}],
                              lr=args.lr, betas=(0.9, 0.98), eps=1e-6)
    steps_per_epoch = len(images) // args.batch_size
    total = args.epochs * steps_per_epoch
    warmup = min(100, total // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(optim, lambda s: (s + 1) / warmup if s < warmup
                                              else 0.5 * (1 + math.cos(math.pi * (s - warmup)
                                                                       / (total - warmup))))
    gen = torch.Generator().manual_seed(args.seed)
    noisy = PromptedImageEncoder(model.visual, NoisePrompts(
        args.noise_ctx, args.noise_depth, model.visual.transformer.width, gen))
    model.train()
    start = time.time()
    for epoch in range(args.epochs):
        order = torch.randperm(len(images), generator=gen)
        for k in range(steps_per_epoch):
            idx = order[k * args.batch_size:(k + 1) * args.batch_size]
            plain = torch.rand(len(idx), generator=gen) < 0.5
            # Each distinct caption once; `describes` gives the true pairs.
            caps = caption_ids(labels[idx], domains[idx], plain).unique()
            x = augment(images[idx], gen)
            # Drawn only with --prompt-noise, so the default run's random
            # stream (and the shipped file) is what it was without the option.
            noise = args.prompt_noise > 0 and (
                torch.rand((), generator=gen).item() < args.prompt_noise)
            img_f = F.normalize(noisy(x) if noise else model.encode_image(x), dim=-1)
            txt_f = F.normalize(model.encode_text(tokens[caps]), dim=-1)
            logits = model.logit_scale.exp() * img_f @ txt_f.t()
            loss = multi_positive_infonce(logits, describes(labels[idx], domains[idx], caps))
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()
            sched.step()
            with torch.no_grad():
                model.logit_scale.clamp_(0, math.log(100))
        print(f"epoch {epoch + 1}/{args.epochs}  loss {loss.item():.3f}  "
              f"logit scale {model.logit_scale.exp().item():.1f}  "
              f"{time.time() - start:.0f}s", flush=True)
        if held_out is not None and args.eval_every and (epoch + 1) % args.eval_every == 0:
            accs = held_out_accuracy(model, held_out)
            print("  held-out zero-shot: " + "  ".join(
                f"{d} {a:.1f}" for d, a in zip(DOMAINS, accs)), flush=True)
    if model.token_embedding.weight[~used].abs().sum() != 0:
        raise RuntimeError("unused token-embedding rows became non-zero")
    if args.final_logit_scale:
        # OpenAI CLIP's 100 (module docstring): the zero-shot predictions
        # (argmax) do not change, the softmax sharpens to CLIP's.
        print(f"Learned logit scale {model.logit_scale.exp().item():.1f}; "
              f"set to {args.final_logit_scale:g}")
        with torch.no_grad():
            model.logit_scale.fill_(math.log(args.final_logit_scale))
    return model.eval()


@torch.no_grad()
def zero_shot_table(path, dataset_dir, template=EVAL_TEMPLATE):
    """Per-domain zero-shot accuracy of the saved file on the TEST split, via
    clip.load, scored as the ZeroshotCLIP trainer scores."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        model, preprocess = clip.load(path, device="cpu", jit=False)
    classifier = ZeroshotClassifier(model.float().eval(), CLASSES, template)
    items = read_toy_split(dataset_dir, "test")
    images = torch.stack([preprocess(Image.open(p)) for p, *_ in items])
    labels = torch.tensor([label for _, label, _, _ in items])
    domains = torch.tensor([DOMAINS.index(d) for _, _, d, _ in items])
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


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", default="data", help="DATASET.ROOT of toy_domains")
    parser.add_argument("--output", default="assets/tiny_clip_toy.pt")
    parser.add_argument("--arch", default="toy", help="clip_utils.ARCHITECTURES entry")
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
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    dataset_dir = ensure_toy_domains(osp.join(args.root, "toy_domains"))
    start = time.time()
    images, labels, domains = render_train_pool(args.pool)
    print(f"Rendered the pretraining pool in {time.time() - start:.0f}s")
    print(f"Pretraining the tiny CLIP on {len(images)} train images "
          f"({args.epochs} epochs, {args.threads} threads)")
    start = time.time()
    if args.init:
        model = load_clip(args.init).train()
        print(f"Continuing from {args.init}")
    else:
        model = build_clip(args.arch)
    held_out = render_train_pool(20, first=args.pool) if args.eval_every else None
    model = train(model, images, labels, domains, args, held_out)
    print(f"Pretraining took {time.time() - start:.0f}s")

    os.makedirs(osp.dirname(osp.abspath(args.output)), exist_ok=True)
    save_clip_archive(model, args.output)
    print(f"Saved {args.output} ({osp.getsize(args.output) / 2**20:.1f} MiB)")
    rows, overall = zero_shot_table(args.output, dataset_dir)
    print_table(args.output, rows, overall)
    print()
    print("\n".join(report(measure(load_clip(args.output), dataset_dir), args.output)))


if __name__ == "__main__":
    main()
