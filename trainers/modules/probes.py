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
embeddings (test-time transform) and score the test embeddings.
"""
import torch
import torch.nn.functional as F


def fit_logistic_regression(x, y, num_classes: int, l2: float = 1e-4, max_iter: int = 100):
    """Full-batch L-BFGS on the mean cross-entropy + l2 * ||W||^2; returns (W, b)."""
    x = x.double()
    weight = torch.zeros(x.shape[1], num_classes, dtype=x.dtype, requires_grad=True)
    bias = torch.zeros(num_classes, dtype=x.dtype, requires_grad=True)
    opt = torch.optim.LBFGS([weight, bias], max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(x @ weight + bias, y) + l2 * weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    return weight.detach(), bias.detach()


def probe_accuracy(train_x, train_y, test_x, test_y) -> float:
    """Accuracy (%) on the test set of a linear probe fitted on the training set."""
    classes = torch.unique(train_y)
    remap = torch.full((int(max(train_y.max(), test_y.max())) + 1,), -1, dtype=torch.long)
    remap[classes] = torch.arange(len(classes))
    weight, bias = fit_logistic_regression(train_x, remap[train_y], len(classes))
    pred = (test_x.double() @ weight + bias).argmax(dim=-1)
    return 100.0 * (pred == remap[test_y]).double().mean().item()


def probe_scores(train, test, forget_ids) -> dict:
    """Both probes from (features, labels, domains) of the shots and the test split."""
    (tr_x, tr_y, tr_d), (te_x, te_y, te_d) = train, test
    scores = {"domain_probe_accuracy": probe_accuracy(tr_x, tr_d, te_x, te_d)}
    forget = torch.tensor(list(forget_ids))
    tr_f, te_f = torch.isin(tr_d, forget), torch.isin(te_d, forget)
    scores["forget_class_probe_accuracy"] = probe_accuracy(
        tr_x[tr_f], tr_y[tr_f], te_x[te_f], te_y[te_f])
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
