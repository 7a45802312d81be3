"""Domain-aware evaluation for any Dassl trainer on an ADU dataset.

Dassl's `SimpleTrainer.test` pools every test image into one accuracy; ADU
needs the accuracy per domain and Mem / For / H (modules/metrics.py). `domain_test`
replaces a trainer's `test` with that, using only what every Dassl trainer
has (`test_loader`, `parse_batch_test`, `model_inference`), so trainers
copied unchanged from CoOp or MaPLe are scored the same way as ADU.

A trainer may add `evaluation_outputs(input) -> dict` with "logits" and,
optionally, "domain_logits" (its domain classifier is then scored) and
"features" (L2-normalised image embeddings: the linear probes of modules/probes.py
then run, unless TEST.LINEAR_PROBES is False).

The record names what it was computed from (`provenance`, run/provenance.py):
the weights scored, the backbone, the test split. A training run writes
results.json; `train.py --eval-only` writes its own record beside it
(`results_eval_epoch<E>.json`), never results.json.
"""
import hashlib
import json
import os.path as osp
import types

import torch
from dassl.data.data_manager import build_data_loader
from dassl.data.transforms import build_transform

from user_errors import ConfigError

from ..modules.metrics import format_scores, unlearning_scores
from ..modules.probes import probe_scores
from ..run.checkpoint_digest import recorded_digest
from ..run.files import atomic_write
from .progress import EvaluationProgress
from ..run.fingerprint import current_backbone_sha256, results_fields
from ..run.provenance import eval_record_name, file_sha256, seal, test_split_digest
from .test_images import RGBDatasetWrapper, UnreadableTally, test_loader

RESULTS_FILE = "results.json"


def is_adu_dataset(dataset) -> bool:
    return hasattr(dataset, "forget_domain_ids") and hasattr(dataset, "domains")


def evaluation_outputs(trainer, inputs) -> dict:
    if hasattr(trainer, "evaluation_outputs"):
        return trainer.evaluation_outputs(inputs)
    return {"logits": trainer.model_inference(inputs)}


@torch.no_grad()
def collect_outputs(trainer, data_loader, tally: UnreadableTally = None,
                    what: str = "test") -> dict:
    """Per test image: prediction, label, domain (+ domain prediction, features);
    with `tally`, the images it finds unreadable are left out (or stop the run).
    A long pass says how far it is (progress.py)."""
    out = {"pred": [], "label": [], "domain": [], "domain_pred": [], "features": []}
    progress = EvaluationProgress(what, len(data_loader.dataset))
    for batch in data_loader:
        progress.update(len(batch["label"]))
        keep = tally.readable(batch) if tally is not None else slice(None)
        inputs, label = trainer.parse_batch_test(batch)
        res = evaluation_outputs(trainer, inputs)
        out["pred"].append(res["logits"].argmax(dim=-1).cpu()[keep])
        out["label"].append(label.cpu()[keep])
        out["domain"].append(batch["domain"].cpu()[keep])
        if res.get("domain_logits") is not None:
            out["domain_pred"].append(res["domain_logits"].argmax(dim=-1).cpu()[keep])
        if res.get("features") is not None:
            out["features"].append(res["features"].float().cpu()[keep])
    return {k: torch.cat(v) if v else None for k, v in out.items()}


def skipped_line(skipped: dict) -> str:
    """The final table's line on test images skipped as unreadable ("" for none)."""
    if not any(skipped.values()):
        return ""
    return ("skipped unreadable test images: "
            + ", ".join(f"{d} {n}" for d, n in skipped.items() if n))


def shots_loader(trainer):
    """The training shots with the test-time transform, for the probes."""
    cfg = trainer.cfg
    return build_data_loader(
        cfg, sampler_type="SequentialSampler", data_source=trainer.dm.dataset.train_x,
        batch_size=cfg.DATALOADER.TEST.BATCH_SIZE, tfm=build_transform(cfg, is_train=False),
        is_train=False, dataset_wrapper=RGBDatasetWrapper)


def evaluated_epoch(trainer) -> int:
    """Epochs behind the evaluated weights: the checkpoint loaded (--eval-only)
    or, after training, the last epoch trained. A run resumed after its last
    epoch (killed before its results were written) trains no epoch, and Dassl's
    loop leaves `epoch` at 0: its weights are those of the epoch it resumed at."""
    loaded = getattr(trainer, "loaded_epoch", None)
    if loaded is not None:
        return loaded
    return max(getattr(trainer, "epoch", 0) + 1, getattr(trainer, "start_epoch", 0))


def method_name(cfg) -> str:
    """The method's name in results.json and the tables: TEST.METHOD_TAG or
    the trainer's name, with "-pseudo" / "-soft" when the training domains
    were inferred (DATASET.DOMAIN_LABELS), so that those runs never fall
    into the cells of the given-label ones."""
    name = cfg.TEST.METHOD_TAG or cfg.TRAINER.NAME
    labels = cfg.DATASET.get("DOMAIN_LABELS", "given")
    return name if labels == "given" else f"{name}-{labels}"


def run_record(trainer, scores: dict) -> dict:
    """What results.json holds: the run's identity and its scores."""
    cfg, dataset = trainer.cfg, trainer.dm.dataset
    return {
        "dataset": cfg.DATASET.NAME,
        "trainer": cfg.TRAINER.NAME,
        "method": method_name(cfg),
        "backbone": cfg.MODEL.BACKBONE.NAME,
        "seed": cfg.SEED,
        "num_shots": cfg.DATASET.NUM_SHOTS,
        "domains": list(dataset.domains),
        "forget_domains": [dataset.domains[i] for i in dataset.forget_domain_ids],
        "memorize_domains": [dataset.domains[i] for i in dataset.memorize_domain_ids],
        "epoch": evaluated_epoch(trainer),
        "max_epoch": cfg.OPTIM.MAX_EPOCH,
        **scores,
        # Only when a resume changed DATALOADER.NUM_WORKERS (run/checkpoint.py).
        **({"loader_workers": trainer.loader_workers}
           if len(getattr(trainer, "loader_workers", None) or []) > 1 else {}),
        # Only with DATASET.DOMAIN_LABELS pseudo/soft, so that a given-label
        # run's record is what it was before the option existed.
        **({"pseudo_domains": trainer.pseudo_domain_record}
           if getattr(trainer, "pseudo_domain_record", None) else {}),
        **results_fields(cfg),
    }


def state_sha256(module) -> str:
    """sha256 of a module's state (names, dtypes, shapes and bytes of its tensors)."""
    h = hashlib.sha256()
    for key, value in sorted(module.state_dict().items()):
        h.update(f"{key}\t{value.dtype}\t{tuple(value.shape)}\n".encode())
        h.update(value.detach().cpu().contiguous().reshape(-1).view(torch.uint8)
                 .numpy().tobytes())
    return h.hexdigest()


def scored_file(trainer, name: str, epoch):
    """The checkpoint file model `name`'s scored weights came from: the one
    --eval-only loaded, else the run's own checkpoint of that epoch (None
    when none was saved, e.g. a zero-shot run)."""
    loaded = (getattr(trainer, "loaded_checkpoints", None) or {}).get(name)
    if loaded:
        return loaded
    path = osp.join(trainer.output_dir, name, f"model.pth.tar-{epoch}")
    return path if osp.isfile(path) else None


def weights_record(trainer, epoch) -> dict:
    """What results.json records of the weights it scored (provenance.py)."""
    source = getattr(trainer, "weights_source", None) or {}
    models = {}
    for name in trainer.get_model_names():
        path = scored_file(trainer, name, epoch)
        models[name] = {
            "state_sha256": state_sha256(trainer._models[name]),
            "file": None if path is None else (
                osp.relpath(path, trainer.output_dir)
                if osp.abspath(path).startswith(osp.abspath(trainer.output_dir) + "/")
                else osp.abspath(path)),
            "file_sha256": None if path is None else (recorded_digest(path)
                                                      or file_sha256(path)),
        }
    return {"epoch": epoch,
            "run_fingerprint": source.get("fingerprint",
                                          results_fields(trainer.cfg)["fingerprint"]),
            "models": models}


def backbone_record(cfg) -> dict:
    """The backbone's name and the sha256 of its local file(s); for an OpenAI
    model name, the sha256 its download is checked against by clip.load."""
    from ..modules.clip_loading import clip
    name = cfg.MODEL.BACKBONE.NAME
    record = {"name": name, "sha256": current_backbone_sha256(cfg)}
    url = clip.clip._MODELS.get(name)
    if url is not None:
        record["download_sha256"] = url.split("/")[-2]
    return record


def provenance(trainer, items, epoch) -> dict:
    source = getattr(trainer, "weights_source", None) or {}
    return {"kind": source.get("kind", "training"),
            "weights": weights_record(trainer, epoch),
            "backbone": backbone_record(trainer.cfg),
            "test_split": test_split_digest(items, trainer.cfg.DATASET.ROOT),
            **({"model_dir": source["model_dir"]} if "model_dir" in source else {})}


def record_file(trainer, epoch) -> str:
    """results.json for a training run; an evaluation's own file for --eval-only."""
    source = getattr(trainer, "weights_source", None)
    if not source:
        return RESULTS_FILE
    return eval_record_name(epoch, source.get("kind") == "cross-evaluation")


def domain_test(trainer, split=None):
    """Score the test split per domain, print the table, write results.json.

    Returns H, the number the trainer's loop tracks as "the" result. The ADU
    datasets have no validation split: asked for one (Dassl's best_val model
    selection, TEST.SPLIT val), it refuses instead of scoring the test split.
    """
    split = split or trainer.cfg.TEST.SPLIT
    if split != "test":
        raise ConfigError(
            f"the ADU datasets have no '{split}' split to score, only 'test' (model "
            "selection on it would select on the test split): use TEST.SPLIT test and "
            "TEST.FINAL_MODEL last_step")
    trainer.set_model_mode("eval")
    dataset = trainer.dm.dataset
    print("Evaluate on the *test* set, per domain")
    tally = UnreadableTally(dataset.domains, trainer.cfg.DATASET.get("SKIP_UNREADABLE", False))
    # The items of the trainer's test loader, read through ReadSafeWrapper.
    items = getattr(trainer.test_loader.dataset, "data_source", dataset.test)
    test = collect_outputs(trainer, test_loader(trainer.cfg, items), tally)
    skipped = {d: n + tally.counts[d] for d, n in
               getattr(dataset, "skipped_test_images", dict.fromkeys(dataset.domains, 0)).items()}
    scores = unlearning_scores(test["pred"], test["label"], test["domain"], dataset.domains,
                               dataset.forget_domain_ids, test["domain_pred"])
    if test["features"] is not None and trainer.cfg.TEST.LINEAR_PROBES:
        shots = collect_outputs(trainer, shots_loader(trainer),
                                what="training shots for the probes")
        scores.update(probe_scores(
            (shots["features"], shots["label"], shots["domain"]),
            (test["features"], test["label"], test["domain"]), dataset.forget_domain_ids,
            trainer.device))
    record = run_record(trainer, scores)
    record["skipped_test_images"] = skipped
    record["provenance"] = provenance(trainer, items, record["epoch"])
    record = seal(record)
    print(format_scores(scores, title=f"=> {record['method']} on {record['dataset']}, "
                                      f"forget {record['forget_domains']}"))
    if skipped_line(skipped):
        print(skipped_line(skipped))
    path = osp.join(trainer.output_dir, record_file(trainer, record["epoch"]))
    with atomic_write(path) as f:  # the sweep scripts skip a run by this file: never half of it
        json.dump(record, f, indent=2)
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
