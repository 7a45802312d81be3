"""Row 5 of the benchmark: ADU's all-pairs MMD^2 from one kernel matrix
against per-domain-pair loops (Dassl's op when Dassl is installed)."""
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

from experiments.bench.timing import median, run_timed
from trainers.modules.losses import median_bandwidth, mmd2, squared_distances

os.environ.setdefault("OUTDATED_IGNORE", "1")  # Dassl -> wilds: no network check
try:
    from dassl.modeling.ops.mmd import MaximumMeanDiscrepancy
except ImportError:  # the per-pair loops below then run without Dassl's op
    MaximumMeanDiscrepancy = None


class SameKernelMMD(MaximumMeanDiscrepancy or nn.Module):
    """Dassl's per-pair MMD op with ADU's kernel swapped in: one Gaussian RBF
    exp(-d^2 / h) and self-distances kept (the V-statistic ADU uses), so its
    value must equal ADU's all-pairs MMD^2 for the same pair."""

    def __init__(self, bandwidth):
        super().__init__()
        self.bandwidth = bandwidth

    def rbf_kernel_mixture(self, sq_dists):
        return torch.exp(-sq_dists / self.bandwidth)

    @staticmethod
    def remove_self_distance(distmat):
        return distmat

    def forward(self, x, y):
        if MaximumMeanDiscrepancy is not None:
            return super().forward(x, y)
        # Without Dassl: the same computation, written out.
        k = self.rbf_kernel_mixture
        return (k(squared_distances_between(x, x)).mean()
                + k(squared_distances_between(y, y)).mean()
                - 2 * k(squared_distances_between(x, y)).mean())


def squared_distances_between(x, y):
    return ((x * x).sum(1, keepdim=True) + (y * y).sum(1)[None] - 2 * x @ y.t()).clamp(min=0)


def per_pair_mmd2(features, domains, op):
    """Mean of op(domain a, domain b) over every pair a < b, one pair at a time."""
    present = torch.unique(domains).tolist()
    values = [op(features[domains == a], features[domains == b])
              for i, a in enumerate(present) for b in present[i + 1:]]
    return torch.stack(values).mean()


def mmd_comparison(settings, device, embed_dim):
    """Times (fwd + bwd) and values of the three MMD computations."""
    g = torch.Generator().manual_seed(2)
    feats = F.normalize(torch.randn(settings.mmd_batch, embed_dim, generator=g), dim=-1)
    domains = torch.randperm(settings.mmd_batch, generator=g) % settings.mmd_domains
    feats, domains = feats.to(device).requires_grad_(True), domains.to(device)
    # The bandwidth ADU's median heuristic picks, given to the loop as a number.
    h = median_bandwidth(squared_distances(feats.detach())).item()
    same_kernel = SameKernelMMD(h)

    def fwd_bwd(compute):
        def run():
            compute().backward()
            feats.grad = None
        return run

    fns = {"all_pairs": fwd_bwd(lambda: mmd2(features=feats, domains=domains, bandwidth="median")),
           "same_kernel_loop": fwd_bwd(lambda: per_pair_mmd2(feats, domains, same_kernel))}
    if MaximumMeanDiscrepancy is not None:
        dassl_op = MaximumMeanDiscrepancy(kernel_type="rbf")
        fns["dassl_loop"] = fwd_bwd(lambda: per_pair_mmd2(feats, domains, dassl_op))
    times = run_timed(fns, settings.mmd_warmup, settings.mmd_reps, device, round_robin=False)
    times = {name: median(t) for name, t in times.items()}
    with torch.no_grad():
        values = {"all_pairs": mmd2(features=feats, domains=domains, bandwidth="median").item(),
                  "same_kernel_loop": per_pair_mmd2(feats, domains, same_kernel).item()}
        if MaximumMeanDiscrepancy is not None:
            values["dassl_loop"] = per_pair_mmd2(feats, domains, dassl_op).item()
    return times, values
