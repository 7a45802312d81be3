"""`tools/export.py --verify`: the written files against the project's model
on the run's own test split.

The project's logits come from the trainer's `evaluation_outputs` on Dassl's
test loader (normalised images), the exported files' from the same images as
tools/predict.py reads them ([0, 1], normalised inside): the report gives the
largest logit difference of each pair, whether every prediction agrees, and
whether the files' per-domain accuracy is results.json's.
"""
import torch

from trainers.modules.metrics import unlearning_scores

from .predictor import image_transform, onnx_predictor, pt2_predictor, read_image


@torch.no_grad()
def project_logits(trainer) -> torch.Tensor:
    chunks = []
    for batch in trainer.test_loader:
        images, _ = trainer.parse_batch_test(batch)
        chunks.append(trainer.evaluation_outputs(images)["logits"].float().cpu())
    return torch.cat(chunks)


def test_pixels(trainer, metadata) -> torch.Tensor:
    """The test images in loader order, [N, 3, H, W] in [0, 1], as predict reads them."""
    transform = image_transform(metadata)
    return torch.stack([read_image(item.impath, transform) for item in trainer.dm.dataset.test])


def batched(logits_fn, pixels, batch_size=200):
    return torch.cat([logits_fn(pixels[i:i + batch_size])
                      for i in range(0, len(pixels), batch_size)])


def verify_export(run, written: dict) -> dict:
    """{"max_abs_logit_diff": {pair: value}, "same_predictions": {file: bool},
    "per_domain_accuracy_reproduced": {file: bool}} on the run's test split."""
    trainer = run.trainer
    dataset = trainer.dm.dataset
    logits = {"project": project_logits(trainer)}
    for path, meta in written.items():
        load = pt2_predictor if meta["format"] == "torch.export" else onnx_predictor
        logits[meta["format"]] = batched(load(path, meta).logits,
                                         test_pixels(trainer, meta))
    labels = torch.tensor([item.label for item in dataset.test])
    domains = torch.tensor([item.domain for item in dataset.test])
    recorded = {d: row["accuracy"] for d, row in run.results["per_domain"].items()}
    report = {"test_images": len(labels), "max_abs_logit_diff": {},
              "same_predictions": {}, "per_domain_accuracy_reproduced": {}}
    names = list(logits)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            report["max_abs_logit_diff"][f"{b} vs {a}"] = (logits[a] - logits[b]).abs().max().item()
    for name in names[1:]:
        pred = logits[name].argmax(-1)
        report["same_predictions"][name] = bool(torch.equal(pred, logits["project"].argmax(-1)))
        scores = unlearning_scores(pred, labels, domains, dataset.domains,
                                   dataset.forget_domain_ids)
        report["per_domain_accuracy_reproduced"][name] = {
            d: row["accuracy"] for d, row in scores["per_domain"].items()} == recorded
    return report
