"""What every trainer shares: the non-finite loss stop."""
import pytest
import torch

pytest.importorskip("dassl", reason="Dassl not installed (pip install it from GitHub, see README)")

from trainers.engine.base import check_finite  # noqa: E402


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
