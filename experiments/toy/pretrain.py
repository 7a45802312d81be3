"""Contrastive pretraining of the toy benchmark's tiny CLIP
(tools/pretrain_tiny_clip.py, whose docstring says what the defaults make):
CLIP's symmetric InfoNCE with several true captions per image, untrained
prompt noise in some batches, and the unused token rows kept at zero."""
import math
import os
import os.path as osp
import time

import clip
import torch
import torch.nn.functional as F

from datasets.toy_render import CLASSES, DOMAINS, ensure_toy_domains
from experiments.toy.pretrain_data import (CLIP_MEAN, CLIP_STD, augment, caption_ids,
                                           caption_table, describes, render_train_pool)
from experiments.toy.regime import measure, report
from experiments.toy.zero_shot import EVAL_TEMPLATE, print_table, zero_shot_table
from trainers.modules.clip_heads import ZeroshotClassifier
from trainers.modules.clip_loading import load_clip
from trainers.modules.tiny_clip import build_clip, save_clip_archive
from trainers.modules.adu_model import PromptedImageEncoder


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


def optimizer_and_schedule(model, args, total: int):
    """AdamW (no weight decay on embeddings, gains and biases) and a linear
    warm-up then cosine schedule over `total` steps."""
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    decay = [p for n, p in params if p.ndim >= 2 and "embedding" not in n]
    no_decay = [p for n, p in params if p.ndim < 2 or "embedding" in n]
    optim = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                               {"params": no_decay, "weight_decay": 0.0}],
                              lr=args.lr, betas=(0.9, 0.98), eps=1e-6)
    warmup = min(100, total // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(optim, lambda s: (s + 1) / warmup if s < warmup
                                              else 0.5 * (1 + math.cos(math.pi * (s - warmup)
                                                                       / (total - warmup))))
    return optim, sched


def batch_loss(model, noisy, tokens, images, labels, domains, gen, prompt_noise):
    """The contrastive loss of one batch of uint8 images against its captions."""
    plain = torch.rand(len(images), generator=gen) < 0.5
    # Each distinct caption once; `describes` gives the true pairs.
    caps = caption_ids(labels, domains, plain).unique()
    x = augment(images, gen)
    # Drawn only with --prompt-noise, so the default run's random
    # stream (and the shipped file) is what it was without the option.
    noise = prompt_noise > 0 and torch.rand((), generator=gen).item() < prompt_noise
    img_f = F.normalize(noisy(x) if noise else model.encode_image(x), dim=-1)
    txt_f = F.normalize(model.encode_text(tokens[caps]), dim=-1)
    logits = model.logit_scale.exp() * img_f @ txt_f.t()
    return multi_positive_infonce(logits, describes(labels, domains, caps))


def train(model, images, labels, domains, args, held_out=None):
    captions = caption_table()
    tokens = clip.tokenize(captions, context_length=model.context_length)
    used = zero_unused_token_rows(model, tokens)
    print(f"Token embedding: {int(used.sum())} of {len(used)} rows in use, the rest zero")

    steps_per_epoch = len(images) // args.batch_size
    optim, sched = optimizer_and_schedule(model, args, args.epochs * steps_per_epoch)
    gen = torch.Generator().manual_seed(args.seed)
    noisy = PromptedImageEncoder(model.visual, NoisePrompts(
        args.noise_ctx, args.noise_depth, model.visual.transformer.width, gen))
    model.train()
    start = time.time()
    for epoch in range(args.epochs):
        order = torch.randperm(len(images), generator=gen)
        for k in range(steps_per_epoch):
            idx = order[k * args.batch_size:(k + 1) * args.batch_size]
            loss = batch_loss(model, noisy, tokens, images[idx], labels[idx], domains[idx],
                              gen, args.prompt_noise)
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


def pretrain(args):
    """tools/pretrain_tiny_clip.py for parsed `args`: pretrain, save, report."""
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


