"""ADU: Approximate Domain Unlearning for CLIP, as a Dassl trainer.

Kawamura et al., "Approximate Domain Unlearning for Vision-Language Models",
NeurIPS 2025. The story of this file: load the frozen CLIP -> compose it with
the learner (deep vision prompts, InstaPG, domain classifier; modules/adu_clip.py)
-> train the learner with L_memorize + L_forget + L_domain (modules/losses.py) ->
score each test domain (engine/evaluation.py, modules/metrics.py). The math lives in those
modules; this class only wires them into Dassl.
"""
import torch
from dassl.engine import TRAINER_REGISTRY

from .engine.base import UnlearningTrainer
from .engine.domain_labels import relabel_training_domains
from .engine.precision import autocast_context
from .engine.training_step import Batch
from .modules.adu_clip import ADUCLIP
from .modules.instapg import INSTAPG_STYLES
from .modules.losses import ADULossConfig, adu_losses, check_choice


@TRAINER_REGISTRY.register()
class ADU(UnlearningTrainer):
    """Deep vision prompts + InstaPG + Domain Disentangling Loss on a frozen CLIP."""

    config_key = "ADU"
    supports_pseudo_domains = True
    # Soft domain-CE targets of every training item, by loader index
    # (DATASET.DOMAIN_LABELS soft, engine/domain_labels.py; None otherwise).
    soft_domain_targets = None

    def check_cfg(self, cfg):
        ADULossConfig.from_cfg(cfg.TRAINER.ADU)  # raises on bad loss settings
        check_choice(cfg.TRAINER.ADU.INSTAPG_STYLE, INSTAPG_STYLES, "TRAINER.ADU.INSTAPG_STYLE")

    def build_model(self):
        acfg = self.method_cfg
        dataset = self.dm.dataset
        clip_model = self.load_frozen_clip(needs_vit=True)
        self.loss_cfg = ADULossConfig.from_cfg(acfg)
        print("Building ADU (deep vision prompts"
              + (f", InstaPG at blocks {list(acfg.INSTAPG_LAYERS)}" if acfg.INSTAPG else "")
              + (", Domain Disentangling Loss" if acfg.DDL else "")
              + (f", {acfg.N_CTX_TEXT} learned text tokens to text block "
                 f"{acfg.PROMPT_DEPTH_TEXT}" if acfg.N_CTX_TEXT else "") + ")")
        self.model = ADUCLIP(
            clip_model, dataset.classnames, len(dataset.domains),
            n_ctx=acfg.N_CTX_VISION, depth=acfg.PROMPT_DEPTH_VISION,
            instapg_layers=list(acfg.INSTAPG_LAYERS) if acfg.INSTAPG else [],
            domain_head=self.loss_cfg.uses_domain_head,
            template=acfg.TEXT_TEMPLATE,
            grad_checkpointing=acfg.GRAD_CHECKPOINTING,
            instapg_style=acfg.INSTAPG_STYLE,
            n_ctx_text=acfg.N_CTX_TEXT, depth_text=acfg.PROMPT_DEPTH_TEXT,
            text_ctx_init=acfg.TEXT_CTX_INIT,
        ).to(self.device)
        self.register_learner(self.model.learner, empty_hint=(
            " PROMPT_DEPTH_VISION is 0, INSTAPG is off and the domain classifier "
            "is off: set PROMPT_DEPTH_VISION >= 1."))
        # Before the first epoch and any resume, with the stock (unprompted) encoder.
        self.pseudo_domain_record = relabel_training_domains(self, clip_model,
                                                             acfg.TEXT_TEMPLATE)

    def training_batch(self, batch) -> Batch:
        """The base's batch, with its items' soft domain targets when there are any."""
        parsed = super().training_batch(batch)
        if self.soft_domain_targets is None:
            return parsed
        return parsed._replace(
            domain_targets=self.soft_domain_targets[batch["index"].to(self.device)])

    def compute_losses(self, outputs, batch: Batch):
        """L_memorize + L_forget + L_domain of the model's outputs (the step is the base's)."""
        terms = adu_losses(outputs.logits, batch.labels, batch.domains, batch.forget_mask,
                           outputs.features, outputs.domain_logits, self.loss_cfg,
                           batch.domain_targets)
        return terms, outputs.logits

    @torch.no_grad()
    def evaluation_outputs(self, images):
        with autocast_context(self.prec, self.device):
            out = self.model(images)
        return {"logits": out.logits, "domain_logits": out.domain_logits,
                "features": out.features}
