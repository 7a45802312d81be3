"""Instance-wise Prompt Generator (InstaPG), docs/METHOD.md section 2.

The static prompts of one prompted block become per-image prompts: they act
as queries of a cross-attention over the patch tokens entering that block,
followed by an MLP, both with residual connections (a pre-LN transformer
decoder layer without self-attention).
"""
import torch
import torch.nn as nn
from clip.model import QuickGELU


class InstaPG(nn.Module):
    """Generates [batch, n_ctx, width] prompts from learnable queries and patches."""

    def __init__(self, width: int):
        super().__init__()
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
        attended, _ = self.cross_attn(self.ln_query(q), kv, kv,
                                      need_weights=False)
        x = q + attended
        return x + self.mlp(self.ln_mlp(x))
