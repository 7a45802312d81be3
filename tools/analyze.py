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
(tools/run_model.py); a toy run needs no GPU.
"""
import argparse
import os
import os.path as osp
import sys
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path[:0] = [REPO, osp.join(REPO, "tools")]

import numpy as np  # noqa: E402
import torch  # noqa: E402

from run_model import encode, items_loader, load_run, zero_shot_outputs  # noqa: E402
from trainers.engine.files import write_json_atomic  # noqa: E402
from trainers.modules.attention_maps import cls_maps, record_blocks  # noqa: E402
from trainers.modules.probes import probe_accuracy  # noqa: E402
from user_errors import ConfigError, UserError  # noqa: E402

OUTPUT_FILE = "domains.json"
DEFINITIONS = {
    "domain_classifier_accuracy": "accuracy (%) of the run's own domain classifier (the "
        "DDL head) on every test image; null when the run has none (DDL off, or a "
        "comparison method) and for zero-shot CLIP, which has none",
    "domain_probe_accuracy": "accuracy (%) on every test image of a multinomial logistic "
        "regression predicting the domain from the L2-normalised image embedding, fitted "
        "on the run's training shots (test-time transform)",
    "class_accuracy": "class accuracy (%) on each domain's test images; a forget domain "
        "should drop toward chance, a memorize domain keep its zero-shot accuracy",
}


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


def class_accuracy(enc, domains) -> dict:
    return {name: 100.0 * (enc.pred[enc.domain == d] == enc.label[enc.domain == d])
            .double().mean().item() for d, name in enumerate(domains)
            if (enc.domain == d).any()}


def domain_record(run, test, shots) -> dict:
    """What domains.json holds: per model, the three measures of DEFINITIONS."""
    dataset = run.trainer.dm.dataset
    record = {"domains": list(dataset.domains), "forget_domains": list(dataset.forget_domains),
              "chance_domain": 100.0 / len(dataset.domains),
              "chance_class": 100.0 / dataset.num_classes}
    for name in ("zero_shot", "run"):
        te, tr = test[name], shots[name]
        clf = None if te.domain_pred is None else \
            100.0 * (te.domain_pred == te.domain).double().mean().item()
        record[name] = {
            "domain_classifier_accuracy": clf,
            "domain_probe_accuracy": probe_accuracy(tr.features, tr.domain,
                                                    te.features, te.domain),
            "class_accuracy": class_accuracy(te, dataset.domains),
        }
    if record["run"]["domain_classifier_accuracy"] is None:
        record["run"]["note"] = "this run has no domain classifier (DDL off or another method)"
    record["definitions"] = DEFINITIONS
    return record


def format_record(record: dict, method: str) -> str:
    fmt = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
    lines = [f"{'':<34}{'zero-shot':>12}{method[:12]:>14}"]
    for key, label in (("domain_classifier_accuracy", "domain classifier acc"),
                       ("domain_probe_accuracy", "domain linear-probe acc")):
        lines.append(f"{label:<34}{fmt(record['zero_shot'][key]):>12}"
                     f"{fmt(record['run'][key]):>14}")
    for d in record["domains"]:
        role = "forget" if d in record["forget_domains"] else "memorize"
        lines.append(f"{'class acc, ' + d + ' (' + role + ')':<34}"
                     f"{fmt(record['zero_shot']['class_accuracy'].get(d)):>12}"
                     f"{fmt(record['run']['class_accuracy'].get(d)):>14}")
    lines.append(f"chance: domain {record['chance_domain']:.2f}, class "
                 f"{record['chance_class']:.2f}; definitions in domains.json")
    return "\n".join(lines)


def save_figure(fig, path: str):
    """Written beside `path` and renamed over it: never a half-written image."""
    import matplotlib.pyplot as plt
    tmp = osp.join(osp.dirname(path), f".{osp.basename(path)}.{os.getpid()}.tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    os.replace(tmp, path)


def tsne_figure(test, domains, forget, title, path, max_points, seed):
    from sklearn.manifold import TSNE
    import matplotlib.pyplot as plt
    n = len(test["run"].domain)
    keep = np.sort(np.random.default_rng(seed).permutation(n)[:max_points])
    fig, axes = plt.subplots(1, 2, figsize=(11, 5))
    colours = plt.get_cmap("tab10")
    for ax, (name, label) in zip(axes, (("zero_shot", "zero-shot CLIP (before)"),
                                        ("run", "after unlearning"))):
        feats = test[name].features.numpy()[keep]
        dom = test[name].domain.numpy()[keep]
        points = TSNE(n_components=2, perplexity=min(30.0, (len(keep) - 1) / 3.0),
                      init="pca", random_state=seed).fit_transform(feats)
        for d, dname in enumerate(domains):
            m = dom == d
            gone = dname in forget
            ax.scatter(points[m, 0], points[m, 1], s=14 if gone else 8, c=[colours(d % 10)],
                       marker="x" if gone else "o",
                       label=f"{dname} (forget)" if gone else dname)
        ax.set_title(label)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.legend(fontsize=8, markerscale=1.5)
    fig.suptitle(f"t-SNE of the test embeddings ({len(keep)} images): {title}")
    fig.tight_layout()
    save_figure(fig, path)


def vision_transformer(model):
    from clip.model import VisionTransformer
    for module in model.modules():
        if isinstance(module, VisionTransformer):
            return module
    raise ConfigError("the run's model holds no CLIP ViT image encoder: attention maps "
                      "need one (MODEL.BACKBONE.NAME a ViT)")


def attention_maps(trainer, zero_shot, images) -> dict:
    """{"zero_shot"/"run": cls_maps(...)} of `images` [N, 3, H, W]."""
    images = images.to(trainer.device)
    result = {}
    for name, visual, forward in (
            ("zero_shot", zero_shot.model.clip.visual, zero_shot),
            ("run", vision_transformer(trainer.model), trainer.evaluation_outputs)):
        n_patches = (visual.input_resolution // visual.conv1.kernel_size[0]) ** 2
        with record_blocks(visual) as records:
            forward(images)
        result[name] = {k: v.cpu() for k, v in cls_maps(records, n_patches).items()}
    return result


def attention_figure(cfg, images, labels, maps, title, path):
    import matplotlib.pyplot as plt
    mean = torch.tensor(cfg.INPUT.PIXEL_MEAN).view(3, 1, 1)
    std = torch.tensor(cfg.INPUT.PIXEL_STD).view(3, 1, 1)
    cols = [("zero_shot", "last"), ("zero_shot", "rollout"), ("run", "last"), ("run", "rollout")]
    fig, axes = plt.subplots(len(images), 5, figsize=(10, 2.1 * len(images)), squeeze=False)
    for i, image in enumerate(images):
        axes[i, 0].imshow((image * std + mean).clamp(0, 1).permute(1, 2, 0).numpy())
        axes[i, 0].set_ylabel(labels[i], fontsize=8)
        for j, (model, kind) in enumerate(cols, start=1):
            patch = maps[model][kind][i]
            side = int(round(len(patch) ** 0.5))
            axes[i, j].imshow(patch.view(side, side).numpy(), cmap="inferno")
            share = maps[model][f"prompt_share_{kind}"][i].item()
            if share > 0:
                axes[i, j].set_xlabel(f"prompts hold {100 * share:.0f}%", fontsize=7)
        for ax in axes[i]:
            ax.set_xticks([])
            ax.set_yticks([])
    heads = ["image", "zero-shot: last block", "zero-shot: rollout", "run: last block",
             "run: rollout"]
    for j, head in enumerate(heads):
        axes[0, j].set_title(head, fontsize=9)
    fig.suptitle(f"CLS attention over the patches: {title}\n(patches only, each map "
                 "renormalised; the share of the CLS attention on prompt tokens is "
                 "written under a map)", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)


def pick_images(dataset, per_domain: int):
    """The first `per_domain` test images of each domain, with distinct classes first."""
    picked = []
    for d in range(len(dataset.domains)):
        items = [it for it in dataset.test if it.domain == d]
        items.sort(key=lambda it: (it.label, it.impath))
        by_class = {}
        for it in items:
            by_class.setdefault(it.label, it)
        picked += (list(by_class.values()) + items)[:per_domain]
    return picked


def analyze(args) -> dict:
    import matplotlib
    matplotlib.use("Agg")
    run = load_run(args.run_dir, args.root, "cpu" if args.cpu else "")
    trainer, cfg = run.trainer, run.trainer.cfg
    dataset = trainer.dm.dataset
    out = args.out or args.run_dir
    os.makedirs(out, exist_ok=True)
    zero_shot = zero_shot_outputs(trainer)
    test = {"zero_shot": encode(trainer, dataset.test, zero_shot),
            "run": encode(trainer, dataset.test)}
    shots = {"zero_shot": encode(trainer, dataset.train_x, zero_shot),
             "run": encode(trainer, dataset.train_x)}
    method = run.results.get("method", cfg.TRAINER.NAME)
    title = (f"{method} on {cfg.DATASET.NAME}, forget {','.join(dataset.forget_domains)}, "
             f"seed {cfg.SEED}")
    record = domain_record(run, test, shots)
    record.update(run_dir=osp.abspath(args.run_dir), method=method, dataset=cfg.DATASET.NAME,
                  seed=cfg.SEED)
    write_json_atomic(osp.join(out, OUTPUT_FILE), record)
    print(format_record(record, method))

    tsne_figure(test, dataset.domains, dataset.forget_domains, title,
                osp.join(out, "tsne.png"), args.tsne_max, max(cfg.SEED, 0))
    items = pick_images(dataset, args.images_per_domain)
    images = torch.cat([b["img"] for b in items_loader(trainer, items)])
    names = [f"{dataset.domains[it.domain]}: {it.classname}" for it in items]
    maps = attention_maps(trainer, zero_shot, images)
    attention_figure(cfg, images, names, maps, title, osp.join(out, "attention.png"))
    return record


def main(argv=None):
    try:
        args = parse_args(argv)
        start = time.time()
        record = analyze(args)
    except UserError as err:
        print(f"analyze.py: error: {err}", file=sys.stderr)
        sys.exit(2)
    out = args.out or args.run_dir
    print(f"Written {OUTPUT_FILE}, tsne.png and attention.png to {out} "
          f"({time.time() - start:.1f} s)")
    return record


if __name__ == "__main__":
    main()
