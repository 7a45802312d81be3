"""A trainer file in the style of CoCoOp's trainers/cocoop.py, written for the tests.

As tests/coop_family_coop.py, on the TRAINER.COCOOP node: a small meta-net
turns each image's feature into a shift of the shared text context, so the
class text features are computed per image. It brings its own
`extend_cfg(cfg)` hook (a key of its own, TRAINER.COCOOP.META_RATIO, the
meta-net's width divisor), which train.py calls before merging the yamls.
"""
import torch
import torch.nn as nn
from torch.nn import functional as F

from clip import clip
from dassl.engine import TRAINER_REGISTRY, TrainerX
from dassl.metrics import compute_accuracy
from dassl.optim import build_lr_scheduler, build_optimizer

from coop_family_coop import CoOp, TextEncoder, load_clip_to_cpu


def extend_cfg(cfg):
    cfg.TRAINER.COCOOP.META_RATIO = 16


class PromptLearner(nn.Module):
    def __init__(self, cfg, classnames, clip_model):
        super().__init__()
        n_ctx, dtype = cfg.TRAINER.COCOOP.N_CTX, clip_model.dtype
        width = clip_model.ln_final.weight.shape[0]
        vis_dim = clip_model.visual.output_dim
        hidden = max(1, vis_dim // cfg.TRAINER.COCOOP.META_RATIO)
        self.ctx = nn.Parameter(torch.empty(n_ctx, width, dtype=dtype).normal_(std=0.02))
        self.meta_net = nn.Sequential(nn.Linear(vis_dim, hidden), nn.ReLU(inplace=True),
                                      nn.Linear(hidden, width))
        if cfg.TRAINER.COCOOP.PREC == "fp16":
            self.meta_net.half()
        texts = [" ".join(["X"] * n_ctx) + f" {name.replace('_', ' ')}." for name in classnames]
        tokenized = torch.cat([clip.tokenize(t) for t in texts])
        with torch.no_grad():
            embedding = clip_model.token_embedding(tokenized).type(dtype)
        self.register_buffer("token_prefix", embedding[:, :1])
        self.register_buffer("token_suffix", embedding[:, 1 + n_ctx:])
        self.tokenized_prompts = tokenized
        self.n_cls = len(classnames)

    def forward(self, image_features):
        shifted = self.ctx.unsqueeze(0) + self.meta_net(image_features).unsqueeze(1)
        for ctx in shifted:  # one prompt set per image
            yield torch.cat([self.token_prefix, ctx.expand(self.n_cls, -1, -1),
                             self.token_suffix], dim=1)


class CustomCLIP(nn.Module):
    def __init__(self, cfg, classnames, clip_model):
        super().__init__()
        self.prompt_learner = PromptLearner(cfg, classnames, clip_model)
        self.tokenized_prompts = self.prompt_learner.tokenized_prompts
        self.image_encoder = clip_model.visual
        self.text_encoder = TextEncoder(clip_model)
        self.logit_scale = clip_model.logit_scale
        self.dtype = clip_model.dtype

    def forward(self, image, label=None):
        image_features = self.image_encoder(image.type(self.dtype))
        image_features = image_features / image_features.norm(dim=-1, keepdim=True)
        logits = []
        for feature, prompts in zip(image_features, self.prompt_learner(image_features)):
            text = self.text_encoder(prompts, self.tokenized_prompts)
            text = text / text.norm(dim=-1, keepdim=True)
            logits.append(self.logit_scale.exp() * feature @ text.t())
        logits = torch.stack(logits)
        if self.prompt_learner.training:
            return F.cross_entropy(logits, label)
        return logits


@TRAINER_REGISTRY.register()
class CoCoOp(TrainerX):
    def check_cfg(self, cfg):
        assert cfg.TRAINER.COCOOP.PREC in ["fp16", "fp32", "amp"]

    def build_model(self):
        clip_model = load_clip_to_cpu(self.cfg)
        if self.cfg.TRAINER.COCOOP.PREC in ("fp32", "amp"):
            clip_model.float()
        self.model = CustomCLIP(self.cfg, self.dm.dataset.classnames, clip_model)
        for name, param in self.model.named_parameters():
            param.requires_grad_("prompt_learner" in name)
        self.model.to(self.device)
        self.optim = build_optimizer(self.model.prompt_learner, self.cfg.OPTIM)
        self.sched = build_lr_scheduler(self.optim, self.cfg.OPTIM)
        self.register_model("prompt_learner", self.model.prompt_learner, self.optim, self.sched)

    def forward_backward(self, batch):
        image, label = batch["img"].to(self.device), batch["label"].to(self.device)
        loss = self.model(image, label)
        self.model_backward_and_update(loss)
        if (self.batch_idx + 1) == self.num_batches:
            self.update_lr()
        return {"loss": loss.item()}

    # As CoCoOp's file: its own loader (Dassl's fails on a run without val_result).
    load_model = CoOp.load_model
