"""Domain-aware evaluation for any Dassl trainer on an ADU dataset.

Dassl's `SimpleTrainer.test` pools every test image into one accuracy; ADU
needs the accuracy per domain and Mem / For / H (metrics.py). `domain_test`
replaces a trainer's `test` with that, using only what every Dassl trainer
has (`test_loader`, `parse_batch_test`, `model_inference`), so trainers
copied unchanged from CoOp or MaPLe are scored the same way as ADU. A
trainer may add `inference_with_domain(input) -> (logits, domain_logits)` to
have its domain classifier scored too.
"""
import json
import os
import os.path as osp
import types

import torch

from .metrics import format_scores, unlearning_scores

RESULTS_FILE = "results.json"


def is_adu_dataset(dataset) -> bool:
    return hasattr(dataset, "forget_domain_ids") and hasattr(dataset, "domains")


def write_json_atomic(path: str, obj) -> None:
    """Write JSON so that a reader never sees a half-written file."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


@torch.no_grad()
def collect_predictions(trainer, data_loader):
    """Class predictions, labels, domains (and domain predictions) of a split."""
    infer = getattr(trainer, "inference_with_domain", None)
    preds, labels, domains, domain_preds = [], [], [], []
    for batch in data_loader:
        inputs, label = trainer.parse_batch_test(batch)
        if infer is not None:
            logits, domain_logits = infer(inputs)
        else:
            logits, domain_logits = trainer.model_inference(inputs), None
        preds.append(logits.argmax(dim=-1).cpu())
        labels.append(label.cpu())
        domains.append(batch["domain"].cpu())
        if domain_logits is not None:
            domain_preds.append(domain_logits.argmax(dim=-1).cpu())
    cat = torch.cat
    return (cat(preds), cat(labels), cat(domains),
            cat(domain_preds) if domain_preds else None)


def run_record(trainer, scores: dict) -> dict:
    """What results.json holds: the run's identity and its scores."""
    cfg, dataset = trainer.cfg, trainer.dm.dataset
    return {
        "dataset": cfg.DATASET.NAME,
        "trainer": cfg.TRAINER.NAME,
        "method": cfg.TEST.METHOD_TAG or cfg.TRAINER.NAME,
        "backbone": cfg.MODEL.BACKBONE.NAME,
        "seed": cfg.SEED,
        "num_shots": cfg.DATASET.NUM_SHOTS,
        "domains": list(dataset.domains),
        "forget_domains": [dataset.domains[i] for i in dataset.forget_domain_ids],
        "memorize_domains": [dataset.domains[i] for i in dataset.memorize_domain_ids],
        "epoch": getattr(trainer, "epoch", 0) + 1,
        "max_epoch": cfg.OPTIM.MAX_EPOCH,
        **scores,
    }


def domain_test(trainer, split=None):
    """Score the test split per domain, print the table, write results.json.

    Returns H, the number the trainer's loop tracks as "the" result.
    """
    trainer.set_model_mode("eval")
    dataset = trainer.dm.dataset
    print("Evaluate on the *test* set, per domain")
    preds, labels, domains, domain_preds = collect_predictions(trainer, trainer.test_loader)
    scores = unlearning_scores(preds, labels, domains, dataset.domains,
                               dataset.forget_domain_ids, domain_preds)
    record = run_record(trainer, scores)
    print(format_scores(scores, title=f"=> {record['method']} on {record['dataset']}, "
                                      f"forget {record['forget_domains']}"))
    path = osp.join(trainer.output_dir, RESULTS_FILE)
    write_json_atomic(path, record)
    print(f"Results written to {path}")
    for key in ("mem", "for", "h"):
        trainer.write_scalar(f"test/{key}", scores[key], getattr(trainer, "epoch", 0))
    return scores["h"]


def install_domain_test(trainer) -> bool:
    """Make `trainer.test` the domain-aware test when its dataset is an ADU one."""
    if not is_adu_dataset(trainer.dm.dataset):
        return False
    trainer.test = types.MethodType(domain_test, trainer)
    return True
