"""What tools/robustness.py measures of a finished run: recovery of the
forget domains by probing its embeddings (against zero-shot CLIP's) and by
relearning from its learner (against the same learner untrained); written
to robustness.json and robustness.png."""
import os.path as osp

import torch

from experiments.analysis.figures import save_figure
from experiments.analysis.finished_run import (encode, items_loader, load_run,
                                               sample_per_class, train_pool,
                                               zero_shot_outputs)
from experiments.analysis.relearning import relearn
from trainers.run.files import write_json_atomic
from trainers.modules.probes import first_k_per_class, probe_curve

OUTPUT_FILE = "robustness.json"
DEFINITIONS = {
    "probe": "forget-domain test accuracy (%) of a multinomial logistic regression on "
             "L2-normalised image embeddings, fitted on k forget-domain training images "
             "per class (nested seeded draws from the training pool)",
    "relearn": "forget-domain test accuracy (%) after n SGD steps (momentum 0.9, "
               "constant lr) of plain cross-entropy with the run's class text features "
               "on the relearning shots, updating only the trainable parameters",
    "relearn.unlearned": "starting from the run's trained learner",
    "relearn.untrained": "starting from the same learner's initial weights (the "
                         "run's seed): the same budget without the unlearning",
    "zero_shot_forget_accuracy": "zero-shot CLIP's forget-domain test accuracy (%)",
    "run_forget_accuracy": "the run's forget-domain test accuracy (%), 100 - For",
}


def forget_items(items, forget_ids):
    return [it for it in items if it.domain in set(forget_ids)]


def load_images(trainer, items):
    """(images, labels) of `items` through the test-time transform, on the CPU
    (the relearning shots: a few per class)."""
    images, labels = [], []
    for batch in items_loader(trainer, items):
        images.append(batch["img"])
        labels.append(batch["label"])
    return torch.cat(images), torch.cat(labels)


class StreamedImages:
    """(images, labels) batches of `items` through the test-time transform,
    decoded batch by batch on every pass: peak memory does not grow with the
    domain (DomainNet sketch's test images would be about 12 GB at once)."""

    def __init__(self, trainer, items):
        self.trainer, self.items = trainer, items

    def __iter__(self):
        for batch in items_loader(self.trainer, self.items):
            yield batch["img"], batch["label"]


def with_string_keys(curve: dict) -> dict:
    return {str(k): v for k, v in curve.items()}


def plot(record: dict, path: str):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    chance = 100.0 / record["num_classes"]
    for name, style in (("unlearned", "o-"), ("zero_shot", "s--")):
        curve = record["probe"][name]
        left.plot([int(k) for k in curve], list(curve.values()), style, label=name)
    left.set_xscale("log", base=2)
    left.set_xlabel("labelled forget-domain images per class (k)")
    left.set_title("recovery by probing")
    for name, style in (("unlearned", "o-"), ("untrained", "s--")):
        curve = record["relearn"][name]
        right.plot([int(k) for k in curve], list(curve.values()), style, label=f"from {name}")
    right.set_xlabel(f"relearning steps ({record['relearn']['shots']} shots per class)")
    right.set_title("recovery by relearning")
    for ax in (left, right):
        ax.axhline(chance, color="grey", lw=0.8, ls=":", label="chance")
        ax.axhline(record["zero_shot_forget_accuracy"], color="k", lw=0.8, ls="-.",
                   label="zero-shot CLIP")
        ax.set_ylabel("forget-domain test accuracy (%)")
        ax.set_ylim(0, 100)
        ax.legend(fontsize=8)
    fig.suptitle(f"{record['method']} on {record['dataset']}, forget "
                 f"{','.join(record['forget_domains'])}, seed {record['seed']}")
    fig.tight_layout()
    save_figure(fig, path)


def probe_curves(trainer, shots, test, ks) -> tuple:
    """({"unlearned"/"zero_shot": {k: accuracy}}, the test encodings of both)."""
    zero_shot = zero_shot_outputs(trainer)
    feats = {"unlearned": (encode(trainer, shots), encode(trainer, test)),
             "zero_shot": (encode(trainer, shots, zero_shot), encode(trainer, test, zero_shot))}
    probe = {name: with_string_keys(probe_curve(tr.features, tr.label, te.features,
                                                te.label, ks))
             for name, (tr, te) in feats.items()}
    return probe, {name: te for name, (_, te) in feats.items()}


def relearn_curves(run, shots, test, args, lr, batch, seed) -> dict:
    """{"unlearned"/"untrained": {step: accuracy}}: the same relearning from the
    run's learner, then from its initial weights."""
    trainer = run.trainer
    images, labels = load_images(trainer, shots)
    keep = first_k_per_class(labels, args.relearn_shots)
    train_set, test_set = (images[keep], labels[keep]), StreamedImages(trainer, test)
    curves = {}
    for name in ("unlearned", "untrained"):
        if name == "untrained":
            for model_name, state in run.initial_state.items():
                trainer._models[model_name].load_state_dict(state)
        curves[name] = with_string_keys(relearn(
            trainer.model, train_set, test_set, args.steps, args.every, lr, batch,
            trainer.prec, trainer.device, seed))
    return curves


def measure(args) -> dict:
    """The record of robustness.json for parsed `args` (tools/robustness.py)."""
    run = load_run(args.run_dir, args.root, "cpu" if args.cpu else "")
    trainer, cfg = run.trainer, run.trainer.cfg
    dataset = trainer.dm.dataset
    seed = args.seed if args.seed >= 0 else max(cfg.SEED, 0)
    forget_ids = dataset.forget_domain_ids
    shots = sample_per_class(forget_items(train_pool(trainer), forget_ids),
                             max(args.shots + [args.relearn_shots]), seed)
    test = forget_items(dataset.test, forget_ids)
    per_class = torch.bincount(torch.tensor([it.label for it in shots]))
    available = int(per_class[per_class > 0].min())
    if available < max(args.shots):
        print(f"Note: the forget domains' training pool has only {available} images for "
              f"some class; k above {available} uses what there is.")

    probe, encoded = probe_curves(trainer, shots, test, args.shots)
    lr = args.lr or cfg.OPTIM.LR
    batch = cfg.DATALOADER.TRAIN_X.BATCH_SIZE
    curves = relearn_curves(run, shots, test, args, lr, batch, seed)

    pred_ok = lambda enc: 100.0 * (enc.pred == enc.label).double().mean().item()  # noqa: E731
    return {
        "run_dir": osp.abspath(args.run_dir),
        "dataset": cfg.DATASET.NAME, "method": run.results.get("method", cfg.TRAINER.NAME),
        "fingerprint": run.results.get("fingerprint"),
        "seed": cfg.SEED, "draw_seed": seed, "num_classes": dataset.num_classes,
        "forget_domains": list(dataset.forget_domains),
        "forget_test_images": len(test), "min_shots_available_per_class": available,
        "zero_shot_forget_accuracy": pred_ok(encoded["zero_shot"]),
        "run_forget_accuracy": pred_ok(encoded["unlearned"]),
        "probe": probe,
        "relearn": {"shots": args.relearn_shots, "steps": args.steps, "every": args.every,
                    "lr": lr, "batch_size": batch, **curves},
        "definitions": DEFINITIONS,
    }


def summary(record: dict) -> str:
    lines = [f"Recovery of the forget domains {record['forget_domains']} "
             f"(chance {100.0 / record['num_classes']:.1f}, zero-shot CLIP "
             f"{record['zero_shot_forget_accuracy']:.2f}, the run "
             f"{record['run_forget_accuracy']:.2f})",
             "probe, k shots/class: " + "  ".join(
                 f"k={k}: {record['probe']['unlearned'][k]:.2f} "
                 f"(zero-shot {record['probe']['zero_shot'][k]:.2f})"
                 for k in record["probe"]["unlearned"])]
    rl = record["relearn"]
    lines.append(f"relearning, {rl['shots']} shots/class: " + "  ".join(
        f"step {s}: {rl['unlearned'][s]:.2f} (untrained {rl['untrained'][s]:.2f})"
        for s in rl["unlearned"]))
    return "\n".join(lines)


def write_record(args, record: dict, seconds: float) -> dict:
    """robustness.json and robustness.png into args.out (default: the run
    folder), the summary printed; the record."""
    out = args.out or args.run_dir
    record["seconds"] = round(seconds, 1)
    write_json_atomic(osp.join(out, OUTPUT_FILE), record)
    plot(record, osp.join(out, "robustness.png"))
    print(summary(record))
    print(f"Written {osp.join(out, OUTPUT_FILE)} and robustness.png ({record['seconds']} s)")
    return record
