"""CLIPFit under the ADU protocol: tune a few of CLIP's own parameters.

Li et al., "Vision-Language Model Fine-Tuning via Simple Parameter-Efficient
Modification" (CLIPFit), EMNLP 2024. No parameter is added: only

- the bias of one linear layer of every text-encoder FFN (TEXT_BIAS:
  "c_fc", the first layer, or "c_proj", the second; the CLIPFit release
  tunes c_proj), and
- the weights and biases of every LayerNorm of the image encoder (a ResNet
  image encoder has none, so there only the text biases are tuned)

are trained, with the class text features of "a photo of a {class}."
recomputed at every step. The objective is L_memorize + L_forget plus
CLIPFit's own guard against text drift, the distillation regulariser

    L_distill = 1 - mean_k cos(t_k, t0_k)

between the tuned class text features t_k and the zero-shot ones t0_k of
the untouched CLIP (computed once), weighted by DISTILL_WEIGHT (2, the
release's few-shot value for all but DTD and SUN397, which use 8; 0 turns
it off). The tuned tensors live inside CLIP, so they stay in fp32 (PREC
amp or fp32, never fp16), and checkpoints hold only them. The image
embeddings change with the LayerNorms, so the model exposes them
(`logits_and_features`) for the linear probes of the evaluation.
"""
import re
from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from dassl.engine import TRAINER_REGISTRY

from user_errors import ConfigError

from .engine.memorize_forget import MemorizeForgetTrainer
from .engine.training_step import Batch
from .modules.clip_heads import (
    CosineLogits,
    class_texts,
    encode_class_texts,
    normalize,
    tokenize_prompts,
)
from .modules.losses import forget_loss, memorize_forget_losses
from .modules.text_prompts import InferenceCache

TEXT_BIASES = ("c_fc", "c_proj")


def clipfit_parameter_names(clip_model, text_bias: str = "c_proj"):
    """Names (as in clip_model.named_parameters) of what CLIPFit tunes: text, image."""
    if text_bias not in TEXT_BIASES:
        raise ConfigError(f"TRAINER.CLIPFITADU.TEXT_BIAS must be one of {TEXT_BIASES}, "
                          f"got '{text_bias}'.")
    # CLIP's text blocks: the model's own `transformer`, or (a timm-tower
    # model of open_clip, trainers/modules/timm_towers.py) its text tower's.
    pattern = re.compile(rf"^(text\.)?transformer\.resblocks\.\d+\.mlp\.{text_bias}\.bias$")
    text = [name for name, _ in clip_model.named_parameters() if pattern.match(name)]
    image = [f"visual.{module_name}.{param_name}"
             for module_name, module in clip_model.visual.named_modules()
             if isinstance(module, nn.LayerNorm)
             for param_name, _ in module.named_parameters(recurse=False)]
    return text, image


class TunedParameters(nn.Module):
    """The CLIP tensors CLIPFit trains, shared (not copied) with the CLIP.

    Registered with the trainer, so the optimiser and the checkpoints see
    only these; loading a checkpoint writes straight into the CLIP.
    """

    def __init__(self, clip_model, names):
        super().__init__()
        params = dict(clip_model.named_parameters())
        self.names = list(names)
        self.tensors = nn.ParameterDict(
            {name.replace(".", "/"): params[name] for name in self.names})
        for param in self.tensors.values():
            param.requires_grad_(True)


class CLIPFitOutput(NamedTuple):
    """What a training step needs: the class logits and the class text
    features they were computed with (for the distillation term)."""
    logits: torch.Tensor
    text_features: torch.Tensor


def text_drift(text_features: torch.Tensor, zero_shot_text: torch.Tensor) -> torch.Tensor:
    """CLIPFit's distillation term: 1 - mean cosine between the tuned and
    the zero-shot class text features (both [C, D]); 0 before any step."""
    return 1.0 - F.cosine_similarity(text_features.float(), zero_shot_text.float(), dim=-1,
                                     eps=1e-7).mean()


def clipfit_objective(*, outputs: CLIPFitOutput, zero_shot_text, labels, forget_mask,
                      forget=forget_loss, distill_weight: float = 2.0) -> dict:
    """L_memorize + L_forget (`forget`: its function) + DISTILL_WEIGHT *
    L_distill (the logged "distill" term is unweighted)."""
    terms = memorize_forget_losses(logits=outputs.logits, labels=labels,
                                   forget_mask=forget_mask, forget=forget)
    terms["distill"] = text_drift(outputs.text_features, zero_shot_text)
    terms["total"] = terms["total"] + distill_weight * terms["distill"]
    return terms


class CLIPFitModel(nn.Module):
    """CLIP with its text FFN biases and image LayerNorms trainable."""

    def __init__(self, clip_model, classnames, template: str = "a photo of a {}.",
                 text_bias: str = "c_proj"):
        super().__init__()
        self.clip = clip_model
        text_names, image_names = clipfit_parameter_names(clip_model, text_bias)
        if not image_names:
            print("Note: the image encoder has no LayerNorm (ResNet CLIP); CLIPFit "
                  "tunes only the text encoder's FFN biases.")
        # The distillation target: the class texts through the untouched CLIP.
        self.register_buffer("zero_shot_text", encode_class_texts(clip_model, classnames, template),
                             persistent=False)
        self.learner = TunedParameters(clip_model, text_names + image_names)
        self.text_params = [self.learner.tensors[n.replace(".", "/")] for n in text_names]
        tokens = tokenize_prompts(clip_model, class_texts(classnames, template))
        self.register_buffer("tokens", tokens, persistent=False)
        self.logits = CosineLogits(clip_model)
        self.text_cache = InferenceCache()

    def text_features(self) -> torch.Tensor:
        return self.text_cache.get(self.text_params, lambda: normalize(
            self.clip.encode_text(self.tokens)))

    def logits_and_features(self, images: torch.Tensor):
        """(class logits [B, C], L2-normalised image embeddings [B, D])."""
        image_features = normalize(self.clip.encode_image(images))
        return self.logits(image_features, self.text_features()), image_features

    def forward(self, images: torch.Tensor) -> CLIPFitOutput:
        text_features = self.text_features()
        logits = self.logits(normalize(self.clip.encode_image(images)), text_features)
        return CLIPFitOutput(logits, text_features)


@TRAINER_REGISTRY.register()
class CLIPFitADU(MemorizeForgetTrainer):
    """CLIPFit's bias and LayerNorm tuning, trained to memorise and forget domains."""

    config_key = "CLIPFITADU"

    @classmethod
    def timm_tower_refusal(cls, cfg):
        return None  # the towers' own biases and LayerNorms, through encode_text

    def check_cfg(self, cfg):
        super().check_cfg(cfg)
        if cfg.TRAINER.CLIPFITADU.PREC == "fp16":
            raise ConfigError(
                "TRAINER.CLIPFITADU.PREC is fp16, but CLIPFit trains tensors inside "
                "CLIP, which must stay in fp32: use amp (mixed precision) or fp32."
            )
        if cfg.TRAINER.CLIPFITADU.DISTILL_WEIGHT < 0:
            raise ConfigError(f"TRAINER.CLIPFITADU.DISTILL_WEIGHT must be >= 0, got "
                              f"{cfg.TRAINER.CLIPFITADU.DISTILL_WEIGHT}.")

    def build_model(self):
        node = self.method_cfg
        clip_model = self.load_frozen_clip()
        print(f"Building CLIPFit (text FFN {node.TEXT_BIAS} biases + image LayerNorms, "
              f"distillation weight {node.DISTILL_WEIGHT})")
        self.model = CLIPFitModel(clip_model, self.dm.dataset.classnames,
                                  node.TEXT_TEMPLATE, node.TEXT_BIAS).to(self.device)
        self.register_learner(self.model.learner)

    def compute_losses(self, outputs, batch: Batch):
        terms = clipfit_objective(outputs=outputs, zero_shot_text=self.model.zero_shot_text,
                                  labels=batch.labels, forget_mask=batch.forget_mask,
                                  forget=self.forget_term,
                                  distill_weight=self.method_cfg.DISTILL_WEIGHT)
        return terms, outputs.logits
