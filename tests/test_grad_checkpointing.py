"""GRAD_CHECKPOINTING trades memory for time and changes no number: one ADU
step with it equals the step without it (outputs and every gradient of the
learner), and the checkpointed path is the one taken. In-process and tiny,
so the fast tier guards it (tests/test_reproducibility.py checks a whole run)."""
import copy

import torch

from trainers.modules import adu_model
from trainers.modules.adu_model import ADUCLIP
from trainers.modules.losses import ADUObjective, adu_losses


def one_step(clip_model, grad_checkpointing):
    torch.manual_seed(3)
    model = ADUCLIP(clip_model, ["circle", "square", "star"], 2, n_ctx=2, depth=3,
                    instapg_layers=[2], grad_checkpointing=grad_checkpointing).train()
    images = torch.randn(6, 3, 32, 32, generator=torch.Generator().manual_seed(4))
    labels, domains = torch.tensor([0, 1, 2, 0, 1, 2]), torch.tensor([0, 0, 0, 1, 1, 1])
    out = model(images)
    terms = adu_losses(logits=out.logits, labels=labels, domains=domains,
                       forget_mask=domains == 1, features=out.features,
                       domain_logits=out.domain_logits, objective=ADUObjective())
    terms["total"].backward()
    grads = {n: p.grad.clone() for n, p in model.learner.named_parameters()}
    return out.features.detach(), terms["total"].detach(), grads


def test_a_checkpointed_step_equals_the_plain_step(tiny_clip, monkeypatch):
    calls = []
    real = adu_model.checkpoint

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    plain = one_step(copy.deepcopy(tiny_clip), False)
    assert not calls
    monkeypatch.setattr(adu_model, "checkpoint", counted)
    checkpointed = one_step(copy.deepcopy(tiny_clip), True)
    assert len(calls) == len(tiny_clip.visual.transformer.resblocks)
    torch.testing.assert_close(checkpointed[0], plain[0], rtol=0, atol=0)
    torch.testing.assert_close(checkpointed[1], plain[1], rtol=0, atol=0)
    assert checkpointed[2].keys() == plain[2].keys() and plain[2]
    for name, grad in plain[2].items():
        torch.testing.assert_close(checkpointed[2][name], grad, rtol=0, atol=1e-7, msg=name)
