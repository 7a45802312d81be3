"""ADU losses, docs/METHOD.md section 3: L = L_memorize + L_forget + L_domain,

    L_domain = gamma * L_CE - lambda * MMD^2   (the Domain Disentangling Loss).

The comparison methods (section 8) are trained with L_memorize + L_forget
alone (`memorize_forget_losses`), the same two terms ADU uses.

Every loss takes keyword arguments only, so that two tensors cannot be
swapped unseen. Each works on whole batches with masks and matrix products
(no Python loop over samples or domain pairs), and returns a zero that keeps
the graph when a batch holds no sample of the kind it needs. Settings are
checked once, when the trainer is built (trainers/config_checks.py), never
here. The release's variants (its forget loss and MMD kernel) are in
release.py; `ADUObjective` carries the functions a run uses.
"""
import functools
from dataclasses import dataclass
from typing import Callable, Union

import torch
import torch.nn.functional as F


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of `values` where `mask` is True; 0 (with graph) if none is."""
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp(min=1.0)


def memorize_loss(*, logits, labels, forget_mask):
    """L_memorize: cross-entropy on the memorize-domain samples."""
    ce = F.cross_entropy(logits.float(), labels, reduction="none")
    return masked_mean(ce, ~forget_mask)


def forget_loss(*, logits, forget_mask):
    """L_forget: cross-entropy to the uniform distribution on the
    forget-domain samples, -(1/|C|) sum_c log p_c (minimal at the uniform
    prediction)."""
    log_p = F.log_softmax(logits.float(), dim=-1)
    return masked_mean(-log_p.mean(dim=-1), forget_mask)


def memorize_forget_losses(*, logits, labels, forget_mask, forget=forget_loss) -> dict:
    """L_memorize, L_forget and their sum ("total"), the shared part of every
    objective; `forget` is the L_forget function (a release variant may replace it)."""
    terms = {
        "memorize": memorize_loss(logits=logits, labels=labels, forget_mask=forget_mask),
        "forget": forget(logits=logits, forget_mask=forget_mask),
    }
    terms["total"] = terms["memorize"] + terms["forget"]
    return terms


def domain_ce_loss(*, domain_logits, targets):
    """L_CE of the domain classifier over all samples of the batch. `targets`
    is a domain label per sample [B], or a distribution over domains per
    sample [B, num_domains] (soft pseudo labels): -sum_d q_d log p_d, averaged."""
    return F.cross_entropy(domain_logits.float(), targets)


def squared_distances(x: torch.Tensor) -> torch.Tensor:
    """Pairwise squared Euclidean distances [B, B], clamped at 0."""
    sq = (x * x).sum(dim=-1)
    return torch.addmm(sq[:, None] + sq[None, :], x, x.t(), alpha=-2.0).clamp(min=0.0)


@functools.lru_cache(maxsize=16)
def upper_pairs(n: int, device) -> torch.Tensor:
    """The (row, col) indices of the strict upper triangle of an n x n matrix,
    built once per batch size and device rather than every step."""
    return torch.triu_indices(n, n, offset=1, device=device)


def median_bandwidth(sq_dists: torch.Tensor) -> torch.Tensor:
    """Median heuristic: the median squared distance over distinct pairs.

    Taken without gradient, so the bandwidth is a constant of the step.
    """
    with torch.no_grad():
        n = sq_dists.shape[0]
        if n < 2:
            return torch.ones((), device=sq_dists.device, dtype=sq_dists.dtype)
        # Each distinct pair once (the upper triangle): the same median as
        # over both triangles, at half the size and without a boolean mask.
        rows, cols = upper_pairs(n, sq_dists.device)
        return sq_dists[rows, cols].median().clamp(min=1e-6)


def mmd2(*, features, domains, bandwidth: Union[str, float] = "median") -> torch.Tensor:
    """Squared MMD averaged over every pair of domains present in the batch,

        MMD^2 = 2 / (|D|(|D|-1)) * sum_{d<d'} ||mu_d - mu_d'||^2_H

    with the Gaussian kernel k(x, y) = exp(-||x - y||^2 / h), h the median
    heuristic ("median") or the given positive number, and mu_d the kernel
    mean embedding of domain d's samples (the biased, V-statistic estimate).

    All pairs come from one kernel matrix K: G = W^T K W with W the
    column-normalised one-hot domain matrix gives the inner products
    <mu_d, mu_d'>, so ||mu_d - mu_d'||^2 = G_dd + G_d'd' - 2 G_dd'. Summed
    over the pairs d < d' of the n present domains this is
    n tr(G) - 1^T G 1 = sum_ij K_ij M_ij with M = (n S - 1) * w w^T, where
    S_ij = [d_i = d_j] and w_i = 1 / |B_{d_i}|: one weighted sum of K, whose
    weights need no gradient (the pair matrix and its indexing cost more
    than the kernel at batch 128). Returns 0 (with graph) when fewer than
    two domains are present.
    """
    sq = squared_distances(features.to(torch.promote_types(features.dtype, torch.float32)))
    h = median_bandwidth(sq) if bandwidth == "median" else bandwidth
    kernel = torch.exp(sq * (-1.0 / h))
    with torch.no_grad():
        # No torch.unique and no branch on the domain count: both would stop
        # a GPU's queue every step. Each domain's samples sum 1/|B_d| to one,
        # so the count of present domains is the sum of w.
        same = (domains[:, None] == domains[None, :]).to(kernel.dtype)
        w = 1.0 / same.sum(dim=1)
        n_dom = w.double().sum().round()
        pair_weight = torch.where(n_dom >= 2, 2.0 / (n_dom * (n_dom - 1)).clamp(min=1.0),
                                  torch.zeros_like(n_dom)).to(kernel.dtype)
        weights = (n_dom.to(kernel.dtype) * same - 1.0) * (w[:, None] * w[None, :] * pair_weight)
    return (kernel * weights).sum()


@dataclass
class ADUObjective:
    """What a run's objective is made of, fixed when the trainer is built
    (trainers/adu.py reads TRAINER.ADU into it): the DDL switches and weights,
    and the functions of L_forget and MMD^2 (the paper's, or release.py's)."""
    ddl: bool = True
    ddl_ce: bool = True
    ddl_mmd: bool = True
    gamma: float = 30.0
    lam: float = 10.0
    forget: Callable = forget_loss
    mmd: Callable = functools.partial(mmd2, bandwidth="median")
    # What the MMD compares: the embedding (the paper) or, True, the domain
    # classifier's logits (the release).
    mmd_on_domain_logits: bool = False

    @property
    def uses_domain_head(self) -> bool:
        """The domain classifier is built when a DDL term reads its output."""
        return self.ddl and (self.ddl_ce or (self.ddl_mmd and self.mmd_on_domain_logits))


def adu_losses(*, logits, labels, domains, forget_mask, features, domain_logits,
               objective: ADUObjective, domain_targets=None) -> dict:
    """Every term of the ADU objective and their sum ("total").

    logits: class logits [B, C]; labels, domains: [B]; forget_mask: [B], True
    on forget-domain samples; features: the L2-normalised image embeddings
    (the MMD's input in the paper); domain_logits: the domain classifier's
    output (None without it); domain_targets: soft targets [B, num_domains]
    the CE term reads instead of `domains` (the MMD always groups by `domains`).
    """
    terms = memorize_forget_losses(logits=logits, labels=labels, forget_mask=forget_mask,
                                   forget=objective.forget)
    total = terms.pop("total")
    if objective.ddl:
        l_domain = logits.sum() * 0.0
        if objective.ddl_ce:
            terms["domain_ce"] = domain_ce_loss(
                domain_logits=domain_logits,
                targets=domains if domain_targets is None else domain_targets)
            l_domain = l_domain + objective.gamma * terms["domain_ce"]
        if objective.ddl_mmd:
            terms["mmd2"] = objective.mmd(
                features=domain_logits.float() if objective.mmd_on_domain_logits else features,
                domains=domains)
            l_domain = l_domain - objective.lam * terms["mmd2"]
        terms["domain"] = l_domain
        total = total + l_domain
    terms["total"] = total
    return terms
