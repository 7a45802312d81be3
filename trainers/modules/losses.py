"""ADU losses, docs/METHOD.md section 3: L = L_memorize + L_forget + L_domain.

The comparison methods (section 8) are trained with L_memorize + L_forget
alone (`memorize_forget_losses`), the same two terms ADU uses.

Every function works on whole batches with masks and matrix products (no
Python loop over samples or domain pairs), and returns a zero that keeps the
graph when a batch holds no sample of the kind it needs.
"""
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from user_errors import ConfigError

FORGET_LOSSES = ("uniform_ce", "neg_entropy")


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of `values` where `mask` is True; 0 (with graph) if none is."""
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp(min=1.0)


def memorize_loss(logits, labels, forget_mask):
    """L_memorize: cross-entropy on the memorize-domain samples."""
    ce = F.cross_entropy(logits.float(), labels, reduction="none")
    return masked_mean(ce, ~forget_mask)


def forget_loss(logits, forget_mask, kind: str = "uniform_ce"):
    """L_forget on the forget-domain samples, minimal at the uniform prediction.

    uniform_ce:  -(1/|C|) sum_c log p_c   (cross-entropy to the uniform target)
    neg_entropy: sum_c p_c log p_c        (negative entropy, released code)
    """
    check_forget_loss(kind)
    log_p = F.log_softmax(logits.float(), dim=-1)
    if kind == "uniform_ce":
        per_sample = -log_p.mean(dim=-1)
    else:  # neg_entropy
        per_sample = (log_p.exp() * log_p).sum(dim=-1)
    return masked_mean(per_sample, forget_mask)


def check_forget_loss(kind: str, key: str = "FORGET_LOSS") -> str:
    """Fail early, naming the config key, on an unknown forget-loss variant."""
    if kind not in FORGET_LOSSES:
        raise ConfigError(f"{key} must be one of {FORGET_LOSSES}, got '{kind}'.")
    return kind


def memorize_forget_losses(logits, labels, forget_mask, kind: str = "uniform_ce") -> dict:
    """L_memorize, L_forget and their sum ("total"), the shared part of every objective."""
    terms = {
        "memorize": memorize_loss(logits, labels, forget_mask),
        "forget": forget_loss(logits, forget_mask, kind),
    }
    terms["total"] = terms["memorize"] + terms["forget"]
    return terms


def squared_distances(x: torch.Tensor) -> torch.Tensor:
    """Pairwise squared Euclidean distances [B, B], clamped at 0."""
    sq = (x * x).sum(dim=-1)
    return torch.addmm(sq[:, None] + sq[None, :], x, x.t(), alpha=-2.0).clamp(min=0.0)


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
        rows, cols = torch.triu_indices(n, n, offset=1, device=sq_dists.device)
        return sq_dists[rows, cols].median().clamp(min=1e-6)


def rbf_kernel(features: torch.Tensor, bandwidth="median") -> torch.Tensor:
    """Gaussian kernel matrix k(x, y) = exp(-||x - y||^2 / h) over the batch.

    h is the median heuristic ("median") or the given positive number.
    """
    bandwidth = check_bandwidth(bandwidth)
    sq = squared_distances(features.to(torch.promote_types(features.dtype, torch.float32)))
    h = median_bandwidth(sq) if bandwidth == "median" else bandwidth
    return torch.exp(sq * (-1.0 / h))


def check_bandwidth(bandwidth, key: str = "MMD_BANDWIDTH"):
    """"median", or the bandwidth as a positive float (config values may be
    strings); anything else fails, naming the config key."""
    if str(bandwidth) == "median":
        return "median"
    try:
        h = float(bandwidth)
    except (TypeError, ValueError):
        h = -1.0
    if h <= 0:
        raise ConfigError(f"{key} must be 'median' or a positive number, got '{bandwidth}'.")
    return h


def mmd2_all_pairs(features, domains, bandwidth="median") -> torch.Tensor:
    """Squared MMD averaged over every pair of domains present in the batch.

        MMD^2 = 2 / (|D|(|D|-1)) * sum_{d<d'} ||mu_d - mu_d'||^2_H

    with mu_d the kernel mean embedding of domain d's samples (the biased,
    V-statistic estimate). All pairs come from one kernel matrix K:
    G = W^T K W with W the column-normalised one-hot domain matrix gives the
    inner products <mu_d, mu_d'>, so ||mu_d - mu_d'||^2 = G_dd + G_d'd' - 2 G_dd'.
    Summed over the pairs d < d' of the n present domains this is
    n tr(G) - 1^T G 1 = sum_ij K_ij M_ij with M = (n S - 1) * w w^T, where
    S_ij = [d_i = d_j] and w_i = 1 / |B_{d_i}|: one weighted sum of K, whose
    weights need no gradient (the pair matrix and its indexing cost more
    than the kernel at batch 128). Returns 0 when fewer than two domains are
    present.
    """
    present, index, counts = torch.unique(domains, return_inverse=True, return_counts=True)
    n_dom = present.numel()
    if n_dom < 2:
        return features.sum() * 0.0
    kernel = rbf_kernel(features, bandwidth)
    with torch.no_grad():
        same = (index[:, None] == index[None, :]).to(kernel.dtype)
        w = 1.0 / counts[index].to(kernel.dtype)
        weights = (n_dom * same - 1.0) * (w[:, None] * w[None, :]
                                          * (2.0 / (n_dom * (n_dom - 1))))
    return (kernel * weights).sum()


def domain_ce_loss(domain_logits, domains):
    """L_CE of the domain classifier over all samples of the batch."""
    return F.cross_entropy(domain_logits.float(), domains)


@dataclass
class ADULossConfig:
    forget_loss: str = "uniform_ce"
    ddl: bool = True
    ddl_ce: bool = True
    ddl_mmd: bool = True
    gamma: float = 30.0
    lam: float = 10.0
    mmd_bandwidth: object = "median"

    @classmethod
    def from_cfg(cls, node):
        """From the TRAINER.ADU config node."""
        bandwidth = check_bandwidth(node.MMD_BANDWIDTH, "TRAINER.ADU.MMD_BANDWIDTH")
        check_forget_loss(node.FORGET_LOSS, "TRAINER.ADU.FORGET_LOSS")
        return cls(node.FORGET_LOSS, node.DDL, node.DDL_CE, node.DDL_MMD,
                   node.DDL_GAMMA, node.DDL_LAMBDA, bandwidth)

    @property
    def uses_domain_head(self) -> bool:
        return self.ddl and self.ddl_ce


def adu_losses(logits, labels, domains, forget_mask, features=None,
               domain_logits=None, config: ADULossConfig = None):
    """Every term of the ADU objective and their sum ("total").

    features: L2-normalised image embeddings (needed when the MMD term is on);
    domain_logits: the domain classifier's output (needed for the CE term).
    """
    config = config or ADULossConfig()
    terms = memorize_forget_losses(logits, labels, forget_mask, config.forget_loss)
    total = terms.pop("total")
    if config.ddl:
        l_domain = logits.sum() * 0.0
        if config.ddl_ce:
            terms["domain_ce"] = domain_ce_loss(domain_logits, domains)
            l_domain = l_domain + config.gamma * terms["domain_ce"]
        if config.ddl_mmd:
            terms["mmd2"] = mmd2_all_pairs(features, domains, config.mmd_bandwidth)
            l_domain = l_domain - config.lam * terms["mmd2"]
        terms["domain"] = l_domain
        total = total + l_domain
    terms["total"] = total
    return terms
