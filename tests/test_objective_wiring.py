"""The ADU objective as the trainer's real step wires it (docs/METHOD.md section 3).

The ADU trainer is built as train.py builds it, on the tiny Office-Home tree,
and one real `forward_backward` runs on the whole training set (24 images, all
four domains, one batch). The loss functions the objective calls are wrapped
to record what each term receives (tests/adu_step_recorder.py); the test then
recomputes, in float64 and from the image encoder's raw output alone, what each term should
have received and the objective

    L = L_memorize + L_forget + gamma * CE - lambda * MMD^2

and compares the step's logged total and its gradient at the image embedding
with it. A swapped argument, a domain head fed the unnormalised embedding, a
flipped sign or an ignored setting each show up as a mismatch here.
"""
import pytest
import torch

pytest.importorskip("dassl", reason="Dassl not installed (pip install it from GitHub, see README)")

from adu_step_recorder import check_step, recorded_step  # noqa: E402
from trainer_builds import build_adu  # noqa: E402


@pytest.mark.parametrize("mmd_input", ["embedding", "domain_logits"])
def test_each_loss_term_receives_its_tensor_and_the_total_has_its_signs(
        office_home_root, tiny_clip_file, tmp_path, monkeypatch, mmd_input):
    trainer = build_adu(office_home_root, tmp_path, tiny_clip_file,
                        "TRAINER.ADU.MMD_INPUT", mmd_input)
    check_step(trainer, recorded_step(trainer, monkeypatch), mmd_input)


def test_soft_domain_targets_reach_the_domain_ce(office_home_root, tiny_clip_file,
                                                 tmp_path, monkeypatch):
    trainer = build_adu(office_home_root, tmp_path, tiny_clip_file,
                        "DATASET.DOMAIN_LABELS", "soft")
    seen = recorded_step(trainer, monkeypatch)
    targets = trainer.soft_domain_targets[seen["batch"]["index"]].cpu()
    # soft: not one-hot, so a CE on the hard labels differs
    assert not torch.equal(targets.max(dim=-1).values, torch.ones(len(targets)))
    check_step(trainer, seen, targets=targets)
