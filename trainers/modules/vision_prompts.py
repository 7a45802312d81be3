"""Deep vision prompts (VPT-deep) around a frozen CLIP ViT, docs/METHOD.md section 2.

Block 1 sees [CLS, patches, prompts_1]; before each block i = 2..depth the
prompt tokens coming out of block i-1 are replaced by prompts_i; after block
`depth` the prompt tokens flow on. At the blocks listed in `instapg_layers`
the prompts are generated per image by InstaPG instead of being static.
CLIP's own modules are called as they are: nothing of the package is patched.
The same code prompts OpenAI's ViT and open_clip's, whose anatomy is the
same; the activations stay in the blocks' own layout (clip_layout.py).
"""
import torch
import torch.nn as nn
from torch.utils.checkpoint import checkpoint

from user_errors import ConfigError

from .clip_layout import is_batch_first, to_layout, token_span
from .clip_loading import is_class_token_vit
from .instapg import InstaPG


def check_prompt_layout(num_blocks: int, n_ctx: int, depth: int, instapg_layers):
    """Fail with one clear message when prompts do not fit the backbone."""
    if depth < 0 or depth > num_blocks:
        raise ConfigError(
            f"PROMPT_DEPTH_VISION={depth} but the CLIP image encoder has "
            f"{num_blocks} transformer blocks; use a depth in 0..{num_blocks}."
        )
    if depth > 0 and n_ctx < 1:
        raise ConfigError(
            f"N_CTX_VISION={n_ctx}: deep prompting needs at least one prompt "
            "token per block (or set PROMPT_DEPTH_VISION 0)."
        )
    for layer in instapg_layers:
        if not 1 <= layer <= depth:
            raise ConfigError(
                f"INSTAPG_LAYERS contains {layer}, but only blocks 1..{depth} "
                f"are prompted (PROMPT_DEPTH_VISION={depth}; the backbone has "
                f"{num_blocks} blocks). InstaPG layers must be prompted blocks."
            )


class VisionPrompts(nn.Module):
    """The learnable prompts of every prompted block, and their InstaPGs."""

    def __init__(self, width: int, n_ctx: int, depth: int, instapg_layers=(),
                 instapg_style: str = "pre_norm"):
        super().__init__()
        self.n_ctx = n_ctx
        self.depth = depth
        if depth > 0:
            self.prompts = nn.Parameter(torch.randn(depth, n_ctx, width) * 0.02)
        else:
            self.register_parameter("prompts", None)
        self.instapg = nn.ModuleDict(
            {str(layer): InstaPG(width, instapg_style) for layer in sorted(set(instapg_layers))}
        )

    def for_block(self, block: int, patches: torch.Tensor) -> torch.Tensor:
        """Prompts for 1-based `block`: [batch, n_ctx, width] in fp32.

        `patches` are the patch tokens entering the block, [batch, P, width].
        """
        static = self.prompts[block - 1]
        generator = self.instapg[str(block)] if str(block) in self.instapg else None
        if generator is None:
            return static.unsqueeze(0).expand(patches.shape[0], -1, -1)
        return generator(static, patches.float())


class PromptedImageEncoder(nn.Module):
    """CLIP ViT image encoder with deep prompts; equals `encode_image` at depth 0.

    `visual` is OpenAI's VisionTransformer or open_clip's (class-token pooled).

    `prompts` is any module with `n_ctx`, `depth` and `for_block(block,
    patches)` (VisionPrompts here, MaPLe's coupled prompts in maple_adu.py);
    an `instapg` dict, when present, is checked against the prompted blocks.
    """

    def __init__(self, visual: nn.Module, prompts: VisionPrompts,
                 grad_checkpointing: bool = False):
        super().__init__()
        if not is_class_token_vit(visual):
            raise TypeError("PromptedImageEncoder needs a CLIP VisionTransformer "
                            "pooled by its class token")
        check_prompt_layout(len(visual.transformer.resblocks), prompts.n_ctx,
                            prompts.depth,
                            [int(k) for k in getattr(prompts, "instapg", {})])
        self.visual = visual
        self.prompts = prompts
        self.grad_checkpointing = grad_checkpointing
        self.batch_first = is_batch_first(visual.transformer)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """Patch + CLS embedding after ln_pre, as CLIP computes it, in the
        blocks' layout ([L, B, W] for OpenAI's CLIP, [B, L, W] batch-first)."""
        v = self.visual
        x = v.conv1(images.type(v.conv1.weight.dtype))
        x = x.flatten(2).permute(0, 2, 1)
        cls = v.class_embedding.to(x.dtype) + torch.zeros(
            x.shape[0], 1, x.shape[-1], dtype=x.dtype, device=x.device)
        x = torch.cat([cls, x], dim=1) + v.positional_embedding.to(x.dtype)
        return to_layout(v.ln_pre(x), self.batch_first)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        v, batch_first = self.visual, self.batch_first
        x = self.embed(images)
        n_keep = x.shape[1 if batch_first else 0]  # CLS + patches; prompts sit behind them
        for i, block in enumerate(v.transformer.resblocks, start=1):
            if i <= self.prompts.depth:
                patches = to_layout(token_span(x, 1, n_keep, batch_first), batch_first)
                prompts = self.prompts.for_block(i, patches).to(x.dtype)
                x = torch.cat([token_span(x, 0, n_keep, batch_first),
                               to_layout(prompts, batch_first)], dim=1 if batch_first else 0)
            if self.grad_checkpointing and self.training and torch.is_grad_enabled():
                x = checkpoint(block, x, use_reentrant=False)
            else:
                x = block(x)
        x = v.ln_post(x[:, 0] if batch_first else x[0])
        return x @ v.proj if v.proj is not None else x
