"""ADU losses against brute-force references and their intended signs."""
import math

import pytest
import torch

from trainers.modules.losses import (
    ADULossConfig,
    adu_losses,
    forget_loss,
    memorize_loss,
    mmd2_all_pairs,
    rbf_kernel,
    squared_distances,
)

# The expected values below are computed independently of the module under
# test: explicit loops over samples, pairs and coordinates in float64.


def normalized(n, d=8, seed=0):
    x = torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return x / x.norm(dim=-1, keepdim=True)


def brute_force_mmd2(x, domains, h):
    """Double loop over samples, for every pair of domains present."""
    def k(a, b):
        return math.exp(-float(((a - b) ** 2).sum()) / h)
    present = sorted(set(domains.tolist()))
    total, pairs = 0.0, 0
    for i, d in enumerate(present):
        for d2 in present[i + 1:]:
            xs = [x[j] for j in range(len(x)) if domains[j] == d]
            ys = [x[j] for j in range(len(x)) if domains[j] == d2]
            kxx = sum(k(a, b) for a in xs for b in xs) / len(xs) ** 2
            kyy = sum(k(a, b) for a in ys for b in ys) / len(ys) ** 2
            kxy = sum(k(a, b) for a in xs for b in ys) / (len(xs) * len(ys))
            total += kxx + kyy - 2 * kxy
            pairs += 1
    return total / pairs


def loop_squared_distance(a, b):
    return sum((float(a[k]) - float(b[k])) ** 2 for k in range(len(a)))


def loop_kernel(x, h):
    """exp(-||x_i - x_j||^2 / h) for every pair (i, j), one at a time."""
    n = len(x)
    return torch.tensor([[math.exp(-loop_squared_distance(x[i], x[j]) / h) for j in range(n)]
                         for i in range(n)], dtype=torch.float64)


def loop_log_softmax(row):
    """log p_c = z_c - log sum_c' exp(z_c') of one row of logits, in float64."""
    z = [float(v) for v in row]
    top = max(z)
    log_norm = top + math.log(sum(math.exp(v - top) for v in z))
    return [v - log_norm for v in z]


def brute_force_median(x):
    n = len(x)
    d = [float(((x[i] - x[j]) ** 2).sum()) for i in range(n) for j in range(n) if i != j]
    return float(torch.tensor(d, dtype=torch.float64).median())


@pytest.mark.parametrize("domains", [
    [0, 0, 1, 1, 2, 2, 3, 3, 3, 1],
    [2, 2, 2, 0, 0, 5, 5, 5, 5, 0, 2, 5],   # ids need not be contiguous
    [1, 0, 1, 0, 1, 1],
])
@pytest.mark.parametrize("bandwidth", [0.7, "median"])
def test_mmd2_equals_brute_force(domains, bandwidth):
    domains = torch.tensor(domains)
    x = normalized(len(domains), seed=len(domains))
    h = brute_force_median(x) if bandwidth == "median" else bandwidth
    expected = brute_force_mmd2(x, domains, h)
    got = mmd2_all_pairs(x, domains, bandwidth)
    assert got.item() == pytest.approx(expected, rel=1e-5, abs=1e-5)


def test_mmd2_is_zero_with_one_domain_and_keeps_the_graph():
    x = normalized(5).requires_grad_()
    value = mmd2_all_pairs(x, torch.zeros(5, dtype=torch.long))
    assert value.item() == 0.0
    value.backward()


def test_squared_distances_and_kernel_equal_the_pairwise_loops():
    x = normalized(6)
    expected = torch.tensor([[loop_squared_distance(a, b) for b in x] for a in x],
                            dtype=torch.float64)
    torch.testing.assert_close(squared_distances(x), expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(rbf_kernel(x, 2.0), loop_kernel(x, 2.0), rtol=0, atol=1e-12)
    torch.testing.assert_close(rbf_kernel(x, "median"), loop_kernel(x, brute_force_median(x)),
                               rtol=0, atol=1e-12)


def test_median_bandwidth_carries_no_gradient():
    x = normalized(8).requires_grad_()
    domains = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    fixed_h = brute_force_median(x.detach())
    g_median, = torch.autograd.grad(mmd2_all_pairs(x, domains, "median"), x)
    g_fixed, = torch.autograd.grad(mmd2_all_pairs(x, domains, fixed_h), x)
    torch.testing.assert_close(g_median, g_fixed)


@pytest.mark.parametrize("kind", ["uniform_ce", "neg_entropy"])
def test_forget_loss_is_minimal_at_the_uniform_prediction(kind):
    n_classes = 7
    mask = torch.ones(1, dtype=torch.bool)
    uniform = torch.zeros(1, n_classes, requires_grad=True)
    best = forget_loss(uniform, mask, kind)
    expected = math.log(n_classes) if kind == "uniform_ce" else -math.log(n_classes)
    assert best.item() == pytest.approx(expected, rel=1e-6)
    grad, = torch.autograd.grad(best, uniform)
    assert grad.abs().max() < 1e-6
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        other = torch.randn(1, n_classes, generator=gen) * 3
        assert forget_loss(other, mask, kind) > best


@pytest.mark.parametrize("kind", ["uniform_ce", "neg_entropy"])
def test_forget_loss_equals_its_formula_over_the_forget_samples(kind):
    logits = torch.randn(4, 5, generator=torch.Generator().manual_seed(2))
    mask = torch.tensor([True, False, True, False])
    per_sample = []
    for row, forget in zip(logits, mask):
        if forget:
            log_p = loop_log_softmax(row)
            per_sample.append(-sum(log_p) / len(log_p) if kind == "uniform_ce"
                              else sum(math.exp(v) * v for v in log_p))
    expected = sum(per_sample) / len(per_sample)
    assert forget_loss(logits, mask, kind).item() == pytest.approx(expected, rel=1e-6)


def test_memorize_loss_is_the_cross_entropy_of_the_memorize_samples_only():
    logits = torch.randn(6, 4, generator=torch.Generator().manual_seed(3))
    labels = torch.tensor([0, 1, 2, 3, 0, 1])
    forget = torch.tensor([False, False, True, True, False, True])
    terms = [-loop_log_softmax(row)[label] for row, label, f in zip(logits, labels, forget)
             if not f]
    expected = sum(terms) / len(terms)
    assert memorize_loss(logits, labels, forget).item() == pytest.approx(expected, rel=1e-6)
    relabeled = labels.clone()
    relabeled[forget] = 3 - relabeled[forget]
    assert memorize_loss(logits, relabeled, forget).item() == pytest.approx(expected, rel=1e-6)


def test_losses_are_zero_not_nan_when_a_kind_of_sample_is_missing():
    logits = torch.randn(3, 4, requires_grad=True)
    labels = torch.tensor([0, 1, 2])
    none = torch.zeros(3, dtype=torch.bool)
    assert memorize_loss(logits, labels, ~none).item() == 0.0
    assert forget_loss(logits, none).item() == 0.0


def batch(separated: bool, seed=0):
    """Two domains whose embeddings are mixed or pulled apart."""
    gen = torch.Generator().manual_seed(seed)
    base = torch.randn(8, 16, generator=gen)
    domains = torch.tensor([0, 1] * 4)
    if separated:
        base[domains == 0, 0] += 6.0
        base[domains == 1, 0] -= 6.0
    feats = base / base.norm(dim=-1, keepdim=True)
    head = torch.zeros(2, 16)
    head[0, 0], head[1, 0] = 5.0, -5.0   # a domain classifier reading axis 0
    return feats, feats @ head.t(), domains


def test_domain_loss_decreases_when_domains_separate():
    cfg = ADULossConfig()
    logits, labels = torch.zeros(8, 3), torch.zeros(8, dtype=torch.long)
    forget = torch.tensor([True, False] * 4)
    mixed = adu_losses(logits, labels, batch(False)[2], forget, *batch(False)[:2], config=cfg)
    apart = adu_losses(logits, labels, batch(True)[2], forget, *batch(True)[:2], config=cfg)
    assert apart["mmd2"] > mixed["mmd2"]
    assert apart["domain_ce"] < mixed["domain_ce"]
    assert apart["domain"] < mixed["domain"]


def test_total_has_the_papers_signs_and_weights():
    feats, dlogits, domains = batch(True)
    logits = torch.randn(8, 3)
    labels = torch.randint(0, 3, (8,))
    forget = domains == 1
    cfg = ADULossConfig(gamma=30.0, lam=10.0)
    t = adu_losses(logits, labels, domains, forget, feats, dlogits, config=cfg)
    assert t["domain"].item() == pytest.approx(
        30 * t["domain_ce"].item() - 10 * t["mmd2"].item(), rel=1e-5)
    assert t["total"].item() == pytest.approx(
        t["memorize"].item() + t["forget"].item() + t["domain"].item(), rel=1e-5)


@pytest.mark.parametrize("ddl,ce,mmd,keys", [
    (False, True, True, {"memorize", "forget", "total"}),
    (True, True, False, {"memorize", "forget", "domain_ce", "domain", "total"}),
    (True, False, True, {"memorize", "forget", "mmd2", "domain", "total"}),
    (True, True, True, {"memorize", "forget", "domain_ce", "mmd2", "domain", "total"}),
])
def test_ablation_switches_select_the_terms(ddl, ce, mmd, keys):
    feats, dlogits, domains = batch(True)
    cfg = ADULossConfig(ddl=ddl, ddl_ce=ce, ddl_mmd=mmd)
    t = adu_losses(torch.randn(8, 3), torch.zeros(8, dtype=torch.long), domains,
                   domains == 1, feats, dlogits, config=cfg)
    assert set(t) == keys
    if not ddl:
        assert t["total"].item() == pytest.approx(t["memorize"].item() + t["forget"].item())


def test_bad_loss_settings_fail_clearly():
    from types import SimpleNamespace
    node = SimpleNamespace(FORGET_LOSS="uniform_ce", DDL=True, DDL_CE=True, DDL_MMD=True,
                           DDL_GAMMA=30.0, DDL_LAMBDA=10.0, MMD_BANDWIDTH="wide",
                           MMD_INPUT="embedding", MMD_KERNEL="batch_median")
    with pytest.raises(ValueError, match="MMD_BANDWIDTH"):
        ADULossConfig.from_cfg(node)
    node.MMD_BANDWIDTH, node.FORGET_LOSS = "median", "kl"
    with pytest.raises(ValueError, match="FORGET_LOSS"):
        ADULossConfig.from_cfg(node)
    node.FORGET_LOSS, node.MMD_BANDWIDTH = "neg_entropy", "0.5"
    assert ADULossConfig.from_cfg(node).mmd_bandwidth == 0.5
    node.MMD_INPUT = "features"
    with pytest.raises(ValueError, match="TRAINER.ADU.MMD_INPUT must be one of"):
        ADULossConfig.from_cfg(node)
    node.MMD_INPUT, node.MMD_KERNEL = "domain_logits", "median"
    with pytest.raises(ValueError, match="TRAINER.ADU.MMD_KERNEL must be one of"):
        ADULossConfig.from_cfg(node)


@pytest.mark.parametrize("bad", ["wide", 0, -1.0, None])
def test_the_kernel_checks_its_bandwidth_as_the_config_does(bad):
    with pytest.raises(ValueError, match="MMD_BANDWIDTH must be 'median' or a positive number"):
        rbf_kernel(normalized(4), bad)


def test_a_bandwidth_from_a_config_string_is_the_number():
    x = normalized(4)
    torch.testing.assert_close(rbf_kernel(x, "0.5"), loop_kernel(x, 0.5), rtol=0, atol=1e-12)
