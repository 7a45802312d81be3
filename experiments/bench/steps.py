"""The calls a benchmark times: the frozen encoder's floor, the ADU and
Baseline training steps, and the text recompute a CoOp-style trainer pays;
and the counter of text-encoder passes."""
import torch
import torch.nn as nn

from experiments.bench.models import LOSSES
from trainers.engine.loss_log import LossLog
from trainers.engine.precision import make_grad_scaler
from trainers.engine.training_step import Batch, autocast_context, training_step
from trainers.modules.losses import adu_losses
from trainers.modules.text_prompts import PromptTextFeatures, initial_context
from trainers.modules.timm_towers import image_dtype


def floor_step(clip_model, images, prec, device):
    """Frozen stock encode_image, forward + backward to the input."""
    x = images.to(image_dtype(clip_model.visual)).clone().requires_grad_(True)

    def step():
        with autocast_context(prec, device):
            out = clip_model.encode_image(x)
        out.float().sum().backward()
        x.grad = None
    return step


def adu_step(model, loss_cfg, batch, prec, device):
    """One training step of trainers/adu.py, through the functions it calls:
    training_step.training_step (forward, backward and SGD step on the
    learner, with amp's scaler under PREC amp) on ADU.compute_losses' terms,
    recorded in the trainers' log (loss_log.LossLog, whose `read` is the
    step's `read`: what the trainers call every TRAIN.PRINT_FREQ steps)."""
    images, labels, domains, forget_mask = batch
    optim = torch.optim.SGD(model.learner.parameters(), lr=0.0025, momentum=0.9,
                            weight_decay=5e-4)
    scaler = make_grad_scaler(prec, device)

    def objective(out, batch):  # ADU.compute_losses
        return adu_losses(logits=out.logits, labels=batch.labels, domains=batch.domains,
                          forget_mask=batch.forget_mask, features=out.features,
                          domain_logits=out.domain_logits, objective=loss_cfg), out.logits

    log = LossLog(prec=prec)
    train_batch = Batch(images, labels, domains, forget_mask)

    def step():
        terms, logits = training_step(model, train_batch, objective, [optim], scaler, prec,
                                      device)
        log.add(terms, logits, train_batch, 0)
    step.read = log.read
    return step


def timed_step(name, models, batch, prec, device):
    if name == "floor":
        return floor_step(models["clip"], batch[0], prec, device)
    model = models[name]
    model.train()
    return adu_step(model, LOSSES[name], batch, prec, device)


class CoOpStyleText(nn.Module):
    """Class text features recomputed through the frozen text encoder with a
    learnable context, "X X X X {class}.", by the piece CoOpADU uses
    (PromptTextFeatures, trainers/modules/text_prompts.py): what a trainer
    that learns text prompts pays every step and ADU does not."""

    def __init__(self, clip_model, num_classes: int, n_ctx: int = 4):
        super().__init__()
        self.features = PromptTextFeatures(
            clip_model, [f"class {i}" for i in range(num_classes)], n_ctx)
        device = clip_model.token_embedding.weight.device
        self.ctx = nn.Parameter(initial_context(clip_model, n_ctx).to(device))

    def forward(self) -> torch.Tensor:
        return self.features(self.ctx)


def text_recompute_step(text: CoOpStyleText, prec, device):
    """Text-encoder forward + backward to the context for its classes."""
    def step():
        with autocast_context(prec, device):
            feats = text()
        feats.sum().backward()
        text.ctx.grad = None
    return step


class TextCallCounter:
    """Counts text-encoder passes: calls of CLIP's final text LayerNorm, which
    encode_text and the prompt encoders of text_prompts.py all end with (a
    timm-tower model's is in its separate text tower, `text`)."""

    def __init__(self, clip_model):
        self.calls = 0
        text_tower = getattr(clip_model, "text", clip_model)
        self.handle = text_tower.ln_final.register_forward_pre_hook(self._count)

    def _count(self, module, inputs):
        self.calls += 1
