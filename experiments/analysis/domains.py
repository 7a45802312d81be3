"""What domains.json of tools/analyze.py holds: how well the domains can be
told apart from a run's embeddings, and each domain's class accuracy,
zero-shot CLIP beside the run."""
from trainers.modules.probes import probe_accuracy

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
