"""The shared trainer of the comparison methods: L = L_memorize + L_forget.

docs/METHOD.md section 8: every comparison method is trained with the same
two terms as ADU, without the Domain Disentangling Loss. A subclass names
its config node (`config_key`, under cfg.TRAINER) and, in `build_model`,
builds `self.model` (images -> class logits, with the frozen CLIP as
`self.model.clip`) and registers what it trains (`register_learner` for a
gradient-trained learner with the shared optimiser and schedule;
`register_model` directly where the method steps itself, as LP++ and BBF do).
Everything else (the loss, the training step, the log, evaluation,
checkpoints) is shared, here and in base.py.
"""
import functools

import torch

from ..config_checks import check_forget_loss
from ..modules.losses import memorize_forget_losses
from ..modules.release import forget_loss_named
from .base import UnlearningTrainer
from .training_step import autocast_context
from .training_step import Batch


class MemorizeForgetTrainer(UnlearningTrainer):
    """Base of the comparison trainers (not registered itself)."""

    def check_cfg(self, cfg):
        node = cfg.TRAINER[self.config_key]
        if "FORGET_LOSS" in node:
            check_forget_loss(node.FORGET_LOSS, f"TRAINER.{self.config_key}.FORGET_LOSS")

    @functools.cached_property
    def forget_term(self):
        """The L_forget function of FORGET_LOSS (read once): the paper's
        uniform_ce, or the release's neg_entropy."""
        return forget_loss_named(self.method_cfg.FORGET_LOSS)

    def compute_losses(self, logits, batch: Batch):
        """L_memorize + L_forget of the class logits `self.model` returns."""
        terms = memorize_forget_losses(logits=logits, labels=batch.labels,
                                       forget_mask=batch.forget_mask, forget=self.forget_term)
        return terms, logits

    @torch.no_grad()
    def evaluation_outputs(self, images):
        """Logits, plus the image embeddings (for the linear probes) where the
        model exposes them through `logits_and_features`."""
        with autocast_context(self.prec, self.device):
            if hasattr(self.model, "logits_and_features"):
                logits, features = self.model.logits_and_features(images)
                return {"logits": logits.float(), "features": features.float()}
            return {"logits": self.model(images).float()}
