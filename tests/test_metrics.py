"""Mem / For / H arithmetic on a hand-made prediction table."""
import pytest

from trainers.modules.metrics import format_scores, harmonic_mean, unlearning_scores

DOMAINS = ["art", "clipart", "product", "real_world"]


def table():
    # (domain, label, prediction): per domain, the number of right answers is
    # art 1/4, clipart 3/4, product 2/2, real_world 1/2.
    rows = [
        (0, 0, 0), (0, 1, 2), (0, 2, 0), (0, 3, 1),
        (1, 0, 0), (1, 1, 1), (1, 2, 2), (1, 3, 0),
        (2, 0, 0), (2, 1, 1),
        (3, 0, 0), (3, 1, 0),
    ]
    domains, labels, preds = zip(*rows)
    return list(preds), list(labels), list(domains)


def test_scores_for_one_forgotten_domain():
    s = unlearning_scores(*table(), DOMAINS, forget_ids=[0])
    assert s["per_domain"]["art"]["accuracy"] == pytest.approx(25.0)
    assert s["per_domain"]["clipart"]["accuracy"] == pytest.approx(75.0)
    assert s["per_domain"]["product"]["accuracy"] == pytest.approx(100.0)
    assert s["per_domain"]["real_world"]["accuracy"] == pytest.approx(50.0)
    # Mem pools images (6 of 8 right), it does not average domain accuracies
    assert s["mem"] == pytest.approx(75.0)
    assert s["for"] == pytest.approx(75.0)
    assert s["h"] == pytest.approx(75.0)
    assert s["per_domain"]["art"]["forget"] and not s["per_domain"]["product"]["forget"]
    assert s["per_domain"]["art"]["num_images"] == 4


def test_scores_for_two_forgotten_domains():
    s = unlearning_scores(*table(), DOMAINS, forget_ids=[0, 3])
    mem = 100 * 5 / 6                  # clipart 3/4 + product 2/2
    forget = 100 - 100 * 2 / 6         # art 1/4 + real_world 1/2 right
    assert s["mem"] == pytest.approx(mem)
    assert s["for"] == pytest.approx(forget)
    assert s["h"] == pytest.approx(2 * mem * forget / (mem + forget))


def test_harmonic_mean_edges():
    assert harmonic_mean(0.0, 0.0) == 0.0
    assert harmonic_mean(100.0, 0.0) == 0.0
    assert harmonic_mean(80.0, 60.0) == pytest.approx(2 * 80 * 60 / 140)


def test_domain_classifier_accuracy():
    preds, labels, domains = table()
    domain_preds = list(domains)
    domain_preds[0] = 3
    domain_preds[5] = 0
    s = unlearning_scores(preds, labels, domains, DOMAINS, [1], domain_predictions=domain_preds)
    assert s["domain_accuracy"] == pytest.approx(100 * 10 / 12)


def test_missing_domain_in_the_test_split_is_an_error():
    preds, labels, domains = table()
    with pytest.raises(ValueError, match="No test sample"):
        unlearning_scores(preds[:4], labels[:4], domains[:4], DOMAINS, [1])


def test_table_lists_every_domain():
    text = format_scores(unlearning_scores(*table(), DOMAINS, forget_ids=[0]))
    for name in DOMAINS:
        assert name in text
    assert "Mem 75.00  For 75.00  H 75.00" in text
