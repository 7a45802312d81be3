"""Instance-wise Prompt Generator (InstaPG), docs/METHOD.md section 2.

The static prompts of one prompted block become per-image prompts: they act
as queries of a cross-attention over the patch tokens entering that block,
followed by an MLP, both with residual connections (a pre-LN transformer
decoder layer without self-attention).

Two arrangements of the same layers (docs/METHOD.md sections 2 and 10):
- "pre_norm" (the paper's description, default):
      x = q + MHA(LN_q(q), LN_p(p));  out = x + MLP(LN_m(x))
- "release" (the authors' released code): the residual goes to the
  layer-normed query, a post-norm follows, then the MLP with its residual:
      x = LN_m(LN_q(q) + MHA(LN_q(q), LN_p(p)));  out = x + MLP(x)
Both hold the same parameters (LN_m is the MLP's pre-norm or the post-norm).
"""
import torch
import torch.nn as nn
from clip.model import QuickGELU

from user_errors import ConfigError

INSTAPG_STYLES = ("pre_norm", "release")


class InstaPG(nn.Module):
    """Generates [batch, n_ctx, width] prompts from learnable queries and patches."""

    def __init__(self, width: int, style: str = "pre_norm"):
        super().__init__()
        if style not in INSTAPG_STYLES:
            raise ConfigError(f"INSTAPG_STYLE must be one of {INSTAPG_STYLES}, got '{style}'.")
        self.style = style
        heads = max(1, width // 64)  # CLIP's own head width of 64
        self.ln_query = nn.LayerNorm(width)
        self.ln_patches = nn.LayerNorm(width)
        self.cross_attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.ln_mlp = nn.LayerNorm(width)
        self.mlp = nn.Sequential(
            nn.Linear(width, 4 * width),
            QuickGELU(),
            nn.Linear(4 * width, width),
        )

    def forward(self, queries: torch.Tensor, patches: torch.Tensor) -> torch.Tensor:
        """queries: [n_ctx, width]; patches: [batch, n_patches, width]."""
        q = queries.unsqueeze(0).expand(patches.shape[0], -1, -1)
        kv = self.ln_patches(patches)
        q_norm = self.ln_query(q)
        attended, _ = self.cross_attn(q_norm, kv, kv, need_weights=False)
        if self.style == "release":
            x = self.ln_mlp(q_norm + attended)
            return x + self.mlp(x)
        x = q + attended
        return x + self.mlp(self.ln_mlp(x))
