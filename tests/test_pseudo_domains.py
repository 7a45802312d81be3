"""Pseudo domain labels (trainers/modules/pseudo_domains.py) on synthetic features."""
import numpy as np
import pytest
import torch

from trainers.modules import pseudo_domains as pd
from trainers.modules.losses import domain_ce_loss

N_CLASSES, N_DOMAINS, PER_PAIR, DIM = 5, 4, 6, 32


def planted(class_weight=3.0, style_weight=1.0, noise=0.05, seed=0):
    """Embeddings = a strong class direction + a weaker domain direction +
    noise, the class directions being the text features: raw k-means would
    follow the class, the style features should follow the domain."""
    g = torch.Generator().manual_seed(seed)
    basis = torch.linalg.qr(torch.randn(DIM, DIM, generator=g))[0].T
    text = basis[:N_CLASSES]
    style = basis[N_CLASSES:N_CLASSES + N_DOMAINS]
    feats, domains = [], []
    for c in range(N_CLASSES):
        for d in range(N_DOMAINS):
            for _ in range(PER_PAIR):
                x = class_weight * text[c] + style_weight * style[d] \
                    + noise * torch.randn(DIM, generator=g)
                feats.append(x / x.norm())
                domains.append(d)
    return torch.stack(feats), text, domains


def test_planted_domains_are_recovered_and_named():
    feats, text, domains = planted()
    found = pd.infer_domains(feats, text, domains, N_DOMAINS, per_domain=1, seed=1)
    assert found.agreement["ari"] == pytest.approx(1.0)
    assert found.agreement["accuracy"] == 100.0
    assert list(found.labels) == domains
    assert np.allclose(found.soft.sum(1), 1.0)
    assert (found.soft.argmax(1) == found.labels).all()


def test_the_class_direction_must_be_removed_for_that():
    feats, text, domains = planted()
    assign, _ = pd.cluster(feats, N_DOMAINS, seed=1)  # raw features: clusters follow class
    assert pd.agreement(assign, domains)["ari"] < 0.3


def test_features_without_domain_structure_agree_little():
    _, text, domains = planted()
    noise = torch.nn.functional.normalize(torch.randn(len(domains), DIM,
                                                      generator=torch.Generator().manual_seed(3)))
    found = pd.infer_domains(noise, text, domains, N_DOMAINS, per_domain=1, seed=1)
    assert found.agreement["ari"] < 0.2


def test_the_labelled_images_decide_the_names_not_the_cluster_numbering():
    feats, text, domains = planted()
    style = pd.style_features(feats, text)
    assign, sq = pd.cluster(style, N_DOMAINS, seed=1)
    post = pd.posteriors(sq, 1.0)
    labelled = pd.choose_labelled(domains, 1, seed=1)
    names = pd.name_clusters(assign, post, labelled, domains, N_DOMAINS)[assign]
    perm = np.array([2, 0, 3, 1])
    renamed = pd.name_clusters(perm[assign], post[:, np.argsort(perm)], labelled, domains,
                               N_DOMAINS)[perm[assign]]
    assert (renamed == names).all()
    # Labelled images that say otherwise rename the clusters accordingly.
    swapped = [{0: 1, 1: 0}.get(d, d) for d in domains]
    names_swapped = pd.name_clusters(assign, post, labelled, swapped, N_DOMAINS)[assign]
    assert (names_swapped == np.array(swapped)).all()


def test_labelled_images_keep_their_true_label_and_the_draw_follows_the_seed():
    feats, text, domains = planted(noise=2.0)  # clusters that are partly wrong
    found = pd.infer_domains(feats, text, domains, N_DOMAINS, per_domain=3, seed=5)
    assert len(found.labelled) == 3 * N_DOMAINS
    for i in found.labelled:
        assert found.labels[i] == domains[i]
        assert found.soft[i, domains[i]] == 1.0
    again = pd.infer_domains(feats, text, domains, N_DOMAINS, per_domain=3, seed=5)
    assert (again.labels == found.labels).all() and again.labelled == found.labelled


def test_posteriors_sharpen_as_the_temperature_falls():
    sq = np.array([[1.0, 2.0, 4.0], [3.0, 1.0, 2.0]])
    warm, cold = pd.posteriors(sq, 10.0), pd.posteriors(sq, 0.1)
    assert np.allclose(warm.sum(1), 1) and np.allclose(cold.sum(1), 1)
    assert (warm.argmax(1) == sq.argmin(1)).all()
    assert cold.max(1).min() > 0.99 > warm.max(1).max()


def test_soft_domain_ce_equals_hard_ce_on_one_hot_targets():
    logits = torch.randn(6, N_DOMAINS)
    hard = torch.tensor([0, 1, 2, 3, 0, 1])
    one_hot = torch.nn.functional.one_hot(hard, N_DOMAINS).float()
    assert domain_ce_loss(domain_logits=logits, targets=one_hot).item() == pytest.approx(
        domain_ce_loss(domain_logits=logits, targets=hard).item(), rel=1e-6)


def test_many_classes_leave_a_style_subspace():
    text = torch.nn.functional.normalize(torch.randn(3 * DIM, DIM))
    feats = torch.nn.functional.normalize(torch.randn(10, DIM))
    style = pd.style_features(feats, text)
    assert torch.isfinite(style).all()
    assert torch.allclose(style.norm(dim=1), torch.ones(10), atol=1e-5)
