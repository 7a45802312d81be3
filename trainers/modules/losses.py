"""ADU losses, docs/METHOD.md section 3: L = L_memorize + L_forget + L_domain.

The comparison methods (section 8) are trained with L_memorize + L_forget
alone (`memorize_forget_losses`), the same two terms ADU uses.

Every function works on whole batches with masks and matrix products (no
Python loop over samples or domain pairs), and returns a zero that keeps the
graph when a batch holds no sample of the kind it needs.
"""
import functools
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from user_errors import ConfigError

FORGET_LOSSES = ("uniform_ce", "neg_entropy")
MMD_INPUTS = ("embedding", "domain_logits")
MMD_KERNELS = ("batch_median", "pair_median")


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
    than the kernel at batch 128). Returns 0 (with graph) when fewer than
    two domains are present.
    """
    kernel = rbf_kernel(features, bandwidth)
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


def mmd2_pair_median(features, domains) -> torch.Tensor:
    """Squared MMD averaged over domain pairs with a bandwidth per pair, as
    the authors' release computes it (docs/METHOD.md section 10).

    For the pair (a, b): sigma_ab = median of the cross-pair distances
    ||x_i - y_j|| (i in a, j in b; no gradient), k = exp(-d^2 / (2 sigma_ab^2)),
    and MMD_ab^2 = mean K_aa + mean K_bb - 2 mean K_ab (all with sigma_ab).
    Pairs where either domain has fewer than 2 samples are skipped; 0 (with
    graph) when no pair is left. One distance matrix serves every pair: the
    per-pair kernels are [P, B, B] and each MMD is w_p^T K_p w_p with
    w_p = 1/|a| on a's samples and -1/|b| on b's.
    """
    x = features.to(torch.promote_types(features.dtype, torch.float32))
    present, index, counts = torch.unique(domains, return_inverse=True, return_counts=True)
    usable = (counts >= 2).nonzero().flatten()
    if usable.numel() < 2:
        return features.sum() * 0.0
    a, b = torch.triu_indices(usable.numel(), usable.numel(), offset=1, device=x.device)
    a, b = usable[a], usable[b]  # domain indices (into `present`) of each pair
    sq = squared_distances(x)
    with torch.no_grad():
        in_a = (index[None, :] == a[:, None]).to(x.dtype)  # [P, B]
        in_b = (index[None, :] == b[:, None]).to(x.dtype)
        cross = (in_a[:, :, None] * in_b[:, None, :]).bool()  # [P, B, B]
        dist = sq.detach().sqrt().expand_as(cross)
        sigma = torch.where(cross, dist, torch.full_like(dist, float("nan")))
        sigma = sigma.flatten(1).nanmedian(dim=1).values.clamp(min=1e-6)  # [P]
        w = in_a / counts[a, None].to(x.dtype) - in_b / counts[b, None].to(x.dtype)
    kernels = torch.exp(-sq[None] / (2.0 * sigma[:, None, None] ** 2))
    return torch.einsum("pi,pij,pj->p", w, kernels, w).mean()


def mmd2(features, domains, kernel: str = "batch_median", bandwidth="median"):
    """The MMD^2 term with the configured kernel ("batch_median": one bandwidth
    for the batch, the paper's; "pair_median": one per domain pair, the release's)."""
    check_choice(kernel, MMD_KERNELS, "MMD_KERNEL")
    if kernel == "pair_median":
        return mmd2_pair_median(features, domains)
    return mmd2_all_pairs(features, domains, bandwidth)


def check_choice(value: str, choices, key: str) -> str:
    """Fail early, naming the config key, on a value outside `choices`."""
    if value not in choices:
        raise ConfigError(f"{key} must be one of {choices}, got '{value}'.")
    return value


def domain_ce_loss(domain_logits, domains):
    """L_CE of the domain classifier over all samples of the batch. `domains`
    is a label per sample [B], or a distribution over domains per sample
    [B, num_domains] (soft pseudo labels): -sum_d q_d log p_d, averaged."""
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
    mmd_input: str = "embedding"       # or "domain_logits" (the release)
    mmd_kernel: str = "batch_median"   # or "pair_median" (the release)

    @classmethod
    def from_cfg(cls, node):
        """From the TRAINER.ADU config node."""
        bandwidth = check_bandwidth(node.MMD_BANDWIDTH, "TRAINER.ADU.MMD_BANDWIDTH")
        check_forget_loss(node.FORGET_LOSS, "TRAINER.ADU.FORGET_LOSS")
        check_choice(node.MMD_INPUT, MMD_INPUTS, "TRAINER.ADU.MMD_INPUT")
        check_choice(node.MMD_KERNEL, MMD_KERNELS, "TRAINER.ADU.MMD_KERNEL")
        return cls(node.FORGET_LOSS, node.DDL, node.DDL_CE, node.DDL_MMD,
                   node.DDL_GAMMA, node.DDL_LAMBDA, bandwidth, node.MMD_INPUT,
                   node.MMD_KERNEL)

    @property
    def uses_domain_head(self) -> bool:
        """The domain classifier is built when a DDL term reads its output."""
        return self.ddl and (self.ddl_ce or (self.ddl_mmd and self.mmd_input == "domain_logits"))


def adu_losses(logits, labels, domains, forget_mask, features=None,
               domain_logits=None, config: ADULossConfig = None, domain_targets=None):
    """Every term of the ADU objective and their sum ("total").

    features: L2-normalised image embeddings (needed when the MMD term is on
    with MMD_INPUT embedding); domain_logits: the domain classifier's output
    (needed for the CE term, and for the MMD term with MMD_INPUT domain_logits);
    domain_targets: soft targets [B, num_domains] the CE term reads instead of
    `domains` (the MMD term always groups by `domains`).
    """
    config = config or ADULossConfig()
    terms = memorize_forget_losses(logits, labels, forget_mask, config.forget_loss)
    total = terms.pop("total")
    if config.ddl:
        l_domain = logits.sum() * 0.0
        if config.ddl_ce:
            targets = domains if domain_targets is None else domain_targets
            terms["domain_ce"] = domain_ce_loss(domain_logits, targets)
            l_domain = l_domain + config.gamma * terms["domain_ce"]
        if config.ddl_mmd:
            mmd_in = domain_logits.float() if config.mmd_input == "domain_logits" else features
            terms["mmd2"] = mmd2(mmd_in, domains, config.mmd_kernel, config.mmd_bandwidth)
            l_domain = l_domain - config.lam * terms["mmd2"]
        terms["domain"] = l_domain
        total = total + l_domain
    terms["total"] = total
    return terms
