"""One real ADU training step, recorded, and the objective it should have
computed written out in float64 (tests/test_objective_wiring.py and
tests/test_release_switches.py).

On the ADU trainer built as train.py builds it (tests/trainer_builds.py
`build_adu`, the tiny Office-Home tree), one real `forward_backward` runs on
the whole training set (24 images, all four domains, one batch). Each loss
function the objective calls is wrapped to record the keyword arguments it
receives.
"""
import pytest
import torch

import trainers.modules.losses as losses
from trainers.engine.loss_log import LossLog


def recorded_step(trainer, monkeypatch):
    """One real forward_backward; returns what it saw: the Dassl batch, the
    raw (unnormalised) image embedding and its gradient, each loss
    function's keyword arguments ("memorize_loss", "domain_ce_loss", and the
    objective's "forget" and "mmd2" functions, kept as "forget_fn" and
    "mmd_fn"), the terms and the summary."""
    seen = {"calls": {}}

    def recording(name, original):
        def wrapper(**kwargs):
            seen["calls"].setdefault(name, []).append(
                {k: v.detach().clone() if torch.is_tensor(v) else v for k, v in kwargs.items()})
            return original(**kwargs)
        return wrapper

    for name in ("memorize_loss", "domain_ce_loss"):
        monkeypatch.setattr(losses, name, recording(name, getattr(losses, name)))
    objective = trainer.objective
    seen["forget_fn"], seen["mmd_fn"] = objective.forget, objective.mmd
    monkeypatch.setattr(objective, "forget", recording("forget", objective.forget))
    monkeypatch.setattr(objective, "mmd", recording("mmd2", objective.mmd))

    def on_encoder_output(module, inputs, output):
        seen["raw"] = output
        output.register_hook(lambda grad: seen.__setitem__("raw_grad", grad.detach().clone()))
    handle = trainer.model.image_encoder.register_forward_hook(on_encoder_output)

    compute_losses = trainer.compute_losses

    def recording_compute_losses(outputs, batch):
        terms, logits = compute_losses(outputs, batch)
        seen["terms"] = {k: v.detach().clone() for k, v in terms.items()}
        return terms, logits
    monkeypatch.setattr(trainer, "compute_losses", recording_compute_losses)

    trainer.set_model_mode("train")
    trainer.epoch, trainer.batch_idx, trainer.num_batches = 0, 0, 1
    batch = next(iter(trainer.train_loader_x))
    seen["batch"] = batch
    # the domain head's weights as the step read them (it steps them afterwards)
    head = trainer.model.learner.domain_head
    seen["head"] = (head.weight.detach().double().clone(), head.bias.detach().double().clone())
    try:
        step = trainer.forward_backward(batch)
        log = LossLog()  # what the training log shows of the step
        log.add(*step, 0)
        seen["summary"] = {name: last for name, (last, _) in log.read().items()}
    finally:
        handle.remove()
    return seen


def only_call(seen, name):
    calls = seen["calls"].get(name, [])
    assert len(calls) == 1, f"{name} called {len(calls)} times"
    return calls[0]


def lower_median(values):
    ordered = sorted(values)
    return ordered[(len(ordered) - 1) // 2]


def hand_mmd2(x, domains):
    """Squared MMD of x [B, F] (float64), averaged over the pairs of domains
    present, with one Gaussian kernel exp(-d^2/h), h the median squared distance
    over the distinct pairs of the batch (held constant), written pair by pair."""
    n = x.shape[0]
    sq = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    h = lower_median([sq[i, j].item() for i in range(n) for j in range(i + 1, n)])
    k = torch.exp(-sq / h)
    doms = sorted(set(domains.tolist()))
    values = []
    for i, a in enumerate(doms):
        for b in doms[i + 1:]:
            ia = [t for t in range(n) if domains[t] == a]
            ib = [t for t in range(n) if domains[t] == b]
            values.append(k[ia][:, ia].mean() + k[ib][:, ib].mean() - 2 * k[ia][:, ib].mean())
    return sum(values) / len(values)


def hand_objective(trainer, seen, raw, mmd_input="embedding", targets=None):
    """Every term in float64 from the raw embedding `raw`: (class logits,
    normalised embedding, domain logits, terms, total)."""
    model, batch = trainer.model, seen["batch"]
    labels, domains = batch["label"], batch["domain"]
    forget = torch.isin(domains, torch.tensor(trainer.dm.dataset.forget_domain_ids))
    z = raw / raw.norm(dim=-1, keepdim=True)
    text = model.fixed_text_features.detach().double()
    logits = model.logits.scale.detach().double() * z @ text.t()  # exp(CLIP logit_scale)
    log_p = torch.log_softmax(logits, dim=-1)
    rows = torch.arange(len(labels))
    memorize = (-log_p[rows, labels])[~forget].mean()
    forget_term = (-log_p.mean(dim=-1))[forget].mean()
    weight, bias = seen["head"]
    domain_logits = z @ weight.t() + bias
    log_q = torch.log_softmax(domain_logits, dim=-1)
    if targets is None:
        ce = (-log_q[rows, domains]).mean()
    else:
        ce = (-(targets.double() * log_q).sum(dim=-1)).mean()
    mmd = hand_mmd2(z if mmd_input == "embedding" else domain_logits, domains)
    cfg = trainer.cfg.TRAINER.ADU
    total = memorize + forget_term + cfg.DDL_GAMMA * ce - cfg.DDL_LAMBDA * mmd
    terms = {"memorize": memorize, "forget": forget_term, "domain_ce": ce, "mmd2": mmd}
    return logits, z, domain_logits, terms, total


def close(got, want, tol=1e-4):
    torch.testing.assert_close(got.double(), want.detach().double(), rtol=tol, atol=tol)


def check_step(trainer, seen, mmd_input="embedding", targets=None):
    batch = seen["batch"]
    raw = seen["raw"].detach().double().requires_grad_(True)
    logits, z, domain_logits, terms, total = hand_objective(trainer, seen, raw, mmd_input,
                                                            targets)
    forget = torch.isin(batch["domain"], torch.tensor(trainer.dm.dataset.forget_domain_ids))
    assert forget.any() and (~forget).any() and len(set(batch["domain"].tolist())) == 4

    # the class losses get the class logits, the class labels and the forget mask
    mem = only_call(seen, "memorize_loss")
    close(mem["logits"], logits)
    assert torch.equal(mem["labels"], batch["label"]) and torch.equal(mem["forget_mask"], forget)
    fgt = only_call(seen, "forget")
    close(fgt["logits"], logits)
    assert torch.equal(fgt["forget_mask"], forget) and seen["forget_fn"] is losses.forget_loss
    # the domain CE gets the head's logits of the L2-normalised embedding
    ce = only_call(seen, "domain_ce_loss")
    close(ce["domain_logits"], domain_logits)
    if targets is None:
        assert torch.equal(ce["targets"], batch["domain"])
    else:
        close(ce["targets"], targets, tol=0)
    # the MMD gets the embedding (or the domain logits), grouped by domain,
    # with the paper's kernel (one median bandwidth for the batch)
    mmd = only_call(seen, "mmd2")
    close(mmd["features"], z if mmd_input == "embedding" else domain_logits)
    assert torch.equal(mmd["domains"], batch["domain"])
    assert seen["mmd_fn"].func is losses.mmd2 and seen["mmd_fn"].keywords == {"bandwidth": "median"}

    # every term, the total with its signs, and the gradient the step took
    for name, want in terms.items():
        close(seen["terms"][name], want)
    close(seen["terms"]["total"], total)
    assert seen["summary"]["loss_total"] == pytest.approx(total.item(), rel=1e-4)
    (grad,) = torch.autograd.grad(total, raw)
    close(seen["raw_grad"], grad)
    # the MMD term is not negligible here: its sign shows in the total
    cfg = trainer.cfg.TRAINER.ADU
    assert cfg.DDL_LAMBDA * terms["mmd2"].item() > 1e-3


