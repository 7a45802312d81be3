"""The paper's InstaPG (pre-norm, docs/METHOD.md section 2) against a reference
written here from the method's description, with the module's own weights:

    x = q + MHA(LN_q(q), LN_p(p));  out = x + MLP(LN_m(x))

multi-head attention with width / 64 heads, written head by head with plain
matrix products and an explicit softmax (no nn.MultiheadAttention, no
F.scaled_dot_product_attention), in float64.
"""
import math

import pytest
import torch

from trainers.modules.adu_model import InstaPG, VisionPrompts


def layer_norm(x, weight, bias, eps=1e-5):
    mean = x.mean(dim=-1, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * weight + bias


def softmax_rows(scores):
    e = torch.exp(scores - scores.max(dim=-1, keepdim=True).values)
    return e / e.sum(dim=-1, keepdim=True)


def reference_pre_norm(params, queries, patches):
    """queries [n, W], patches [B, P, W] -> prompts [B, n, W], from a plain dict
    of weights (PyTorch's packed in-projection: rows q, k, v)."""
    width = queries.shape[-1]
    heads = width // 64
    head_dim = width // heads
    w_in, b_in = params["cross_attn.in_proj_weight"], params["cross_attn.in_proj_bias"]
    w_q, w_k, w_v = w_in[:width], w_in[width:2 * width], w_in[2 * width:]
    b_q, b_k, b_v = b_in[:width], b_in[width:2 * width], b_in[2 * width:]
    outputs = []
    for image in patches:  # [P, W]
        q_norm = layer_norm(queries, params["ln_query.weight"], params["ln_query.bias"])
        p_norm = layer_norm(image, params["ln_patches.weight"], params["ln_patches.bias"])
        q_all, k_all, v_all = q_norm @ w_q.T + b_q, p_norm @ w_k.T + b_k, p_norm @ w_v.T + b_v
        per_head = []
        for h in range(heads):
            cols = slice(h * head_dim, (h + 1) * head_dim)
            scores = q_all[:, cols] @ k_all[:, cols].T / math.sqrt(head_dim)  # [n, P]
            per_head.append(softmax_rows(scores) @ v_all[:, cols])             # [n, hd]
        attended = torch.cat(per_head, dim=-1) @ params["cross_attn.out_proj.weight"].T \
            + params["cross_attn.out_proj.bias"]
        x = queries + attended  # the residual goes to the un-normed queries
        hidden = layer_norm(x, params["ln_mlp.weight"], params["ln_mlp.bias"]) \
            @ params["mlp.0.weight"].T + params["mlp.0.bias"]
        hidden = hidden * torch.sigmoid(1.702 * hidden)  # QuickGELU
        outputs.append(x + hidden @ params["mlp.2.weight"].T + params["mlp.2.bias"])
    return torch.stack(outputs)


def randomised(width, seed=0):
    torch.manual_seed(seed)
    m = InstaPG(width)  # the paper's (release.ReleaseInstaPG is the release's)
    for p in m.parameters():  # non-trivial norms, biases and projections
        torch.nn.init.normal_(p, std=0.3)
    return m


@pytest.mark.parametrize("width,n_ctx,batch,n_patches", [(128, 8, 3, 16), (64, 2, 2, 5)])
def test_default_instapg_matches_a_written_out_pre_norm_layer(width, n_ctx, batch, n_patches):
    m = randomised(width).double()
    # The pre-norm layer is the one deep prompts build by default, not a release variant.
    assert type(m) is InstaPG
    assert type(VisionPrompts(width, 1, 1, [1]).instapg["1"]) is InstaPG
    params = {k: v.detach() for k, v in m.named_parameters()}
    gen = torch.Generator().manual_seed(1)
    queries = torch.randn(n_ctx, width, generator=gen, dtype=torch.float64)
    patches = torch.randn(batch, n_patches, width, generator=gen, dtype=torch.float64)
    ours = m(queries, patches)
    assert ours.shape == (batch, n_ctx, width)
    torch.testing.assert_close(ours, reference_pre_norm(params, queries, patches),
                               atol=1e-5, rtol=1e-5)


def test_float32_module_matches_the_reference_too():
    m = randomised(128, seed=2)
    params = {k: v.detach().double() for k, v in m.named_parameters()}
    queries, patches = torch.randn(4, 128), torch.randn(2, 10, 128)
    ref = reference_pre_norm(params, queries.double(), patches.double())
    torch.testing.assert_close(m(queries, patches).double(), ref, atol=1e-4, rtol=1e-4)
