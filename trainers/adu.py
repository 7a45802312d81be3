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

from .engine.base import UnlearningTrainer, batch_summary
from .engine.precision import autocast_context
from .modules.adu_clip import ADUCLIP
from .modules.losses import ADULossConfig, adu_losses


@TRAINER_REGISTRY.register()
class ADU(UnlearningTrainer):
    """Deep vision prompts + InstaPG + Domain Disentangling Loss on a frozen CLIP."""

    config_key = "ADU"

    def check_cfg(self, cfg):
        ADULossConfig.from_cfg(cfg.TRAINER.ADU)  # raises on bad loss settings

    def build_model(self):
        acfg = self.method_cfg
        dataset = self.dm.dataset
        clip_model = self.load_frozen_clip(needs_vit=True)
        self.loss_cfg = ADULossConfig.from_cfg(acfg)
        print("Building ADU (deep vision prompts"
              + (f", InstaPG at blocks {list(acfg.INSTAPG_LAYERS)}" if acfg.INSTAPG else "")
              + (", Domain Disentangling Loss" if acfg.DDL else "") + ")")
        self.model = ADUCLIP(
            clip_model, dataset.classnames, len(dataset.domains),
            n_ctx=acfg.N_CTX_VISION, depth=acfg.PROMPT_DEPTH_VISION,
            instapg_layers=list(acfg.INSTAPG_LAYERS) if acfg.INSTAPG else [],
            domain_head=self.loss_cfg.uses_domain_head,
            template=acfg.TEXT_TEMPLATE,
            grad_checkpointing=acfg.GRAD_CHECKPOINTING,
        ).to(self.device)
        self.register_learner(self.model.learner, empty_hint=(
            " PROMPT_DEPTH_VISION is 0, INSTAPG is off and the domain classifier "
            "is off: set PROMPT_DEPTH_VISION >= 1."))

    def forward_backward(self, batch):
        images, labels, domains = self.parse_batch_train(batch)
        forget_mask = self.forget_mask(domains)
        with autocast_context(self.prec, self.device):
            out = self.model(images)
        terms = adu_losses(out.logits, labels, domains, forget_mask,
                           out.features, out.domain_logits, self.loss_cfg)
        self.update(terms)
        return batch_summary(terms, out.logits, labels, forget_mask)

    @torch.no_grad()
    def evaluation_outputs(self, images):
        with autocast_context(self.prec, self.device):
            out = self.model(images)
        return {"logits": out.logits, "domain_logits": out.domain_logits,
                "features": out.features}
