"""ADU: Approximate Domain Unlearning for CLIP, as a Dassl trainer.

Kawamura et al., "Approximate Domain Unlearning for Vision-Language Models",
NeurIPS 2025. The story of this file: load the frozen CLIP -> compose it with
the learner (deep vision prompts, InstaPG, domain classifier;
modules/adu_model.py) -> train the learner with L_memorize + L_forget +
L_domain (modules/losses.py) -> score each test domain (engine/evaluation.py,
modules/metrics.py). One training step, read in order: `forward_backward`
(engine/base.py: the batch, the model's forward, the backward and the
optimiser's step in engine/training_step.py) calls `compute_losses` below.
The math lives in those modules; this class wires them into Dassl, reading
the config once, in `build_model`. The release's variants (docs/METHOD.md
section 10) come from modules/release.py when a TRAINER.ADU switch asks.
"""
import functools

import torch
from dassl.engine import TRAINER_REGISTRY

from .config_checks import check_adu, check_bandwidth
from .engine.base import UnlearningTrainer
from .engine.domain_labels import relabel_training_domains
from .engine.training_step import Batch, autocast_context
from .modules import release
from .modules.adu_model import ADUCLIP
from .modules.losses import ADUObjective, adu_losses, mmd2


def adu_objective(node) -> ADUObjective:
    """The objective a TRAINER.ADU node asks for (checked by check_adu)."""
    mmd = functools.partial(mmd2, bandwidth=check_bandwidth(node.MMD_BANDWIDTH))
    if node.MMD_KERNEL == "pair_median":
        mmd = release.mmd2_pair_median
    return ADUObjective(ddl=node.DDL, ddl_ce=node.DDL_CE, ddl_mmd=node.DDL_MMD,
                        gamma=node.DDL_GAMMA, lam=node.DDL_LAMBDA, mmd=mmd,
                        forget=release.forget_loss_named(node.FORGET_LOSS, node.FORGET_LOG_EPS),
                        mmd_on_domain_logits=node.MMD_INPUT == "domain_logits")


def uses_release_model(node) -> bool:
    return bool(node.N_CTX_TEXT or node.INSTAPG_STYLE == "release" or node.PROMPTS_BEFORE_LN_PRE)


@TRAINER_REGISTRY.register()
class ADU(UnlearningTrainer):
    """Deep vision prompts + InstaPG + Domain Disentangling Loss on a frozen CLIP."""

    config_key = "ADU"
    supports_pseudo_domains = True

    def check_cfg(self, cfg):
        check_adu(cfg.TRAINER.ADU)

    def loss_names(self):
        """loss_domain is gamma * CE - lambda * MMD^2, so it goes negative as
        the MMD grows (as intended): its log name says so, with this run's
        weights, e.g. loss_domain[30*domain_ce-10*mmd2] (both parts are
        logged too, as loss_domain_ce and loss_mmd2)."""
        o = self.objective
        parts = ([f"{o.gamma:g}*domain_ce"] if o.ddl_ce else []) + (
            [f"-{o.lam:g}*mmd2"] if o.ddl_mmd else [])
        if not (o.ddl and parts):
            return {}
        return {"loss_domain": f"loss_domain[{''.join(parts)}]"}

    @classmethod
    def timm_tower_refusal(cls, cfg):
        node = cfg.TRAINER.ADU
        if node.N_CTX_TEXT:
            return ("N_CTX_TEXT learns prompts inside CLIP's text transformer (the "
                    "release's variant): set TRAINER.ADU.N_CTX_TEXT 0")
        if node.PROMPTS_BEFORE_LN_PRE:
            return ("PROMPTS_BEFORE_LN_PRE needs CLIP's ln_pre, which a timm tower has not: "
                    "set TRAINER.ADU.PROMPTS_BEFORE_LN_PRE False")
        return None

    def build_model(self):
        acfg = self.method_cfg
        dataset = self.dm.dataset
        clip_model = self.load_frozen_clip(needs_vit=True)
        self.objective = adu_objective(acfg)
        print("Building ADU (deep vision prompts"
              + (f", InstaPG at blocks {list(acfg.INSTAPG_LAYERS)}" if acfg.INSTAPG else "")
              + (", Domain Disentangling Loss" if acfg.DDL else "")
              + (f", {acfg.N_CTX_TEXT} learned text tokens to text block "
                 f"{acfg.PROMPT_DEPTH_TEXT}" if acfg.N_CTX_TEXT else "") + ")")
        domain_outputs = len(dataset.domains)
        if acfg.DOMAIN_HEAD == "domains_x_classes":  # the release's head, on the domain index
            domain_outputs *= len(dataset.classnames)
        kwargs = dict(
            n_ctx=acfg.N_CTX_VISION, depth=acfg.PROMPT_DEPTH_VISION,
            instapg_layers=list(acfg.INSTAPG_LAYERS) if acfg.INSTAPG else [],
            domain_head=self.objective.uses_domain_head, template=acfg.TEXT_TEMPLATE,
            grad_checkpointing=acfg.GRAD_CHECKPOINTING)
        if uses_release_model(acfg):
            self.model = release.ReleaseADUCLIP(
                clip_model, dataset.classnames, domain_outputs, **kwargs,
                instapg_style=acfg.INSTAPG_STYLE, prompts_before_ln_pre=acfg.PROMPTS_BEFORE_LN_PRE,
                n_ctx_text=acfg.N_CTX_TEXT, depth_text=acfg.PROMPT_DEPTH_TEXT,
                text_ctx_init=acfg.TEXT_CTX_INIT)
        else:
            self.model = ADUCLIP(clip_model, dataset.classnames, domain_outputs, **kwargs)
        self.model.to(self.device)
        self.register_learner(self.model.learner, empty_hint=(
            " PROMPT_DEPTH_VISION is 0, INSTAPG is off and the domain classifier "
            "is off: set PROMPT_DEPTH_VISION >= 1."))
        # Before the first epoch and any resume, with the stock (unprompted) encoder.
        self.pseudo_domain_record = relabel_training_domains(self, clip_model,
                                                             acfg.TEXT_TEMPLATE)

    def compute_losses(self, outputs, batch: Batch):
        """L_memorize + L_forget + L_domain of the model's outputs on `batch`."""
        terms = adu_losses(logits=outputs.logits, labels=batch.labels, domains=batch.domains,
                           forget_mask=batch.forget_mask, features=outputs.features,
                           domain_logits=outputs.domain_logits, objective=self.objective,
                           domain_targets=batch.domain_targets)
        return terms, outputs.logits

    @torch.no_grad()
    def evaluation_outputs(self, images):
        with autocast_context(self.prec, self.device):
            out = self.model(images)
        return {"logits": out.logits, "domain_logits": out.domain_logits,
                "features": out.features}
