"""ADU losses against brute-force references and their intended signs."""
import math

import pytest
import torch

from trainers.config_checks import check_adu, check_bandwidth
from trainers.modules.losses import (
    ADUObjective,
    adu_losses,
    forget_loss,
    memorize_loss,
    mmd2,
    squared_distances,
)
from trainers.modules.release import neg_entropy_forget_loss

FORGET_LOSSES = {"uniform_ce": forget_loss, "neg_entropy": neg_entropy_forget_loss}

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
    got = mmd2(features=x, domains=domains, bandwidth=bandwidth)
    assert got.item() == pytest.approx(expected, rel=1e-5, abs=1e-5)


def test_mmd2_is_zero_with_one_domain_and_keeps_the_graph():
    x = normalized(5).requires_grad_()
    value = mmd2(features=x, domains=torch.zeros(5, dtype=torch.long))
    assert value.item() == 0.0
    value.backward()


def test_squared_distances_equal_the_pairwise_loops():
    x = normalized(6)
    expected = torch.tensor([[loop_squared_distance(a, b) for b in x] for a in x],
                            dtype=torch.float64)
    torch.testing.assert_close(squared_distances(x), expected, rtol=0, atol=1e-12)


def test_mmd2_of_two_single_samples_is_twice_one_minus_their_kernel():
    """With one sample per domain, MMD^2 = k(a,a) + k(b,b) - 2 k(a,b) = 2 - 2 k(a,b):
    the kernel itself, exp(-d^2 / h), for a fixed h and for the median (d^2 itself)."""
    x = normalized(2)
    d2 = loop_squared_distance(x[0], x[1])
    domains = torch.tensor([0, 1])
    for bandwidth, h in ((2.0, 2.0), ("median", d2)):
        expected = 2.0 - 2.0 * float(loop_kernel(x, h)[0, 1])
        assert mmd2(features=x, domains=domains, bandwidth=bandwidth).item() == \
            pytest.approx(expected, rel=1e-9)


def test_median_bandwidth_carries_no_gradient():
    x = normalized(8).requires_grad_()
    domains = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    fixed_h = brute_force_median(x.detach())
    g_median, = torch.autograd.grad(mmd2(features=x, domains=domains, bandwidth="median"), x)
    g_fixed, = torch.autograd.grad(mmd2(features=x, domains=domains, bandwidth=fixed_h), x)
    torch.testing.assert_close(g_median, g_fixed)


@pytest.mark.parametrize("kind", ["uniform_ce", "neg_entropy"])
def test_forget_loss_is_minimal_at_the_uniform_prediction(kind):
    n_classes = 7
    mask = torch.ones(1, dtype=torch.bool)
    uniform = torch.zeros(1, n_classes, requires_grad=True)
    forget = FORGET_LOSSES[kind]
    best = forget(logits=uniform, forget_mask=mask)
    expected = math.log(n_classes) if kind == "uniform_ce" else -math.log(n_classes)
    assert best.item() == pytest.approx(expected, rel=1e-6)
    grad, = torch.autograd.grad(best, uniform)
    assert grad.abs().max() < 1e-6
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        other = torch.randn(1, n_classes, generator=gen) * 3
        assert forget(logits=other, forget_mask=mask) > best


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
    got = FORGET_LOSSES[kind](logits=logits, forget_mask=mask)
    assert got.item() == pytest.approx(expected, rel=1e-6)


def test_memorize_loss_is_the_cross_entropy_of_the_memorize_samples_only():
    logits = torch.randn(6, 4, generator=torch.Generator().manual_seed(3))
    labels = torch.tensor([0, 1, 2, 3, 0, 1])
    forget = torch.tensor([False, False, True, True, False, True])
    terms = [-loop_log_softmax(row)[label] for row, label, f in zip(logits, labels, forget)
             if not f]
    expected = sum(terms) / len(terms)
    got = memorize_loss(logits=logits, labels=labels, forget_mask=forget)
    assert got.item() == pytest.approx(expected, rel=1e-6)
    relabeled = labels.clone()
    relabeled[forget] = 3 - relabeled[forget]
    got = memorize_loss(logits=logits, labels=relabeled, forget_mask=forget)
    assert got.item() == pytest.approx(expected, rel=1e-6)


def test_losses_are_zero_not_nan_when_a_kind_of_sample_is_missing():
    logits = torch.randn(3, 4, requires_grad=True)
    labels = torch.tensor([0, 1, 2])
    none = torch.zeros(3, dtype=torch.bool)
    assert memorize_loss(logits=logits, labels=labels, forget_mask=~none).item() == 0.0
    for forget in FORGET_LOSSES.values():
        assert forget(logits=logits, forget_mask=none).item() == 0.0


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


def objective_terms(objective, logits, labels, forget, separated):
    feats, dlogits, domains = batch(separated)
    return adu_losses(logits=logits, labels=labels, domains=domains, forget_mask=forget,
                      features=feats, domain_logits=dlogits, objective=objective)


def test_domain_loss_decreases_when_domains_separate():
    logits, labels = torch.zeros(8, 3), torch.zeros(8, dtype=torch.long)
    forget = torch.tensor([True, False] * 4)
    mixed = objective_terms(ADUObjective(), logits, labels, forget, False)
    apart = objective_terms(ADUObjective(), logits, labels, forget, True)
    assert apart["mmd2"] > mixed["mmd2"]
    assert apart["domain_ce"] < mixed["domain_ce"]
    assert apart["domain"] < mixed["domain"]


def test_total_has_the_papers_signs_and_weights():
    feats, dlogits, domains = batch(True)
    logits = torch.randn(8, 3)
    labels = torch.randint(0, 3, (8,))
    forget = domains == 1
    t = adu_losses(logits=logits, labels=labels, domains=domains, forget_mask=forget,
                   features=feats, domain_logits=dlogits,
                   objective=ADUObjective(gamma=30.0, lam=10.0))
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
    t = adu_losses(logits=torch.randn(8, 3), labels=torch.zeros(8, dtype=torch.long),
                   domains=domains, forget_mask=domains == 1, features=feats,
                   domain_logits=dlogits,
                   objective=ADUObjective(ddl=ddl, ddl_ce=ce, ddl_mmd=mmd))
    assert set(t) == keys
    if not ddl:
        assert t["total"].item() == pytest.approx(t["memorize"].item() + t["forget"].item())


def adu_node(**changes):
    import train
    node = train.default_cfg().TRAINER.ADU
    node.update(changes)
    return node


def test_bad_loss_settings_fail_clearly():
    pytest.importorskip("dassl", reason="Dassl not installed (pip install it from GitHub, "
                                        "see README)")
    with pytest.raises(ValueError, match="MMD_BANDWIDTH"):
        check_adu(adu_node(MMD_BANDWIDTH="wide"))
    with pytest.raises(ValueError, match="FORGET_LOSS"):
        check_adu(adu_node(FORGET_LOSS="kl"))
    with pytest.raises(ValueError, match="TRAINER.ADU.MMD_INPUT must be one of"):
        check_adu(adu_node(MMD_INPUT="features"))
    with pytest.raises(ValueError, match="TRAINER.ADU.MMD_KERNEL must be one of"):
        check_adu(adu_node(MMD_KERNEL="median"))
    with pytest.raises(ValueError, match="TRAINER.ADU.INSTAPG_STYLE must be one of"):
        check_adu(adu_node(INSTAPG_STYLE="post_norm"))
    with pytest.raises(ValueError, match="TRAINER.ADU.DOMAIN_HEAD must be one of"):
        check_adu(adu_node(DOMAIN_HEAD="classes"))
    with pytest.raises(ValueError, match="FORGET_LOG_EPS .* is read by FORGET_LOSS neg_entropy"):
        check_adu(adu_node(FORGET_LOG_EPS=1e-5))
    with pytest.raises(ValueError, match="FORGET_LOG_EPS must be a finite number >= 0"):
        check_adu(adu_node(FORGET_LOSS="neg_entropy", FORGET_LOG_EPS=-1.0))
    check_adu(adu_node(FORGET_LOSS="neg_entropy", FORGET_LOG_EPS=1e-5))


@pytest.mark.parametrize("bad", ["wide", 0, -1.0, None])
def test_a_bandwidth_is_checked_as_the_config_does(bad):
    with pytest.raises(ValueError, match="MMD_BANDWIDTH must be 'median' or a positive number"):
        check_bandwidth(bad)


def test_a_bandwidth_from_a_config_string_is_the_number():
    """MMD_BANDWIDTH "0.5" (a string key) gives the run's MMD the bandwidth 0.5."""
    pytest.importorskip("dassl", reason="Dassl not installed (pip install it from GitHub, "
                                        "see README)")
    from trainers.adu import adu_objective
    x = normalized(6)
    domains = torch.tensor([0, 0, 1, 1, 2, 2])
    objective = adu_objective(adu_node(MMD_BANDWIDTH="0.5"))
    assert objective.mmd(features=x, domains=domains).item() == pytest.approx(
        brute_force_mmd2(x, domains, 0.5), rel=1e-9)


def test_every_loss_takes_keyword_arguments_only():
    """Two tensors of one shape cannot be swapped unseen: a positional call fails."""
    logits, labels, mask = torch.zeros(2, 3), torch.zeros(2, dtype=torch.long), torch.ones(2) > 0
    for call in (lambda: memorize_loss(logits, labels, mask),
                 lambda: forget_loss(logits, mask),
                 lambda: neg_entropy_forget_loss(logits, mask),
                 lambda: mmd2(normalized(2), torch.tensor([0, 1])),
                 lambda: adu_losses(logits, labels, labels, mask, None, None, ADUObjective())):
        with pytest.raises(TypeError, match="positional argument"):
            call()
