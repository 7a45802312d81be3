"""Unlearning metrics, docs/METHOD.md section 5 (all numbers in percent).

Mem = accuracy pooled over all test images of memorize domains.
For = 100 - accuracy pooled over all test images of forget domains.
H   = 2 * Mem * For / (Mem + For), computed per run.
"""
import numpy as np


def _as_array(x):
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def harmonic_mean(mem: float, forget: float) -> float:
    return 0.0 if mem + forget == 0 else 2.0 * mem * forget / (mem + forget)


def pooled_accuracy(correct, domains, domain_ids) -> float:
    """Accuracy (%) over every sample whose domain is in `domain_ids`."""
    correct, domains = _as_array(correct).astype(bool), _as_array(domains)
    mask = np.isin(domains, list(domain_ids))
    if not mask.any():
        raise ValueError(f"No test sample belongs to the domains {list(domain_ids)}")
    return 100.0 * correct[mask].mean()


def unlearning_scores(predictions, labels, domains, domain_names, forget_ids,
                      domain_predictions=None) -> dict:
    """The run's scores: per-domain accuracy, Mem, For, H, domain accuracy.

    predictions / labels / domains: one entry per test image; domain_names:
    every domain of the dataset, indexed by the domain label; forget_ids:
    the forgotten domain labels. domain_predictions (optional): the domain
    classifier's predictions, scored against `domains`.
    """
    predictions, labels = _as_array(predictions), _as_array(labels)
    domains = _as_array(domains)
    if not (len(predictions) == len(labels) == len(domains)):
        raise ValueError("predictions, labels and domains differ in length")
    forget_ids = sorted(int(d) for d in forget_ids)
    memorize_ids = [d for d in range(len(domain_names)) if d not in forget_ids]
    correct = predictions == labels

    per_domain = {}
    for d, name in enumerate(domain_names):
        mask = domains == d
        per_domain[name] = {
            "accuracy": 100.0 * correct[mask].mean() if mask.any() else None,
            "num_images": int(mask.sum()),
            "forget": d in forget_ids,
        }
    mem = pooled_accuracy(correct, domains, memorize_ids)
    forget = 100.0 - pooled_accuracy(correct, domains, forget_ids)
    scores = {
        "per_domain": per_domain,
        "mem": mem,
        "for": forget,
        "h": harmonic_mean(mem, forget),
        "domain_accuracy": None,
    }
    if domain_predictions is not None:
        scores["domain_accuracy"] = 100.0 * float(
            (_as_array(domain_predictions) == domains).mean())
    return scores


def format_scores(scores: dict, title: str = "") -> str:
    """A small text table: one row per domain, then Mem / For / H."""
    lines = [title] if title else []
    lines.append(f"{'domain':<16}{'role':<10}{'images':>8}{'acc':>9}")
    for name, row in scores["per_domain"].items():
        acc = "-" if row["accuracy"] is None else f"{row['accuracy']:.2f}"
        role = "forget" if row["forget"] else "memorize"
        lines.append(f"{name:<16}{role:<10}{row['num_images']:>8}{acc:>9}")
    lines.append(f"Mem {scores['mem']:.2f}  For {scores['for']:.2f}  H {scores['h']:.2f}")
    for key, label in (("domain_accuracy", "domain classifier accuracy"),
                       ("domain_probe_accuracy", "domain linear-probe accuracy"),
                       ("forget_class_probe_accuracy", "forget-domain class linear-probe accuracy")):
        if scores.get(key) is not None:
            probe = key[:-len("_accuracy")]
            unconverged = (f" (not converged in {scores[probe + '_iterations']} iterations)"
                           if scores.get(probe + "_converged") is False else "")
            lines.append(f"{label} {scores[key]:.2f}{unconverged}")
    return "\n".join(lines)
