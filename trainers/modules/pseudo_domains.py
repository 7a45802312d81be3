"""Pseudo domain labels for training images whose domain is not given.

ADU needs the domain of every training image (docs/METHOD.md, limits). When
only a few images per domain carry one, the domains are inferred from the
frozen zero-shot CLIP:

1. style features: each L2-normalised image embedding minus its projection
   on the span of the class text features, normalised again, so that what
   is left follows the image's style more than its class;
2. k-means (scikit-learn, seeded) into as many clusters as there are domains;
3. names: `per_domain` images of each domain keep their true label, and the
   clusters are matched to domain names by the assignment (scipy's
   linear_sum_assignment) that puts the most labelled images in the cluster
   of their own domain; those labelled images keep their true label.

The soft variant gives each image a posterior over the named clusters,

    p(d | x) = softmax_d( -||s(x) - c_d||^2 / (T * m) ),

with c_d the centre matched to domain d, T the temperature
(DATASET.SOFT_TEMPERATURE) and m the mean squared distance of the images to
their own centre (the k-means inertia per image), so T does not depend on
the feature scale: at T = 1 an image at a typical distance from its centre
and twice that from another gets about e^-1 of the weight there.

Plain PyTorch, NumPy, scikit-learn and SciPy; no Dassl.
"""
import random
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score


def style_features(image_features: torch.Tensor, text_features: torch.Tensor) -> torch.Tensor:
    """Image embeddings [N, D] with the class-text span removed, L2-normalised.

    With as many classes as half the embedding width or more the span would
    swallow (almost) everything; only its leading D // 2 singular directions
    are then removed, so that a style subspace is left to cluster in.
    """
    feats = image_features.double()
    _, sing, vh = torch.linalg.svd(text_features.double(), full_matrices=False)
    rank = int((sing > sing.max() * 1e-6).sum())
    basis = vh[:min(rank, feats.shape[1] // 2)]          # [r, D], orthonormal rows
    residual = feats - feats @ basis.T @ basis
    norms = residual.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return (residual / norms).float()


def cluster(features: torch.Tensor, k: int, seed: int):
    """(cluster id [N], squared distance to every centre [N, k]) of seeded k-means."""
    x = features.double().numpy()
    km = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(x)
    sq = ((x[:, None, :] - km.cluster_centers_[None]) ** 2).sum(-1)
    return sq.argmin(1), sq


def posteriors(sq_dists: np.ndarray, temperature: float) -> np.ndarray:
    """p(cluster | x) [N, k]: softmax of -d^2 / (T * mean own-centre d^2)."""
    scale = temperature * sq_dists.min(1).mean()
    if scale <= 0:  # every image on its centre: the hard assignment
        return np.eye(sq_dists.shape[1])[sq_dists.argmin(1)]
    logits = -sq_dists / scale
    logits -= logits.max(1, keepdims=True)
    p = np.exp(logits)
    return p / p.sum(1, keepdims=True)


def choose_labelled(domains, per_domain: int, seed: int) -> list:
    """Indices of `per_domain` images of each domain, drawn with `seed`."""
    rng = random.Random(seed)
    chosen = []
    for d in sorted(set(domains)):
        members = [i for i, dom in enumerate(domains) if dom == d]
        chosen += sorted(rng.sample(members, per_domain))
    return chosen


def name_clusters(assign, post, labelled, true_domains, k: int) -> np.ndarray:
    """domain_of[cluster]: the matching of clusters to domain names that
    puts the most labelled images in their own domain's cluster. Ties in
    counts are broken by the labelled images' posteriors, so the names do
    not depend on the arbitrary numbering of the clusters."""
    score = np.zeros((k, k))
    for i in labelled:
        score[assign[i], true_domains[i]] += 1.0
        score[:, true_domains[i]] += 1e-3 * post[i]
    rows, cols = linear_sum_assignment(score, maximize=True)
    domain_of = np.empty(k, dtype=int)
    domain_of[rows] = cols
    return domain_of


def agreement(pseudo, true) -> dict:
    """How well pseudo labels match the true domains: adjusted Rand index,
    accuracy of the names as given, and accuracy under the best matching of
    names (which only a full labelling could find; it bounds the naming)."""
    pseudo, true = np.asarray(pseudo), np.asarray(true)
    k = int(max(pseudo.max(), true.max())) + 1
    confusion = np.zeros((k, k))
    np.add.at(confusion, (pseudo, true), 1)
    rows, cols = linear_sum_assignment(confusion, maximize=True)
    return {"ari": float(adjusted_rand_score(true, pseudo)),
            "accuracy": float(100.0 * (pseudo == true).mean()),
            "best_match_accuracy": float(100.0 * confusion[rows, cols].sum() / len(true))}


@dataclass
class PseudoDomains:
    labels: np.ndarray        # [N] domain index of each image (hard)
    soft: np.ndarray          # [N, num_domains] posterior over domain names
    labelled: list            # indices of the images that kept their true label
    agreement: dict           # agreement(labels, true domains)


def infer_domains(image_features: torch.Tensor, text_features: torch.Tensor,
                  true_domains, num_domains: int, per_domain: int, seed: int,
                  temperature: float = 1.0) -> PseudoDomains:
    """Pseudo domain labels of N images from their frozen CLIP embeddings.

    `true_domains` [N] is read only at the `per_domain` labelled images per
    domain (chosen with `seed`) and to measure the agreement.
    """
    true_domains = [int(d) for d in true_domains]
    style = style_features(image_features, text_features)
    assign, sq = cluster(style, num_domains, seed)
    post = posteriors(sq, temperature)
    labelled = choose_labelled(true_domains, per_domain, seed)
    domain_of = name_clusters(assign, post, labelled, true_domains, num_domains)
    labels = domain_of[assign]
    soft = np.zeros_like(post)
    soft[:, domain_of] = post
    for i in labelled:
        labels[i] = true_domains[i]
        soft[i] = np.eye(num_domains)[true_domains[i]]
    return PseudoDomains(labels, soft, labelled, agreement(labels, true_domains))
