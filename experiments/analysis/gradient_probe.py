"""How hard each ADU loss term pulls, at the start of training, on the toy
(tools/gradient_probe.py).

On one batch of few-shot train images (`shots` per class and domain,
seeded, as the trainers sample) through ADU's untrained learner (deep
vision prompts, InstaPG, domain classifier, as the paper's defaults), the
gradient norm of each weighted term, L_memorize, L_forget,
gamma * L_CE(domain) and -lambda * MMD^2, with respect to the image
embeddings and to the learner's parameters, and each norm relative to
L_memorize's; the mean over seeds. No Dassl needed.
"""
import os.path as osp
import sys

import numpy as np
import torch
from PIL import Image

from datasets.toy_render import CLASSES, DOMAINS, ensure_toy_domains, read_toy_split
from trainers.run.files import PROJECT_ROOT as REPO
from trainers.modules.adu_model import ADUCLIP
from trainers.modules.clip_loading import CLIP_PIXEL_MEAN, CLIP_PIXEL_STD, load_clip, require_vit
from trainers.modules.losses import ADUObjective, adu_losses
from user_errors import ConfigError, UserError

TERMS = [("memorize", "L_memorize"), ("forget", "L_forget"),
         ("domain_ce", "gamma * L_CE(domain)"), ("mmd2", "-lambda * MMD^2")]


def few_shot_batch(dataset_dir, shots, seed, resolution):
    """(images, labels, domain ids): `shots` train images per (class, domain)."""
    items = read_toy_split(dataset_dir, "train")
    gen = torch.Generator().manual_seed(seed)
    picked = []
    for d in DOMAINS:
        for c in range(len(CLASSES)):
            pool = [it for it in items if it[2] == d and it[1] == c]
            order = torch.randperm(len(pool), generator=gen)[:shots].tolist()
            picked += [pool[i] for i in order]
    mean = torch.tensor(CLIP_PIXEL_MEAN).view(3, 1, 1)
    std = torch.tensor(CLIP_PIXEL_STD).view(3, 1, 1)

    def load(path):
        img = Image.open(path).convert("RGB").resize((resolution, resolution), Image.BICUBIC)
        x = torch.from_numpy(np.asarray(img).copy())
        return (x.permute(2, 0, 1).float() / 255 - mean) / std

    images = torch.stack([load(p) for p, *_ in picked])
    labels = torch.tensor([label for _, label, _, _ in picked])
    domains = torch.tensor([DOMAINS.index(d) for _, _, d, _ in picked])
    return images, labels, domains


def term_gradients(model, images, labels, domains, forget_mask, loss_cfg):
    """{term: (|grad wrt embeddings|, |grad wrt learner parameters|)} of each weighted term."""
    params = [p for p in model.learner.parameters() if p.requires_grad]
    weights = {"memorize": 1.0, "forget": 1.0, "domain_ce": loss_cfg.gamma,
               "mmd2": -loss_cfg.lam}
    out = {}
    for key, _ in TERMS:
        feats = model.encode_image(images)
        feats.retain_grad()
        logits = model.logits(feats, model.text_features)
        domain_logits = model.learner.domain_head(feats)
        terms = adu_losses(logits=logits, labels=labels, domains=domains, forget_mask=forget_mask,
                           features=feats, domain_logits=domain_logits, objective=loss_cfg)
        model.zero_grad(set_to_none=True)
        (weights[key] * terms[key]).backward()
        grads = [p.grad.flatten() for p in params if p.grad is not None]
        out[key] = (feats.grad.norm().item(), torch.cat(grads).norm().item() if grads else 0.0)
    return out


def probe(clip_path, dataset_dir, forget, gamma, lam, seeds, shots=8):
    """Per term: mean over seeds of the two gradient norms and their ratios to L_memorize's."""
    clip_model = load_clip(clip_path)
    require_vit(clip_model, clip_path, "gradient_probe.py")
    loss_cfg = ADUObjective(gamma=gamma, lam=lam)
    rows = {key: [0.0, 0.0, 0.0, 0.0] for key, _ in TERMS}
    for seed in seeds:
        torch.manual_seed(seed)
        model = ADUCLIP(clip_model, CLASSES, len(DOMAINS)).train()
        images, labels, domains = few_shot_batch(
            dataset_dir, shots, seed, clip_model.visual.input_resolution)
        forget_mask = torch.zeros_like(labels, dtype=torch.bool)
        for d in forget:
            forget_mask |= domains == DOMAINS.index(d)
        grads = term_gradients(model, images, labels, domains, forget_mask, loss_cfg)
        mem_emb, mem_par = grads["memorize"]
        for key, (emb, par) in grads.items():
            for i, v in enumerate((emb, par, emb / mem_emb, par / mem_par)):
                rows[key][i] += v / len(seeds)
    return rows, clip_model.logit_scale.exp().item()


def check_forget(forget):
    unknown = [d for d in forget if d not in DOMAINS]
    if unknown or not forget or len(set(forget)) >= len(DOMAINS):
        raise ConfigError(f"--forget must name 1..{len(DOMAINS) - 1} of the toy's "
                          f"domains {DOMAINS}, got {forget}")


def print_table(args, rows, scale):
    print(f"Gradient of each ADU term at initialisation: {args.clip}, logit scale "
          f"{scale:.1f}, forget {','.join(args.forget)}, gamma {args.gamma:g}, "
          f"lambda {args.lam:g}, seeds {' '.join(map(str, args.seeds))}")
    print(f"{'term':<22} {'|g| embeddings':>15} {'/ memorize':>10} "
          f"{'|g| learner':>12} {'/ memorize':>10}")
    for key, name in TERMS:
        emb, par, r_emb, r_par = rows[key]
        print(f"{name:<22} {emb:>15.4f} {r_emb:>10.2f} {par:>12.4f} {r_par:>10.2f}")


def probe_command(args) -> int:
    """tools/gradient_probe.py for parsed `args`: the table, or one line and 2
    for a user error. A relative --clip not found here is the repository's."""
    clip_path = args.clip if osp.isabs(args.clip) or osp.exists(args.clip) \
        else osp.join(REPO, args.clip)
    try:
        check_forget(args.forget)
        dataset_dir = ensure_toy_domains(osp.join(args.root, "toy_domains"))
        rows, scale = probe(clip_path, dataset_dir, args.forget, args.gamma, args.lam,
                            args.seeds, args.shots)
    except UserError as err:
        print(f"gradient_probe.py: error: {err}", file=sys.stderr)
        return 2
    print_table(args, rows, scale)
    return 0
