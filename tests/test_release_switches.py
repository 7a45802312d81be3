"""The authors' release as switches (docs/METHOD.md section 10): each switch
changes exactly what it names, and the defaults stay the paper's."""
import math
import os

import pytest
import torch
import torch.nn.functional as F

import trainers.modules.losses as losses

from trainers.modules.adu_model import ADUCLIP, InstaPG, PromptedImageEncoder, VisionPrompts
from trainers.modules.losses import ADUObjective, adu_losses, mmd2
from trainers.modules.release import (
    PromptsBeforeLnPre,
    ReleaseADUCLIP,
    ReleaseInstaPG,
    mmd2_pair_median,
    neg_entropy_forget_loss,
)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLASSNAMES = ["circle", "square", "star"]


def brute_force_pair_median_mmd2(x, domains):
    """The release's kernel written out pair by pair, sample by sample, in float64."""
    x = x.double()
    values = []
    doms = sorted(set(domains.tolist()))
    for i, a in enumerate(doms):
        for b in doms[i + 1:]:
            xa = [x[k] for k in range(len(x)) if domains[k] == a]
            xb = [x[k] for k in range(len(x)) if domains[k] == b]
            if len(xa) < 2 or len(xb) < 2:
                continue
            cross = sorted(math.dist(p.tolist(), q.tolist()) for p in xa for q in xb)
            sigma = cross[(len(cross) - 1) // 2]  # the lower median, as torch's

            def k(p, q, sigma=sigma):
                return math.exp(-float(((p - q) ** 2).sum()) / (2 * sigma ** 2))

            def mean_k(u, v, k=k):
                return sum(k(p, q) for p in u for q in v) / (len(u) * len(v))

            values.append(mean_k(xa, xa) + mean_k(xb, xb) - 2 * mean_k(xa, xb))
    return sum(values) / len(values) if values else 0.0


@pytest.mark.parametrize("domains", [
    [0, 0, 1, 1, 2, 2, 2, 3, 3, 3],
    [0, 1, 1, 1, 2, 2, 3, 3, 3, 3],     # domain 0 has one sample: its pairs are skipped
    [2, 2, 2, 2, 2, 5, 5, 5, 5, 5],
])
def test_pair_median_kernel_equals_a_per_pair_loop(domains):
    x = F.normalize(torch.randn(10, 6, generator=torch.Generator().manual_seed(3)), dim=-1)
    d = torch.tensor(domains)
    ours = mmd2_pair_median(features=x, domains=d)
    assert ours.item() == pytest.approx(brute_force_pair_median_mmd2(x, d), rel=1e-5, abs=1e-7)
    # a different kernel from the paper's batch median
    assert ours.item() != pytest.approx(mmd2(features=x, domains=d).item(), rel=1e-3)


def test_pair_median_is_zero_with_graph_when_no_pair_has_two_samples_each():
    x = torch.randn(3, 4, requires_grad=True)
    out = mmd2_pair_median(features=x, domains=torch.tensor([0, 1, 1]))
    assert out.item() == 0.0
    out.backward()
    assert x.grad is not None


def test_pair_median_bandwidth_carries_no_gradient():
    """The gradient is that of the kernel with sigma held at its value."""
    x = torch.randn(8, 5, dtype=torch.float64, requires_grad=True)
    d = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    mmd2_pair_median(features=x, domains=d).backward()
    with torch.no_grad():
        sigma = torch.cdist(x[:4], x[4:]).flatten().median()
    y = x.detach().clone().requires_grad_(True)
    sq = ((y[:, None] - y[None]) ** 2).sum(-1)
    w = torch.tensor([0.25] * 4 + [-0.25] * 4, dtype=torch.float64)
    (w @ torch.exp(-sq / (2 * sigma ** 2)) @ w).backward()
    torch.testing.assert_close(x.grad, y.grad)


def batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(12, 3, generator=g)
    labels = torch.randint(0, 3, (12,), generator=g)
    domains = torch.tensor([0, 1, 2, 3] * 3)
    feats = F.normalize(torch.randn(12, 8, generator=g), dim=-1)
    domain_logits = torch.randn(12, 4, generator=g)
    return logits, labels, domains, domains == 3, feats, domain_logits


KERNELS = {"batch_median": mmd2, "pair_median": mmd2_pair_median}


@pytest.mark.parametrize("kernel", ["batch_median", "pair_median"])
def test_mmd_input_domain_logits_is_the_mmd_of_the_heads_outputs(kernel):
    logits, labels, domains, forget, feats, dlogits = batch()
    mmd = KERNELS[kernel]
    args = dict(logits=logits, labels=labels, domains=domains, forget_mask=forget,
                features=feats, domain_logits=dlogits)
    terms = adu_losses(**args, objective=ADUObjective(mmd=mmd, mmd_on_domain_logits=True))
    torch.testing.assert_close(terms["mmd2"], mmd(features=dlogits, domains=domains))
    paper = adu_losses(**args, objective=ADUObjective(mmd=mmd))
    torch.testing.assert_close(paper["mmd2"], mmd(features=feats, domains=domains))
    # only the MMD term differs
    for key in ("memorize", "forget", "domain_ce"):
        torch.testing.assert_close(terms[key], paper[key])
    assert terms["mmd2"].item() != pytest.approx(paper["mmd2"].item())


def test_the_domain_head_is_built_when_only_the_mmd_reads_it():
    assert not ADUObjective(ddl_ce=False).uses_domain_head
    assert ADUObjective(ddl_ce=False, mmd_on_domain_logits=True).uses_domain_head
    assert not ADUObjective(ddl=False, mmd_on_domain_logits=True).uses_domain_head


def images(n=4, seed=1):
    return torch.randn(n, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


def test_learned_text_prompts_train_and_clip_stays_bitwise_unchanged(tiny_clip):
    frozen = {k: v.clone() for k, v in tiny_clip.state_dict().items()}
    model = ReleaseADUCLIP(tiny_clip, CLASSNAMES, 4, n_ctx=4, depth=9, n_ctx_text=3,
                           depth_text=2)
    text = model.learner.text
    assert text.ctx.shape == (3, 64) and text.deep.shape == (1, 3, 64)
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    assert trainable == {id(p) for p in model.learner.parameters()}
    opt = torch.optim.SGD(model.learner.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    before = model.text_features.detach().clone()
    for _ in range(2):
        opt.zero_grad()
        out = model(images())
        F.cross_entropy(out.logits, torch.tensor([0, 1, 2, 0])).backward()
        assert text.ctx.grad.abs().sum() > 0 and text.deep.grad.abs().sum() > 0
        opt.step()
    for key, value in tiny_clip.state_dict().items():
        assert torch.equal(value, frozen[key]), f"CLIP weight {key} changed"
    assert all(p.grad is None for p in tiny_clip.parameters())
    # the class text features follow the learned prompts
    assert not torch.allclose(model.text_features, before)


def test_learned_text_features_recomputed_per_step_and_once_per_evaluation(tiny_clip):
    model = ReleaseADUCLIP(tiny_clip, CLASSNAMES, 4, n_ctx=2, depth=2, instapg_layers=[],
                           n_ctx_text=2, depth_text=2)
    calls = []
    model.prompt_text.encoder.register_forward_hook(lambda *a: calls.append(1))
    for _ in range(2):  # training: every forward encodes the class texts
        model(images(2))
    assert len(calls) == 2
    with torch.no_grad():  # an evaluation: one encoding for all its batches
        for seed in range(3):
            model(images(2, seed))
    assert len(calls) == 3


def test_fixed_template_by_default_is_a_cached_buffer(tiny_clip):
    model = ADUCLIP(tiny_clip, CLASSNAMES, 4)
    assert model.learner.text is None and not hasattr(model, "prompt_text")
    assert "fixed_text_features" in dict(model.named_buffers())


def test_text_context_from_the_template_starts_at_the_template(tiny_clip):
    from trainers.modules.clip_heads import encode_class_texts
    model = ReleaseADUCLIP(tiny_clip, CLASSNAMES, 4, n_ctx_text=4, depth_text=1,
                           text_ctx_init=True)
    with torch.no_grad():
        torch.testing.assert_close(
            model.text_features, encode_class_texts(tiny_clip, CLASSNAMES, "a photo of a {}."),
            atol=1e-5, rtol=0)


@pytest.mark.parametrize("kwargs,match", [
    (dict(n_ctx_text=8, text_ctx_init=True), "N_CTX_TEXT 4"),
    (dict(n_ctx_text=2, depth_text=3), "PROMPT_DEPTH_TEXT=3"),
    (dict(n_ctx_text=2, depth_text=0), "PROMPT_DEPTH_TEXT=0"),
])
def test_bad_text_settings_fail_clearly(tiny_clip, kwargs, match):
    with pytest.raises(ValueError, match=match):
        ReleaseADUCLIP(tiny_clip, CLASSNAMES, 4, **kwargs)


def direct_release_instapg(m: InstaPG, queries, patches):
    """The release's arrangement written out with the module's weights:
    q' = LN1(q); x = q' + MHA(q', LN2(p)); x = LN3(x); out = x + FFN(x)."""
    width = queries.shape[-1]
    heads = m.cross_attn.num_heads
    ln = F.layer_norm
    q = ln(queries, (width,), m.ln_query.weight, m.ln_query.bias)  # [n, W]
    p = ln(patches, (width,), m.ln_patches.weight, m.ln_patches.bias)  # [B, P, W]
    wq, wk, wv = m.cross_attn.in_proj_weight.chunk(3)
    bq, bk, bv = m.cross_attn.in_proj_bias.chunk(3)
    hd = width // heads

    def split(t):  # [..., L, W] -> [..., heads, L, hd]
        return t.unflatten(-1, (heads, hd)).transpose(-3, -2)

    qh = split(q @ wq.t() + bq)                       # [heads, n, hd]
    kh, vh = split(p @ wk.t() + bk), split(p @ wv.t() + bv)  # [B, heads, P, hd]
    att = torch.softmax(qh @ kh.transpose(-1, -2) / math.sqrt(hd), dim=-1)
    mixed = (att @ vh).transpose(-3, -2).flatten(-2)   # [B, n, W]
    x = q + mixed @ m.cross_attn.out_proj.weight.t() + m.cross_attn.out_proj.bias
    x = ln(x, (width,), m.ln_mlp.weight, m.ln_mlp.bias)
    fc1, fc2 = m.mlp[0], m.mlp[2]
    h = x @ fc1.weight.t() + fc1.bias
    h = h * torch.sigmoid(1.702 * h)
    return x + h @ fc2.weight.t() + fc2.bias


def test_release_instapg_matches_a_direct_implementation():
    torch.manual_seed(0)
    m = ReleaseInstaPG(128)
    for p in m.parameters():  # non-trivial norms and biases
        torch.nn.init.normal_(p, std=0.3)
    queries, patches = torch.randn(8, 128), torch.randn(3, 16, 128)
    torch.testing.assert_close(m(queries, patches), direct_release_instapg(m, queries, patches),
                               atol=1e-4, rtol=1e-4)
    # the paper's arrangement, with the same weights, is a different function
    paper = InstaPG(128)
    paper.load_state_dict(m.state_dict())
    assert not torch.allclose(paper(queries, patches),
                              direct_release_instapg(m, queries, patches), atol=1e-2)


def default_cfg():
    import train
    return train.default_cfg()


def test_defaults_are_the_papers():
    node = default_cfg().TRAINER.ADU
    assert (node.N_CTX_VISION, node.PROMPT_DEPTH_VISION) == (8, 9)
    assert node.TEXT_TEMPLATE == "a photo of a {}." and node.N_CTX_TEXT == 0
    assert (node.INSTAPG, list(node.INSTAPG_LAYERS), node.INSTAPG_STYLE) == (True, [9], "pre_norm")
    assert (node.DDL, node.DDL_CE, node.DDL_MMD) == (True, True, True)
    assert (node.DDL_GAMMA, node.DDL_LAMBDA) == (30.0, 10.0)
    assert (node.MMD_INPUT, node.MMD_KERNEL, node.MMD_BANDWIDTH) == (
        "embedding", "batch_median", "median")
    assert node.FORGET_LOSS == "uniform_ce" and node.FORGET_LOG_EPS == 0.0
    assert node.DOMAIN_HEAD == "domains" and node.PROMPTS_BEFORE_LN_PRE is False
    from trainers.adu import adu_objective, uses_release_model
    objective = adu_objective(node)
    assert objective.forget is losses.forget_loss and not objective.mmd_on_domain_logits
    assert objective.mmd.func is mmd2 and objective.mmd.keywords == {"bandwidth": "median"}
    assert (objective.gamma, objective.lam) == (30.0, 10.0)
    assert not uses_release_model(node)


def merged(path):
    cfg = default_cfg()
    cfg.merge_from_file(os.path.join(REPO, path))
    return cfg


def test_the_release_config_trains_the_releases_objective_and_model(
        office_home_root, tiny_clip_file, tmp_path, monkeypatch):
    """vit_b16_ep50_release.yaml, built as train.py builds it (text depth 2: the
    test CLIP has 2 text blocks), does what the release does: its InstaPG is
    the release's arrangement, block 1's prompts pass through ln_pre, the
    domain classifier has #domains x #classes outputs, and one real training
    step minimises L_memorize + neg-entropy L_forget (log(p + 1e-5)) + 30 CE
    - 0.5 MMD^2, the CE on the domain index over all those outputs, the MMD
    with a bandwidth per domain pair over the domain classifier's logits."""
    pytest.importorskip("dassl", reason="Dassl not installed")
    from adu_step_recorder import only_call, recorded_step
    from trainer_builds import build_adu
    trainer = build_adu(office_home_root, tmp_path, tiny_clip_file,
                        "TRAINER.ADU.PROMPT_DEPTH_TEXT", "2", config="vit_b16_ep50_release")
    dataset = trainer.dm.dataset
    learner = trainer.model.learner
    assert learner.text.deep.shape[0] == 1  # learned text prompts, deep
    assert isinstance(learner.vision, PromptsBeforeLnPre)
    assert learner.domain_head.out_features == len(dataset.domains) * len(dataset.classnames)
    instapg = learner.vision.instapg["9"]
    queries, patches = torch.randn(8, 64), torch.randn(2, 5, 64)
    torch.testing.assert_close(instapg(queries, patches),
                               direct_release_instapg(instapg, queries, patches),
                               atol=1e-4, rtol=1e-4)

    seen = recorded_step(trainer, monkeypatch)
    domains = seen["batch"]["domain"]
    logits = only_call(seen, "forget")["logits"].double()
    domain_logits = only_call(seen, "domain_ce_loss")["domain_logits"].double()
    assert domain_logits.shape[1] == 12
    assert torch.equal(only_call(seen, "mmd2")["features"], domain_logits.float())
    forget = torch.isin(domains, torch.tensor(dataset.forget_domain_ids))
    log_p = torch.log_softmax(logits, dim=-1)
    memorize = (-log_p[torch.arange(len(domains)), seen["batch"]["label"]])[~forget].mean()
    p = log_p.exp()
    neg_entropy = (p * torch.log(p + 1e-5)).sum(-1)[forget].mean()
    ce = (-torch.log_softmax(domain_logits, -1)[torch.arange(len(domains)), domains]).mean()
    mmd = brute_force_pair_median_mmd2(domain_logits, domains)
    terms = seen["terms"]
    assert terms["forget"].item() == pytest.approx(neg_entropy.item(), rel=1e-5, abs=1e-6)
    assert terms["domain_ce"].item() == pytest.approx(ce.item(), rel=1e-5)
    assert terms["mmd2"].item() == pytest.approx(mmd, rel=1e-4, abs=1e-7)
    total = memorize + neg_entropy + 30.0 * ce - 0.5 * mmd
    assert terms["total"].item() == pytest.approx(total.item(), rel=1e-5)
    assert 0.5 * mmd > 1e-4  # the MMD term shows in the total


def loop_neg_entropy(logits, mask, eps):
    """mean over the masked rows of sum_c p_c log(p_c + eps), one value at a time."""
    values = []
    for row, keep in zip(logits.tolist(), mask.tolist()):
        if keep:
            top = max(row)
            exps = [math.exp(v - top) for v in row]
            p = [e / sum(exps) for e in exps]
            values.append(sum(pc * math.log(pc + eps) for pc in p))
    return sum(values) / len(values)


def test_forget_log_eps_is_the_releases_log_of_p_plus_eps():
    """FORGET_LOG_EPS 1e-5: sum p log(p + 1e-5), as the release writes it,
    against a written-out float64 loop; 0 is the exact negative entropy, and
    on confident predictions the two differ."""
    logits = torch.randn(6, 5, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    logits[:3] *= 12.0  # confident rows: p of the other classes below 1e-5
    mask = torch.tensor([True, False, True, True, False, True])
    for eps in (1e-5, 0.0):
        got = neg_entropy_forget_loss(logits=logits, forget_mask=mask, log_eps=eps)
        assert got.item() == pytest.approx(loop_neg_entropy(logits, mask, eps), rel=1e-6)
    assert abs(loop_neg_entropy(logits, mask, 1e-5) - loop_neg_entropy(logits, mask, 0.0)) > 1e-5


def release_order_encoder(visual, vp, images):
    """The release's prompted encoder written out (its clip/model.py): the
    tokens, block 1's prompts appended, THEN ln_pre over the whole sequence;
    before each block 2..depth the prompt tokens replaced; CLS -> ln_post -> proj."""
    x = visual.conv1(images).flatten(2).permute(0, 2, 1)
    cls = visual.class_embedding + torch.zeros(x.shape[0], 1, x.shape[-1])
    x = torch.cat([cls, x], dim=1) + visual.positional_embedding
    n_keep = x.shape[1]
    x = torch.cat([x, vp.prompts[0].expand(x.shape[0], -1, -1)], dim=1)
    x = visual.ln_pre(x).permute(1, 0, 2)
    for i, block in enumerate(visual.transformer.resblocks, start=1):
        if 2 <= i <= vp.depth:
            prompts = vp.prompts[i - 1].expand(x.shape[1], -1, -1).permute(1, 0, 2)
            x = torch.cat([x[:n_keep], prompts], dim=0)
        x = block(x)
    return visual.ln_post(x[0]) @ visual.proj


def test_prompts_before_ln_pre_are_the_releases_encoder(tiny_clip):
    """PROMPTS_BEFORE_LN_PRE: the prompted encoder equals the release's order
    written out; the paper's (prompts after ln_pre) differs with the same prompts."""
    visual = tiny_clip.float().visual
    for p in visual.ln_pre.parameters():  # a ln_pre that is not the identity
        torch.nn.init.normal_(p, mean=0.5, std=0.3)
    torch.manual_seed(0)
    release_prompts = PromptsBeforeLnPre(visual.transformer.width, 3, 2, ln_pre=visual.ln_pre)
    paper_prompts = VisionPrompts(visual.transformer.width, 3, 2)
    paper_prompts.load_state_dict(release_prompts.state_dict())
    assert set(release_prompts.state_dict()) == {"prompts"}  # ln_pre is not the learner's
    x = images(3)
    with torch.no_grad():
        ours = PromptedImageEncoder(visual, release_prompts)(x)
        torch.testing.assert_close(ours, release_order_encoder(visual, release_prompts, x),
                                   atol=1e-5, rtol=1e-5)
        paper = PromptedImageEncoder(visual, paper_prompts)(x)
    assert not torch.allclose(paper, ours, atol=1e-3)


def test_every_release_setting_says_where_the_release_sets_it():
    with open(os.path.join(REPO, "configs/trainers/ADU/vit_b16_ep50_release.yaml")) as f:
        adu_lines = f.read().split("  ADU:")[1].strip().splitlines()
    assert all("#" in line for line in adu_lines), "every release setting says where it is set"


@pytest.mark.parametrize("name,backbone,blocks", [
    ("vit_b32_ep50", "ViT-B/32", 12), ("vit_l14_ep50", "ViT-L/14", 24)])
def test_other_backbone_configs_fit_their_backbone(name, backbone, blocks):
    cfg = merged(f"configs/trainers/ADU/{name}.yaml")
    node = cfg.TRAINER.ADU
    assert cfg.MODEL.BACKBONE.NAME == backbone
    assert 1 <= node.PROMPT_DEPTH_VISION <= blocks
    assert all(1 <= layer <= node.PROMPT_DEPTH_VISION for layer in node.INSTAPG_LAYERS)
