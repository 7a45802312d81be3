"""What tools/analyze.py does with a finished run: domains.json (printed),
tsne.png and attention.png, zero-shot CLIP beside the run."""
import os
import os.path as osp

import torch

from experiments.analysis.attention import attention_figure, attention_maps, pick_images
from experiments.analysis.domains import OUTPUT_FILE, domain_record, format_record
from experiments.analysis.figures import tsne_figure
from experiments.analysis.finished_run import (encode, items_loader, load_run,
                                               zero_shot_outputs)
from trainers.run.files import write_json_atomic


def analyze(args) -> dict:
    """Writes the three files into args.out (default: the run folder); the record."""
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


def report_written(args, record: dict, seconds: float) -> dict:
    print(f"Written {OUTPUT_FILE}, tsne.png and attention.png to {args.out or args.run_dir} "
          f"({seconds:.1f} s)")
    return record
