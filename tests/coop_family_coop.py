"""A trainer file in the style of CoOp's trainers/coop.py, written for the tests.

It uses what CoOp's file uses and nothing of this project: `from clip import
clip`, the private `clip._MODELS[name]` and one-argument `clip._download(url)`
(a local checkpoint path in MODEL.BACKBONE.NAME, as the tests pass it), a
TorchScript load and `clip.build_model`, the TRAINER.COOP node of CoOp's
train.py (asserted in check_cfg), Dassl's own `build_lr_scheduler` with a
warm-up, and `load_model` dropping the prompt's fixed token buffers. The
tests run it through train.py (tests/run_train_with.py imports it).
"""
import os.path as osp

import torch
import torch.nn as nn
from torch.nn import functional as F

from clip import clip
from dassl.engine import TRAINER_REGISTRY, TrainerX
from dassl.metrics import compute_accuracy
from dassl.optim import build_lr_scheduler, build_optimizer
from dassl.utils import load_checkpoint


def load_clip_to_cpu(cfg):
    path = clip._download(clip._MODELS[cfg.MODEL.BACKBONE.NAME])
    try:
        state_dict = torch.jit.load(path, map_location="cpu").eval().state_dict()
    except RuntimeError:
        state_dict = torch.load(path, map_location="cpu", weights_only=True)
    return clip.build_model(state_dict)


class TextEncoder(nn.Module):
    def __init__(self, clip_model):
        super().__init__()
        self.transformer = clip_model.transformer
        self.positional_embedding = clip_model.positional_embedding
        self.ln_final = clip_model.ln_final
        self.text_projection = clip_model.text_projection
        self.dtype = clip_model.dtype

    def forward(self, prompts, tokenized):
        x = (prompts + self.positional_embedding.type(self.dtype)).permute(1, 0, 2)
        x = self.transformer(x).permute(1, 0, 2)
        x = self.ln_final(x).type(self.dtype)
        return x[torch.arange(x.shape[0]), tokenized.argmax(dim=-1)] @ self.text_projection


class PromptLearner(nn.Module):
    def __init__(self, cfg, classnames, clip_model):
        super().__init__()
        n_ctx, dtype = cfg.TRAINER.COOP.N_CTX, clip_model.dtype
        width = clip_model.ln_final.weight.shape[0]
        shape = (len(classnames), n_ctx, width) if cfg.TRAINER.COOP.CSC else (n_ctx, width)
        self.ctx = nn.Parameter(torch.empty(shape, dtype=dtype).normal_(std=0.02))
        texts = [" ".join(["X"] * n_ctx) + f" {name.replace('_', ' ')}." for name in classnames]
        tokenized = torch.cat([clip.tokenize(t) for t in texts])
        with torch.no_grad():
            embedding = clip_model.token_embedding(tokenized).type(dtype)
        self.register_buffer("token_prefix", embedding[:, :1])
        self.register_buffer("token_suffix", embedding[:, 1 + n_ctx:])
        self.tokenized_prompts = tokenized
        self.n_cls = len(classnames)

    def forward(self):
        ctx = self.ctx if self.ctx.dim() == 3 else self.ctx.expand(self.n_cls, -1, -1)
        return torch.cat([self.token_prefix, ctx, self.token_suffix], dim=1)


class CustomCLIP(nn.Module):
    def __init__(self, cfg, classnames, clip_model):
        super().__init__()
        self.prompt_learner = PromptLearner(cfg, classnames, clip_model)
        self.tokenized_prompts = self.prompt_learner.tokenized_prompts
        self.image_encoder = clip_model.visual
        self.text_encoder = TextEncoder(clip_model)
        self.logit_scale = clip_model.logit_scale
        self.dtype = clip_model.dtype

    def forward(self, image):
        image_features = self.image_encoder(image.type(self.dtype))
        text_features = self.text_encoder(self.prompt_learner(), self.tokenized_prompts)
        image_features = image_features / image_features.norm(dim=-1, keepdim=True)
        text_features = text_features / text_features.norm(dim=-1, keepdim=True)
        return self.logit_scale.exp() * image_features @ text_features.t()


@TRAINER_REGISTRY.register()
class CoOp(TrainerX):
    def check_cfg(self, cfg):
        assert cfg.TRAINER.COOP.PREC in ["fp16", "fp32", "amp"]

    def build_model(self):
        clip_model = load_clip_to_cpu(self.cfg)
        if self.cfg.TRAINER.COOP.PREC in ("fp32", "amp"):
            clip_model.float()
        self.model = CustomCLIP(self.cfg, self.dm.dataset.classnames, clip_model)
        for name, param in self.model.named_parameters():
            param.requires_grad_("prompt_learner" in name)
        self.model.to(self.device)
        self.optim = build_optimizer(self.model.prompt_learner, self.cfg.OPTIM)
        self.sched = build_lr_scheduler(self.optim, self.cfg.OPTIM)
        self.register_model("prompt_learner", self.model.prompt_learner, self.optim, self.sched)

    def forward_backward(self, batch):
        image, label = self.parse_batch_train(batch)
        output = self.model(image)
        loss = F.cross_entropy(output, label)
        self.model_backward_and_update(loss)
        summary = {"loss": loss.item(), "acc": compute_accuracy(output, label)[0].item()}
        if (self.batch_idx + 1) == self.num_batches:
            self.update_lr()
        return summary

    def parse_batch_train(self, batch):
        return batch["img"].to(self.device), batch["label"].to(self.device)

    def load_model(self, directory, epoch=None):
        for name in self.get_model_names():
            file = "model-best.pth.tar" if epoch is None else f"model.pth.tar-{epoch}"
            path = osp.join(directory, name, file)
            if epoch is None and not osp.exists(path):
                path = osp.join(directory, name, f"model.pth.tar-{self.cfg.OPTIM.MAX_EPOCH}")
            checkpoint = load_checkpoint(path)
            state_dict = checkpoint["state_dict"]
            for key in ("token_prefix", "token_suffix"):
                state_dict.pop(key, None)
            print(f"Loading weights to {name} from {path} (epoch {checkpoint['epoch']})")
            self._models[name].load_state_dict(state_dict, strict=False)
