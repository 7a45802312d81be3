"""What every trainer shares: the training step and its non-finite loss stop."""
import copy

import pytest
import torch
import torch.nn as nn

pytest.importorskip("dassl", reason="Dassl not installed (pip install it from GitHub, see README)")

from trainers.engine.training_step import Batch, check_finite, training_step  # noqa: E402


def test_non_finite_loss_names_the_term_epoch_batch_and_the_fix():
    terms = {"memorize": torch.tensor(1.0), "mmd2": torch.tensor(float("nan")),
             "total": torch.tensor(float("nan"))}
    with pytest.raises(FloatingPointError,
                       match=r"'mmd2' is nan at epoch 3, batch 5\. Try PREC fp32 or amp"):
        check_finite(terms, epoch=2, batch_idx=4, prec="fp16")


def test_finite_losses_pass_and_fp32_runs_get_no_precision_hint():
    check_finite({"total": torch.tensor(0.5)}, 0, 0, "fp16")
    with pytest.raises(FloatingPointError) as err:
        check_finite({"total": torch.tensor(float("inf"))}, 0, 0, "fp32")
    assert "PREC" not in str(err.value)


def squared_output(out, batch):
    return {"square": out.pow(2).mean(), "total": out.pow(2).mean()}, out


def as_batch(x):
    """A Batch of inputs `x` whose labels no objective here reads."""
    no_labels = torch.zeros(len(x), dtype=torch.long)
    return Batch(x, no_labels, no_labels, no_labels.bool())


def test_training_step_is_forward_losses_then_a_fresh_backward_and_step():
    torch.manual_seed(0)
    model, x = nn.Linear(3, 2), torch.randn(4, 3)
    by_hand = copy.deepcopy(model)
    optim = torch.optim.SGD(model.parameters(), lr=0.1)
    for p in model.parameters():  # a stale gradient: the step must zero it first
        p.grad = torch.ones_like(p)
    terms, logits = training_step(model, as_batch(x), squared_output, [optim, None])

    out = by_hand(x)
    loss = out.pow(2).mean()
    loss.backward()
    torch.optim.SGD(by_hand.parameters(), lr=0.1).step()
    for ours, theirs in zip(model.parameters(), by_hand.parameters()):
        assert torch.equal(ours, theirs)
    assert torch.equal(terms["total"].detach(), loss.detach())
    assert torch.equal(logits.detach(), out.detach())


def test_training_step_never_reads_a_loss_on_the_host():
    """The step runs on into a non-finite loss (the log stops the run at its
    next read, loss_log.py): no check that would wait for the device."""
    model, x = nn.Linear(3, 2), torch.randn(4, 3)
    optim = torch.optim.SGD(model.parameters(), lr=0.1)

    def nan_loss(out, batch):
        return {"total": out.sum() * float("nan")}, out

    terms, _ = training_step(model, as_batch(x), nan_loss, [optim])
    assert terms["total"].isnan()
    assert all(p.isnan().all() for p in model.parameters())
