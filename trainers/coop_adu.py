"""CoOp under the ADU protocol: a learned text context, L_memorize + L_forget.

Zhou et al., "Learning to Prompt for Vision-Language Models" (CoOp), IJCV
2022. The prompt "[SOT] ctx_1 .. ctx_16 classname . [EOT]" shares 16
learned context vectors between all classes (class token at the end),
initialised N(0, 0.02^2) or from the words of CTX_INIT. Both CLIP encoders
stay frozen; because the prompt is learned, the class text features are
recomputed at every training step (and computed once per evaluation).
"""
import torch
import torch.nn as nn
from dassl.engine import TRAINER_REGISTRY

from .engine.memorize_forget import MemorizeForgetTrainer
from .modules.clip_heads import CosineLogits, frozen_image_features
from .modules.text_prompts import PromptTextFeatures, initial_context


class PromptContext(nn.Module):
    """The trainable part of CoOp: the context vectors [n_ctx, width]."""

    def __init__(self, ctx: torch.Tensor):
        super().__init__()
        self.ctx = nn.Parameter(ctx)


class CoOpCLIP(nn.Module):
    """Frozen CLIP whose class prompts carry the learned context."""

    def __init__(self, clip_model, classnames, n_ctx: int = 16, ctx_init: str = ""):
        super().__init__()
        self.clip = clip_model
        self.learner = PromptContext(initial_context(clip_model, n_ctx, ctx_init,
                                                     key="TRAINER.COOPADU.CTX_INIT"))
        self.text = PromptTextFeatures(clip_model, classnames, n_ctx)
        self.logits = CosineLogits(clip_model)

    def text_features(self) -> torch.Tensor:
        return self.text(self.learner.ctx)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.logits(frozen_image_features(self.clip, images), self.text_features())


@TRAINER_REGISTRY.register()
class CoOpADU(MemorizeForgetTrainer):
    """CoOp's learned text context, trained to memorise and forget domains."""

    config_key = "COOPADU"

    def build_model(self):
        node = self.method_cfg
        clip_model = self.load_frozen_clip()
        print(f"Building CoOp ({node.N_CTX} context tokens, "
              f"init {repr(node.CTX_INIT) if node.CTX_INIT else 'N(0, 0.02^2)'})")
        self.model = CoOpCLIP(clip_model, self.dm.dataset.classnames, node.N_CTX,
                              node.CTX_INIT).to(self.device)
        self.register_learner(self.model.learner)
