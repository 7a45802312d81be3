"""MaPLe under the ADU protocol: coupled vision-language prompts, L_memorize + L_forget.

Khattak et al., "MaPLe: Multi-modal Prompt Learning", CVPR 2023. Both
encoders get prompts in their first PROMPT_DEPTH (9) blocks:

- text: the prompt is CTX_INIT followed by the class name, "a photo of a
  {class}.", whose first N_CTX (2) tokens become learned context vectors,
  so the model reads "[c1][c2] of a {class}." as in the MaPLe release;
  before each block 2..depth the context tokens are replaced by that
  block's own learned vectors (N(0, 0.02^2));
- vision: each block's prompts are the text context of the same block
  mapped by its own linear layer (text width -> vision width), the coupling
  function that ties the two branches together. As in the release, the
  layers of blocks 2..depth start as copies of one freshly initialised
  layer, block 1's layer is initialised on its own. The prompts enter the
  ViT as deep prompts behind the patch tokens (modules/adu_model.py).

One difference from the MaPLe release, kept on purpose so the prompted
image encoder is ADU's own: the first block's vision prompts are appended
after CLIP's ln_pre, where MaPLe appends them before it. The image
embeddings change with the prompts, so the model exposes them
(`logits_and_features`) for the linear probes of the evaluation.
"""
import copy

import torch
import torch.nn as nn
from dassl.engine import TRAINER_REGISTRY

from user_errors import ConfigError

from .engine.memorize_forget import MemorizeForgetTrainer
from .modules.clip_heads import CosineLogits, normalize
from .modules.text_prompts import PromptTextFeatures, initial_context
from .modules.adu_model import PromptedImageEncoder


class CoupledPrompts(nn.Module):
    """The trainable part of MaPLe: text context per prompted block and the
    linear couplings that turn it into that block's vision prompts."""

    def __init__(self, first_ctx: torch.Tensor, depth: int, vision_width: int):
        super().__init__()
        n_ctx, text_width = first_ctx.shape
        self.n_ctx = n_ctx
        self.depth = depth
        self.text = nn.Parameter(first_ctx)
        self.deep_text = nn.Parameter(torch.randn(depth - 1, n_ctx, text_width) * 0.02)
        deep_coupling = nn.Linear(text_width, vision_width)
        self.couplings = nn.ModuleList(
            [nn.Linear(text_width, vision_width)]
            + [copy.deepcopy(deep_coupling) for _ in range(depth - 1)])

    def text_context(self, block: int) -> torch.Tensor:
        """Text context [n_ctx, text_width] of 1-based `block`."""
        return self.text if block == 1 else self.deep_text[block - 2]

    def for_block(self, block: int, patches: torch.Tensor) -> torch.Tensor:
        """Vision prompts [batch, n_ctx, vision_width] of 1-based `block`."""
        prompts = self.couplings[block - 1](self.text_context(block))
        return prompts.unsqueeze(0).expand(patches.shape[0], -1, -1)


def check_depth(depth: int, n_ctx: int, text_blocks: int, vision_blocks: int):
    if n_ctx < 1:
        raise ConfigError(f"TRAINER.MAPLEADU.N_CTX must be >= 1, got {n_ctx}.")
    most = min(text_blocks, vision_blocks)
    if not 1 <= depth <= most:
        raise ConfigError(
            f"TRAINER.MAPLEADU.PROMPT_DEPTH={depth}, but the CLIP text encoder "
            f"has {text_blocks} and the image encoder {vision_blocks} transformer "
            f"blocks; use a depth in 1..{most}."
        )


class MaPLeCLIP(nn.Module):
    """Frozen CLIP with coupled deep prompts in both encoders."""

    def __init__(self, clip_model, classnames, n_ctx: int = 2, depth: int = 9,
                 ctx_init: str = "a photo of a"):
        super().__init__()
        self.clip = clip_model
        visual = clip_model.visual
        check_depth(depth, n_ctx, len(clip_model.transformer.resblocks),
                    len(visual.transformer.resblocks))
        first_ctx = initial_context(clip_model, n_ctx, ctx_init,
                                    key="TRAINER.MAPLEADU.CTX_INIT")
        self.text = PromptTextFeatures(clip_model, classnames, n_ctx, words=ctx_init)
        self.learner = CoupledPrompts(first_ctx, depth, visual.transformer.width)
        self.image_encoder = PromptedImageEncoder(visual, self.learner)
        self.logits = CosineLogits(clip_model)

    def text_features(self) -> torch.Tensor:
        return self.text(self.learner.text, deep_context=self.learner.deep_text)

    def logits_and_features(self, images: torch.Tensor):
        """(class logits [B, C], L2-normalised prompted image embeddings [B, D])."""
        image_features = normalize(self.image_encoder(images))
        return self.logits(image_features, self.text_features()), image_features

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.logits_and_features(images)[0]


@TRAINER_REGISTRY.register()
class MaPLeADU(MemorizeForgetTrainer):
    """MaPLe's coupled prompts, trained to memorise and forget domains."""

    config_key = "MAPLEADU"

    def build_model(self):
        node = self.method_cfg
        clip_model = self.load_frozen_clip(needs_vit=True)
        print(f"Building MaPLe ({node.N_CTX} context tokens, depth {node.PROMPT_DEPTH})")
        self.model = MaPLeCLIP(clip_model, self.dm.dataset.classnames, node.N_CTX,
                               node.PROMPT_DEPTH, node.CTX_INIT).to(self.device)
        self.register_learner(self.model.learner)
