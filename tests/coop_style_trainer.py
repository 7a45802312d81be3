"""A CoOp-style trainer written as a third party would, knowing nothing of this project.

It subclasses Dassl's plain TrainerX, loads CLIP itself, learns a text
context with plain cross-entropy on every training image (no unlearning
loss) and uses Dassl's own optimiser and schedule builders. The tests run
it through train.py (tests/run_train_with.py imports this module, which
registers it) to check that any Dassl trainer gets ADU's per-domain scores.
(tests/coop_family_*.py are trainer files in CoOp's own style, with warm-up.)
"""
import clip
import torch
import torch.nn as nn
import torch.nn.functional as F
from dassl.engine import TRAINER_REGISTRY, TrainerX
from dassl.metrics import compute_accuracy
from dassl.optim import build_lr_scheduler, build_optimizer

N_CTX = 4


def load_clip_to_cpu(cfg):
    model, _ = clip.load(cfg.MODEL.BACKBONE.NAME, device="cpu", jit=False)
    return model.float().eval()


class TextEncoder(nn.Module):
    def __init__(self, clip_model):
        super().__init__()
        self.transformer = clip_model.transformer
        self.positional_embedding = clip_model.positional_embedding
        self.ln_final = clip_model.ln_final
        self.text_projection = clip_model.text_projection

    def forward(self, prompts, tokenized_prompts):
        x = (prompts + self.positional_embedding).permute(1, 0, 2)
        x = self.transformer(x).permute(1, 0, 2)
        x = self.ln_final(x)
        eot = tokenized_prompts.argmax(dim=-1)
        return x[torch.arange(x.shape[0]), eot] @ self.text_projection


class PromptLearner(nn.Module):
    def __init__(self, classnames, clip_model):
        super().__init__()
        width = clip_model.ln_final.weight.shape[0]
        self.ctx = nn.Parameter(torch.randn(N_CTX, width) * 0.02)
        texts = [" ".join(["X"] * N_CTX) + f" {name}." for name in classnames]
        self.register_buffer("tokenized_prompts", clip.tokenize(texts))
        with torch.no_grad():
            embedding = clip_model.token_embedding(self.tokenized_prompts)
        self.register_buffer("token_prefix", embedding[:, :1])
        self.register_buffer("token_suffix", embedding[:, 1 + N_CTX:])

    def forward(self):
        ctx = self.ctx.unsqueeze(0).expand(self.token_prefix.shape[0], -1, -1)
        return torch.cat([self.token_prefix, ctx, self.token_suffix], dim=1)


class CustomCLIP(nn.Module):
    def __init__(self, classnames, clip_model):
        super().__init__()
        self.prompt_learner = PromptLearner(classnames, clip_model)
        self.image_encoder = clip_model.visual
        self.text_encoder = TextEncoder(clip_model)
        self.logit_scale = clip_model.logit_scale

    def forward(self, image):
        image_features = self.image_encoder(image)
        text_features = self.text_encoder(self.prompt_learner(),
                                          self.prompt_learner.tokenized_prompts)
        image_features = image_features / image_features.norm(dim=-1, keepdim=True)
        text_features = text_features / text_features.norm(dim=-1, keepdim=True)
        return self.logit_scale.exp() * image_features @ text_features.t()


@TRAINER_REGISTRY.register()
class PlainCoOp(TrainerX):
    def build_model(self):
        classnames = self.dm.dataset.classnames
        clip_model = load_clip_to_cpu(self.cfg)
        self.model = CustomCLIP(classnames, clip_model)
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
        if (self.batch_idx + 1) == self.num_batches:
            self.update_lr()
        return {"loss": loss.item(), "acc": compute_accuracy(output, label)[0].item()}

    def parse_batch_train(self, batch):
        return batch["img"].to(self.device), batch["label"].to(self.device)
