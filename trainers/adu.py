"""ADU: Approximate Domain Unlearning for CLIP, as a Dassl trainer.

Kawamura et al., "Approximate Domain Unlearning for Vision-Language Models",
NeurIPS 2025. The story of this file: load the frozen CLIP -> compose it with
the learner (deep vision prompts, InstaPG, domain classifier; adu_model.py)
-> train the learner with L_memorize + L_forget + L_domain (losses.py) ->
score each test domain (evaluation.py, metrics.py). The math lives in those
modules; this class only wires them into Dassl.
"""
import torch
from dassl.engine import TRAINER_REGISTRY
from dassl.optim import build_optimizer

from .adu_model import ADUCLIP
from .base import UnlearningTrainer, batch_summary
from .clip_loading import load_clip, require_vit
from .losses import ADULossConfig, adu_losses
from .lr_scheduler import build_lr_scheduler
from .precision import autocast_context, cast_clip, make_grad_scaler, resolve_precision


@TRAINER_REGISTRY.register()
class ADU(UnlearningTrainer):
    """Deep vision prompts + InstaPG + Domain Disentangling Loss on a frozen CLIP."""

    def check_cfg(self, cfg):
        ADULossConfig.from_cfg(cfg.TRAINER.ADU)  # raises on bad loss settings

    def build_model(self):
        cfg, acfg = self.cfg, self.cfg.TRAINER.ADU
        dataset = self.dm.dataset
        print(f"Loading CLIP ({cfg.MODEL.BACKBONE.NAME})")
        clip_model = load_clip(cfg.MODEL.BACKBONE.NAME)
        require_vit(clip_model, cfg.MODEL.BACKBONE.NAME, "ADU")
        self.prec = resolve_precision(acfg.PREC, self.device)
        cast_clip(clip_model.to(self.device), self.prec)

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
        ).to(self.device)
        learner = self.model.learner
        n_params = sum(p.numel() for p in learner.parameters())
        if n_params == 0:
            raise ValueError(
                "ADU has nothing to train: PROMPT_DEPTH_VISION is 0, INSTAPG is "
                "off and the domain classifier is off. Set PROMPT_DEPTH_VISION >= 1."
            )
        print(f"Trainable parameters: {n_params:,} (CLIP frozen)")

        self.optim = build_optimizer(learner, cfg.OPTIM)
        self.sched = build_lr_scheduler(self.optim, cfg.OPTIM)
        self.register_model("learner", learner, self.optim, self.sched)
        self.scaler = make_grad_scaler(self.prec, self.device)

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

    def model_inference(self, images):
        return self.evaluation_outputs(images)["logits"]
