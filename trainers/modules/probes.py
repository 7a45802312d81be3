"""Linear probes on a model's image embeddings (docs/METHOD.md section 9).

The paper reports its domain classifier's accuracy, which only exists for
models trained with the Domain Disentangling Loss. Probes score any model
that exposes its embeddings, zero-shot CLIP included:

- domain probe: can the domain be read off the embedding linearly?
- forget-class probe: can the classes of the FORGOTTEN domains still be
  recovered by a linear classifier trained on their few labelled shots?
  (A privacy-style check the paper names as missing: forgetting that a probe
  undoes is shallow.)

Both fit a multinomial logistic regression on the training shots'
embeddings (test-time transform), to a gradient tolerance, and score the
test embeddings; results.json records whether each fit converged.
"""
from typing import NamedTuple

import torch
import torch.nn.functional as F

# The stopping rule: the largest entry of the objective's gradient (float64).
GRAD_TOL = 1e-6
MAX_ITER = 1000
# L-BFGS restarts (history cleared) when its line search stalls short of GRAD_TOL.
RESTARTS = 3


class ProbeFit(NamedTuple):
    weight: torch.Tensor
    bias: torch.Tensor
    converged: bool      # the gradient's largest entry reached GRAD_TOL
    iterations: int      # L-BFGS iterations over every restart
    grad_max: float      # that entry at the returned weights


class ProbeResult(NamedTuple):
    accuracy: float      # % of the test set
    converged: bool
    iterations: int


def fit_logistic_regression(x, y, num_classes: int, l2: float = 1e-4, grad_tol=GRAD_TOL,
                            max_iter: int = MAX_ITER, device=None) -> ProbeFit:
    """Full-batch L-BFGS on the mean cross-entropy + l2 * ||W||^2 in float64,
    on `device` (default: x's), until the gradient's largest entry is at most
    `grad_tol` or `max_iter` iterations have run. The objective is strictly
    convex in W, so a small gradient means the probe is (near) its optimum:
    an early stop would understate what a probe reads off the features."""
    x = x.to(device).double()
    y = y.to(x.device)
    weight = torch.zeros(x.shape[1], num_classes, dtype=x.dtype, device=x.device,
                         requires_grad=True)
    bias = torch.zeros(num_classes, dtype=x.dtype, device=x.device, requires_grad=True)

    def objective():
        return F.cross_entropy(x @ weight + bias, y) + l2 * weight.pow(2).sum()

    def grad_max() -> float:
        gw, gb = torch.autograd.grad(objective(), [weight, bias])
        return max(gw.abs().max().item(), gb.abs().max().item())

    iterations, g = 0, float("inf")
    with torch.enable_grad():
        for _ in range(RESTARTS + 1):
            # tolerance_change 0: only the gradient stops it (or max_iter, or a stalled search)
            opt = torch.optim.LBFGS([weight, bias], max_iter=max_iter - iterations,
                                    max_eval=4 * (max_iter - iterations), tolerance_grad=grad_tol,
                                    tolerance_change=0.0, history_size=20,
                                    line_search_fn="strong_wolfe")

            def closure():
                opt.zero_grad()
                loss = objective()
                loss.backward()
                return loss

            opt.step(closure)
            iterations += opt.state[weight].get("n_iter", 0)
            g = grad_max()
            if g <= grad_tol or iterations >= max_iter:
                break
    return ProbeFit(weight.detach(), bias.detach(), g <= grad_tol, iterations, g)


def fit_probe(train_x, train_y, test_x, test_y, device=None) -> ProbeResult:
    """A linear probe fitted on the training set, scored on the test set."""
    classes = torch.unique(train_y)
    remap = torch.full((int(max(train_y.max(), test_y.max())) + 1,), -1, dtype=torch.long)
    remap[classes] = torch.arange(len(classes))
    fit = fit_logistic_regression(train_x, remap[train_y], len(classes), device=device)
    pred = (test_x.to(fit.weight.device).double() @ fit.weight + fit.bias).argmax(dim=-1)
    accuracy = 100.0 * (pred.cpu() == remap[test_y]).double().mean().item()
    return ProbeResult(accuracy, fit.converged, fit.iterations)


def probe_accuracy(train_x, train_y, test_x, test_y, device=None) -> float:
    """Accuracy (%) on the test set of a linear probe fitted on the training set."""
    return fit_probe(train_x, train_y, test_x, test_y, device).accuracy


def probe_scores(train, test, forget_ids, device=None) -> dict:
    """Both probes from (features, labels, domains) of the shots and the test
    split: their accuracies, and whether each converged in how many iterations."""
    (tr_x, tr_y, tr_d), (te_x, te_y, te_d) = train, test
    forget = torch.tensor(list(forget_ids))
    tr_f, te_f = torch.isin(tr_d, forget), torch.isin(te_d, forget)
    scores = {}
    for name, result in (
            ("domain_probe", fit_probe(tr_x, tr_d, te_x, te_d, device)),
            ("forget_class_probe", fit_probe(tr_x[tr_f], tr_y[tr_f], te_x[te_f], te_y[te_f],
                                             device))):
        scores[f"{name}_accuracy"] = result.accuracy
        scores[f"{name}_converged"] = result.converged
        scores[f"{name}_iterations"] = result.iterations
    return scores


def first_k_per_class(labels, k: int) -> torch.Tensor:
    """Mask of the first `k` samples of each class, in the order given."""
    labels = torch.as_tensor(labels)
    rank = torch.zeros_like(labels)
    for c in torch.unique(labels):
        where = labels == c
        rank[where] = torch.arange(int(where.sum()))
    return rank < k


def probe_curve(train_x, train_y, test_x, test_y, shots) -> dict:
    """{k: accuracy (%) of a probe fitted on the first k samples of each class}.

    With the training samples drawn as nested k-shot sets (each class's
    samples in one seeded random order), the curve shows how much labelled
    data a linear read-out needs to recover the classes."""
    curve = {}
    for k in shots:
        keep = first_k_per_class(train_y, k)
        curve[k] = probe_accuracy(train_x[keep], train_y[keep], test_x, test_y)
    return curve
