"""The shared trainer of the comparison methods: L = L_memorize + L_forget.

ADU-METHOD.md section 8: every comparison method is trained with the same
two terms as ADU, without the Domain Disentangling Loss. A subclass names
its config node (`config_key`, under cfg.TRAINER) and, in `build_model`,
builds `self.model` (images -> class logits, with the frozen CLIP as
`self.model.clip`) and registers what it trains with `register_learner`.
Everything else (the loss, the update, the log, evaluation, checkpoints)
is shared, here and in base.py.
"""
import torch
from dassl.optim import build_optimizer

from .base import UnlearningTrainer, batch_summary
from .clip_loading import freeze, load_clip, require_vit
from .losses import check_forget_loss, memorize_forget_losses
from .lr_scheduler import build_lr_scheduler
from .precision import autocast_context, cast_clip, make_grad_scaler, resolve_precision


class MemorizeForgetTrainer(UnlearningTrainer):
    """Base of the comparison trainers (not registered itself)."""

    config_key = ""

    @property
    def method_cfg(self):
        return self.cfg.TRAINER[self.config_key]

    def check_cfg(self, cfg):
        node = cfg.TRAINER[self.config_key]
        if "FORGET_LOSS" in node:
            check_forget_loss(node.FORGET_LOSS, f"TRAINER.{self.config_key}.FORGET_LOSS")

    def load_frozen_clip(self, needs_vit: bool = False):
        """The backbone on this trainer's device, in its PREC, with every weight frozen."""
        name = self.cfg.MODEL.BACKBONE.NAME
        print(f"Loading CLIP ({name})")
        clip_model = load_clip(name)
        if needs_vit:
            require_vit(clip_model, name, self.cfg.TRAINER.NAME)
        self.prec = resolve_precision(self.method_cfg.PREC, self.device)
        cast_clip(clip_model.to(self.device), self.prec)
        return freeze(clip_model)

    def register_learner(self, learner: torch.nn.Module):
        """Optimise and save `learner` (the trainable parameters only)."""
        n_params = sum(p.numel() for p in learner.parameters() if p.requires_grad)
        if n_params == 0:
            raise ValueError(f"{self.cfg.TRAINER.NAME} has no trainable parameter.")
        print(f"Trainable parameters: {n_params:,}")
        self.optim = build_optimizer(learner, self.cfg.OPTIM)
        self.sched = build_lr_scheduler(self.optim, self.cfg.OPTIM)
        self.register_model("learner", learner, self.optim, self.sched)
        self.scaler = make_grad_scaler(self.prec, self.device)

    def losses(self, logits, labels, forget_mask) -> dict:
        return memorize_forget_losses(logits, labels, forget_mask, self.method_cfg.FORGET_LOSS)

    def forward_backward(self, batch):
        images, labels, domains = self.parse_batch_train(batch)
        forget_mask = self.forget_mask(domains)
        with autocast_context(self.prec, self.device):
            logits = self.model(images)
        terms = self.losses(logits, labels, forget_mask)
        self.update(terms)
        return batch_summary(terms, logits, labels, forget_mask)

    @torch.no_grad()
    def model_inference(self, images):
        with autocast_context(self.prec, self.device):
            return self.model(images).float()
