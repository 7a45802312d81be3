"""The training log kept on the device (trainers/engine/loss_log.py) and the
host syncs of a real training step (experiments/bench/syncs.py counts them)."""
import pytest
import torch

pytest.importorskip("dassl", reason="Dassl not installed (pip install it from GitHub, see README)")

from experiments.bench.syncs import SyncCounter  # noqa: E402
from trainers.engine.loss_log import LossLog, format_values  # noqa: E402
from trainers.engine.training_step import Batch, training_step  # noqa: E402
from trainers.modules.adu_model import ADUCLIP  # noqa: E402
from trainers.modules.losses import ADUObjective, adu_losses  # noqa: E402
from trainers.modules.release import mmd2_pair_median  # noqa: E402


def batch_of(labels, forget):
    labels = torch.tensor(labels)
    return Batch(None, labels, labels * 0, torch.tensor(forget))


def one_hot_logits(predictions):
    return torch.nn.functional.one_hot(torch.tensor(predictions), 3).float()


def test_the_log_keeps_last_and_mean_and_averages_accuracy_over_the_steps_that_had_it():
    log = LossLog()
    # step 1: 2 memorize samples (1 right), 1 forget sample (right)
    log.add({"memorize": torch.tensor(1.0), "total": torch.tensor(3.0)},
            one_hot_logits([0, 2, 1]), batch_of([0, 1, 1], [False, False, True]), 0)
    # step 2: memorize samples only (both right)
    log.add({"memorize": torch.tensor(2.0), "total": torch.tensor(5.0)},
            one_hot_logits([2, 2]), batch_of([2, 2], [False, False]), 1)
    values = log.read()
    assert values == {"loss_memorize": (2.0, 1.5), "loss_total": (5.0, 4.0),
                      "acc_mem": (100.0, 75.0), "acc_forget": (100.0, 100.0)}
    assert format_values(values).startswith("loss_memorize 2.0000 (1.5000) loss_total")


def test_a_non_finite_term_stops_the_run_at_the_read_naming_the_first_bad_batch():
    log = LossLog(epoch=2, prec="fp16")
    logits, batch = one_hot_logits([0]), batch_of([0], [False])
    log.add({"mmd2": torch.tensor(0.5), "total": torch.tensor(1.0)}, logits, batch, 0)
    for batch_idx in (1, 2):  # nan first at batch 2, inf again at batch 3
        bad = float("nan") if batch_idx == 1 else float("inf")
        log.add({"mmd2": torch.tensor(bad), "total": torch.tensor(bad)}, logits, batch,
                batch_idx)
    with pytest.raises(FloatingPointError,
                       match=r"'mmd2' is nan at epoch 3, batch 2\. Try PREC fp32 or amp"):
        log.read()


def adu_model_and_step(tiny_clip, kernel="batch_median"):
    """A real ADU step (training_step on adu_losses) of the tiny CLIP, and its batch."""
    torch.manual_seed(0)
    model = ADUCLIP(tiny_clip, ["circle", "square", "star"], 3, n_ctx=2, depth=2,
                    instapg_layers=[2])
    optim = torch.optim.SGD(model.learner.parameters(), lr=0.01, momentum=0.9)
    terms = (ADUObjective(mmd=mmd2_pair_median) if kernel == "pair_median"
             else ADUObjective())
    domains = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    batch = Batch(torch.randn(8, 3, 32, 32), torch.tensor([0, 1, 2, 0, 1, 2, 1, 0]), domains,
                  domains == 2)

    def objective(out, b):
        return adu_losses(logits=out.logits, labels=b.labels, domains=b.domains,
                          forget_mask=b.forget_mask, features=out.features,
                          domain_logits=out.domain_logits, objective=terms), out.logits
    return lambda: training_step(model, batch, objective, [optim]), batch


def test_real_adu_steps_and_their_log_sync_once_per_read(tiny_clip):
    step, batch = adu_model_and_step(tiny_clip)
    log = LossLog()
    with SyncCounter() as stepping:
        for i in range(3):
            log.add(*step(), batch, i)
    with SyncCounter() as reading:
        values = log.read()
    assert stepping.count == 0, stepping.calls
    assert reading.count == 1, reading.calls
    assert {"loss_mmd2", "loss_total", "acc_mem", "acc_forget"} <= set(values)


def test_the_counter_counts_what_would_stall_a_gpu():
    x = torch.randn(6)
    with SyncCounter() as syncs:
        x.sum().item()
        if (x > 0).any():
            pass
        torch.unique(x)
        x[x > 0]
        x[:2] * 2 + x[torch.tensor([0, 1])]  # device work and integer indexing: no sync
    assert syncs.count == 4, syncs.calls


@pytest.mark.parametrize("switches, name", [
    ({}, "loss_domain[30*domain_ce-10*mmd2]"),
    ({"gamma": 2.5, "lam": 0.5}, "loss_domain[2.5*domain_ce-0.5*mmd2]"),
    ({"ddl_ce": False}, "loss_domain[-10*mmd2]"),
    ({"ddl_mmd": False}, "loss_domain[30*domain_ce]"),
    ({"ddl": False}, None),
])
def test_the_log_names_the_parts_of_adus_domain_loss(switches, name):
    """loss_domain = gamma * CE - lambda * MMD^2 may go negative: its line says so."""
    from trainers.adu import ADU
    from trainers.engine.loss_log import shown
    from trainers.engine.progress import epoch_line
    trainer = ADU.__new__(ADU)
    trainer.objective = ADUObjective(**switches)
    values = {"loss_domain_ce": (1.0, 1.0), "loss_mmd2": (4.0, 4.0),
              "loss_domain": (-10.0, -10.0)}
    line = format_values(shown(values, trainer.loss_names()))
    means = {k: mean for k, (_, mean) in shown(values, trainer.loss_names()).items()}
    if name is None:
        assert trainer.loss_names() == {} and "loss_domain -10.0000" in line
    else:
        assert f"{name} -10.0000 (-10.0000)" in line
        assert f"{name} -10.0000 elapsed" in epoch_line(0, 1, means, 1.0, 0.0)
    assert "loss_domain_ce 1.0000" in line and "loss_mmd2 4.0000" in line
