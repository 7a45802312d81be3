"""Linear probes: they read linearly separable information and nothing else."""
import pytest
import torch

from trainers.modules.probes import probe_accuracy, probe_scores


def blobs(n_per, centers, seed):
    gen = torch.Generator().manual_seed(seed)
    x = torch.cat([c + 0.1 * torch.randn(n_per, len(c), generator=gen) for c in centers])
    y = torch.arange(len(centers)).repeat_interleave(n_per)
    return x, y


def test_probe_reads_separable_labels():
    centers = torch.eye(4, 8) * 3
    assert probe_accuracy(*blobs(10, centers, 0), *blobs(20, centers, 1)) == 100.0


def test_probe_is_near_chance_without_information():
    gen = torch.Generator().manual_seed(0)
    x_tr, x_te = torch.randn(200, 8, generator=gen), torch.randn(400, 8, generator=gen)
    y_tr, y_te = torch.randint(0, 4, (200,), generator=gen), torch.randint(0, 4, (400,), generator=gen)
    assert probe_accuracy(x_tr, y_tr, x_te, y_te) < 40.0


def test_probe_scores_use_only_forget_domain_samples_for_the_class_probe():
    # classes separable in domain 1 only; domain 0's features carry no class
    gen = torch.Generator().manual_seed(0)
    def split(n):
        y = torch.arange(3).repeat(n)
        d = torch.tensor([0, 1]).repeat_interleave(len(y) // 2 + 1)[:len(y)]
        x = torch.randn(len(y), 6, generator=gen) * 0.1
        x[d == 1, :3] += 3 * torch.nn.functional.one_hot(y[d == 1], 3).float()
        x[:, 5] += 4 * d   # the domain is on axis 5
        return x, y, d
    scores = probe_scores(split(20), split(20), forget_ids=[1])
    assert scores["domain_probe_accuracy"] == pytest.approx(100.0)
    assert scores["forget_class_probe_accuracy"] == pytest.approx(100.0)
    scores = probe_scores(split(20), split(20), forget_ids=[0])
    assert scores["forget_class_probe_accuracy"] < 60.0


def objective(x, y, fit, l2=1e-4):
    x = x.double()
    return (torch.nn.functional.cross_entropy(x @ fit.weight + fit.bias, y)
            + l2 * fit.weight.pow(2).sum()).item()


def ill_conditioned(seed=0, n=600, dim=48, classes=6):
    """Overlapping classes on features of very unequal scales: a probe that
    stops on the loss's change stops far from the optimum."""
    gen = torch.Generator().manual_seed(seed)
    centers = torch.randn(classes, dim, generator=gen)
    y = torch.randint(0, classes, (n,), generator=gen)
    x = (0.5 * centers[y] + torch.randn(n, dim, generator=gen)) * torch.logspace(-2, 1, dim)
    return x.float(), y


def newton_probe(x, y, classes, l2=1e-4, steps=40):
    """The probe trained to convergence another way: damped Newton steps on
    the same objective, with its exact Hessian (float64), to a gradient of 1e-12."""
    from trainers.modules.probes import ProbeFit
    x, dim = x.double(), x.shape[1]

    def f(p):
        w, b = p[:dim * classes].view(dim, classes), p[dim * classes:]
        return torch.nn.functional.cross_entropy(x @ w + b, y) + l2 * w.pow(2).sum()
    p = torch.zeros(dim * classes + classes, dtype=torch.float64)
    for _ in range(steps):
        g = torch.autograd.functional.jacobian(f, p)
        if g.abs().max() < 1e-12:
            break
        h = torch.autograd.functional.hessian(f, p)
        # the logits' common shift is flat: a tiny ridge keeps the solve regular
        step = torch.linalg.solve(h + 1e-10 * torch.eye(len(p), dtype=p.dtype), g)
        t = 1.0
        while f(p - t * step) > f(p) - 1e-4 * t * (g @ step):
            t /= 2
        p = p - t * step
    return ProbeFit(p[:dim * classes].view(dim, classes), p[dim * classes:], True, 0,
                    g.abs().max().item())


def test_the_probe_stops_on_the_gradient_at_the_converged_probes_optimum():
    from trainers.modules.probes import GRAD_TOL, fit_logistic_regression
    x, y = ill_conditioned()
    fit = fit_logistic_regression(x, y, 6)
    assert fit.converged and fit.grad_max <= GRAD_TOL and 0 < fit.iterations < 1000
    reference = newton_probe(x, y, 6)
    assert reference.grad_max < 1e-12
    # strictly convex (2 * l2 in W): a gradient of 1e-6 is within 1e-8 of the optimum
    assert objective(x, y, fit) - objective(x, y, reference) < 1e-8
    same = ((x.double() @ fit.weight + fit.bias).argmax(-1)
            == (x.double() @ reference.weight + reference.bias).argmax(-1))
    assert same.double().mean() > 0.99


def test_a_probe_that_runs_out_of_iterations_says_so_in_the_scores():
    from trainers.modules.metrics import format_scores
    from trainers.modules.probes import fit_logistic_regression
    x, y = ill_conditioned()
    fit = fit_logistic_regression(x, y, 6, max_iter=5)
    assert not fit.converged and fit.iterations == 5
    domains = torch.arange(len(y)) % 2
    scores = probe_scores((x, y, domains), (x, y, domains), forget_ids=[1])
    assert scores["domain_probe_converged"] in (True, False)
    assert scores["forget_class_probe_converged"] and scores["forget_class_probe_iterations"] > 0
    scores.update(per_domain={}, mem=0.0, h=0.0, domain_probe_converged=False,
                  domain_probe_iterations=1000, **{"for": 0.0})
    assert "domain linear-probe accuracy" in format_scores(scores)
    assert "(not converged in 1000 iterations)" in format_scores(scores)
