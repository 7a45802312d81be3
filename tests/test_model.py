"""The prompted CLIP wrapper: equivalence with stock CLIP, shapes, what trains;
and the CLIP pieces every trainer shares (logits, frozen image features,
zero-shot classifier, learned-prompt text features)."""
import math

import clip
import pytest
import torch
import torch.nn.functional as F

from trainers.modules.adu_model import ADUCLIP, PromptedImageEncoder, VisionPrompts
from trainers.modules.clip_heads import CosineLogits, ZeroshotClassifier, frozen_image_features
from trainers.modules.clip_loading import load_clip, require_vit
from trainers.modules.text_prompts import ClassPrompts, PromptTextEncoder, PromptTextFeatures

CLASSNAMES = ["circle", "square", "star"]


def images(n=4, res=32, seed=1):
    return torch.randn(n, 3, res, res, generator=torch.Generator().manual_seed(seed))


def test_prompts_off_equals_stock_encode_image(tiny_clip):
    model = ADUCLIP(tiny_clip, CLASSNAMES, 4, n_ctx=8, depth=0,
                    instapg_layers=[], domain_head=False)
    x = images()
    with torch.no_grad():
        ours = model.image_encoder(x)
        stock = tiny_clip.encode_image(x)
    torch.testing.assert_close(ours, stock, atol=1e-5, rtol=0)


def test_prompts_off_logits_equal_stock_clip_logits(tiny_clip):
    model = ADUCLIP(tiny_clip, CLASSNAMES, 4, depth=0, instapg_layers=[],
                    domain_head=False)
    x = images()
    tokens = clip.tokenize([f"a photo of a {c}." for c in CLASSNAMES])
    with torch.no_grad():
        stock_logits, _ = tiny_clip(x, tokens)
        ours = model(x).logits
    torch.testing.assert_close(ours, stock_logits, atol=1e-4, rtol=1e-5)


def test_prompted_shapes_and_prompt_count_per_layer(tiny_clip):
    model = ADUCLIP(tiny_clip, CLASSNAMES, 4, n_ctx=5, depth=7, instapg_layers=[3, 7])
    x = images(n=3)
    seen = []
    hooks = [blk.register_forward_pre_hook(lambda m, a: seen.append(a[0].shape[0]))
             for blk in tiny_clip.visual.transformer.resblocks]
    out = model(x)
    for h in hooks:
        h.remove()
    n_tokens = 1 + (32 // 8) ** 2
    # every block sees CLS + patches + 5 prompts once prompting starts
    assert seen == [n_tokens + 5] * 12
    assert model.learner.vision.prompts.shape == (7, 5, 64)
    assert sorted(model.learner.vision.instapg) == ["3", "7"]
    assert out.logits.shape == (3, len(CLASSNAMES))
    assert out.features.shape == (3, 32)
    torch.testing.assert_close(out.features.norm(dim=-1), torch.ones(3))
    assert out.domain_logits.shape == (3, 4)


def test_static_prompts_replace_previous_block_prompts(tiny_clip):
    """Block i sees exactly its own prompts (not the ones block i-1 produced)."""
    model = ADUCLIP(tiny_clip, CLASSNAMES, 4, n_ctx=2, depth=3, instapg_layers=[])
    inputs = []
    hooks = [blk.register_forward_pre_hook(lambda m, a: inputs.append(a[0].detach()))
             for blk in tiny_clip.visual.transformer.resblocks[:4]]
    model(images(n=2))
    for h in hooks:
        h.remove()
    prompts = model.learner.vision.prompts.detach()
    n_keep = 1 + 16
    for i in range(3):
        torch.testing.assert_close(inputs[i][n_keep:], prompts[i].unsqueeze(1).expand(-1, 2, -1))
    # after the last prompted block the prompt tokens flow on unchanged in count
    assert not torch.allclose(inputs[3][n_keep:], prompts[2].unsqueeze(1).expand(-1, 2, -1))


def test_instapg_prompts_depend_on_the_image(tiny_clip):
    vp = VisionPrompts(64, n_ctx=4, depth=2, instapg_layers=[2])
    patches = torch.randn(2, 16, 64)
    generated = vp.for_block(2, patches)
    assert generated.shape == (2, 4, 64)
    assert not torch.allclose(generated[0], generated[1])
    static = vp.for_block(1, patches)
    torch.testing.assert_close(static[0], static[1])


def test_instapg_reads_the_patch_tokens_entering_its_block_and_feeds_that_block(tiny_clip):
    """Forward hooks around InstaPG at block 3 (of 3 prompted blocks): its
    keys/values are exactly the 16 patch tokens block 2 produced (no CLS, none
    of block 2's prompt tokens), its queries are block 3's static prompts, and
    block 3 sees its output as its prompt tokens."""
    model = ADUCLIP(tiny_clip, CLASSNAMES, 4, n_ctx=2, depth=3, instapg_layers=[3])
    blocks = tiny_clip.visual.transformer.resblocks
    seen = {}

    def record_instapg(module, args, output):
        seen["queries"], seen["patches"], seen["generated"] = args[0], args[1], output

    hooks = [
        model.learner.vision.instapg["3"].register_forward_hook(record_instapg),
        blocks[1].register_forward_hook(lambda m, args, out: seen.update(block2_out=out)),
        blocks[2].register_forward_pre_hook(lambda m, args: seen.update(block3_in=args[0])),
    ]
    with torch.no_grad():
        model(images(n=2))
    for hook in hooks:
        hook.remove()
    n_patches = (32 // 8) ** 2
    block2_out, block3_in = seen["block2_out"], seen["block3_in"]  # [tokens, batch, width]
    assert block2_out.shape[0] == block3_in.shape[0] == 1 + n_patches + 2
    assert seen["patches"].shape == (2, n_patches, 64)
    assert torch.equal(seen["patches"], block2_out[1:1 + n_patches].permute(1, 0, 2))
    assert torch.equal(seen["queries"], model.learner.vision.prompts[2])
    assert torch.equal(block3_in[:1 + n_patches], block2_out[:1 + n_patches])
    assert torch.equal(block3_in[1 + n_patches:], seen["generated"].permute(1, 0, 2))
    assert not torch.equal(seen["generated"][0], seen["generated"][1])  # per image


def test_adu_runs_forward_and_backward_on_a_half_precision_clip(tiny_clip):
    """PREC fp16: CLIP's weights in half, the learner in fp32. At the boundary
    InstaPG reads the half patch tokens as fp32 and the blocks get half
    prompts; the result matches the fp32 model and every learner gradient
    is a finite fp32 tensor (on the CPU, where torch runs these ops in half)."""
    import copy

    from trainers.engine.precision import cast_clip
    reference = ADUCLIP(copy.deepcopy(tiny_clip), CLASSNAMES, 4, n_ctx=4, depth=9,
                        instapg_layers=[9])
    model = ADUCLIP(cast_clip(tiny_clip, "fp16"), CLASSNAMES, 4, n_ctx=4, depth=9,
                    instapg_layers=[9])
    model.learner.load_state_dict(reference.learner.state_dict())
    assert tiny_clip.visual.conv1.weight.dtype == torch.float16
    assert all(p.dtype == torch.float32 for p in model.learner.parameters())
    dtypes = {}
    hooks = [
        model.learner.vision.instapg["9"].register_forward_pre_hook(
            lambda m, args: dtypes.update(instapg_in=args[1].dtype)),
        tiny_clip.visual.transformer.resblocks[8].register_forward_pre_hook(
            lambda m, args: dtypes.update(block_in=args[0].dtype)),
    ]
    out = model(images())
    for hook in hooks:
        hook.remove()
    assert dtypes == {"instapg_in": torch.float32, "block_in": torch.float16}
    assert out.logits.dtype == out.features.dtype == torch.float32
    with torch.no_grad():
        expected = reference(images())
    torch.testing.assert_close(out.features, expected.features, atol=2e-2, rtol=0)
    (out.logits.logsumexp(-1).mean() + out.domain_logits.pow(2).mean()).backward()
    for name, p in model.learner.named_parameters():
        assert p.grad is not None and p.grad.dtype == torch.float32, name
        assert torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


def test_text_features_are_computed_once(tiny_clip, monkeypatch):
    model = ADUCLIP(tiny_clip, CLASSNAMES, 4)
    with torch.no_grad():  # stock CLIP's text features of the template, normalised
        stock = tiny_clip.encode_text(clip.tokenize([f"a photo of a {c}." for c in CLASSNAMES]))
    torch.testing.assert_close(model.text_features, stock / stock.norm(dim=-1, keepdim=True))
    calls = []
    monkeypatch.setattr(tiny_clip, "encode_text", lambda *a: calls.append(1))
    model(images()).logits.sum().backward()
    assert calls == []


def test_one_step_changes_only_trainable_tensors(tiny_clip):
    frozen = {k: v.clone() for k, v in tiny_clip.state_dict().items()}
    model = ADUCLIP(tiny_clip, CLASSNAMES, 4, n_ctx=4, depth=9, instapg_layers=[9])
    trainable = [p for p in model.parameters() if p.requires_grad]
    learner_params = list(model.learner.parameters())
    assert {id(p) for p in trainable} == {id(p) for p in learner_params}
    before = [p.detach().clone() for p in learner_params]
    opt = torch.optim.SGD(trainable, lr=0.1)
    out = model(images())
    loss = out.logits.logsumexp(-1).mean() + out.domain_logits.pow(2).mean()
    loss.backward()
    for name, p in model.learner.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, f"no gradient reached {name}"
    opt.step()
    for key, value in tiny_clip.state_dict().items():
        assert torch.equal(value, frozen[key]), f"CLIP weight {key} changed"
    assert all(not torch.equal(a, b) for a, b in zip(before, model.learner.parameters()))
    assert all(p.grad is None for p in tiny_clip.parameters())


@pytest.mark.parametrize("depth,layers,match", [
    (13, [], "12 transformer blocks"),
    (5, [9], "INSTAPG_LAYERS contains 9"),
    (9, [0], "INSTAPG_LAYERS contains 0"),
])
def test_prompt_layout_beyond_the_backbone_fails_clearly(tiny_clip, depth, layers, match):
    with pytest.raises(ValueError, match=match):
        PromptedImageEncoder(tiny_clip.visual, VisionPrompts(64, 8, depth, layers))


def test_checkpoint_file_round_trip(tiny_clip_file):
    model = load_clip(tiny_clip_file)
    assert model.visual.transformer.layers == 12
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_missing_checkpoint_names_the_path(tmp_path):
    missing = tmp_path / "nope" / "clip.pt"
    with pytest.raises(FileNotFoundError, match=str(missing)):
        load_clip(str(missing))


def test_unknown_model_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="ViT-B/16"):
        load_clip("ViT-X/99")


def test_corrupt_checkpoint_names_the_path_and_the_fix(tmp_path, tiny_clip_file):
    bad = tmp_path / "truncated.pt"
    bad.write_bytes(open(tiny_clip_file, "rb").read()[:5000])
    with pytest.raises(RuntimeError, match="corrupt or truncated"):
        load_clip(str(bad))


def test_resnet_backbone_is_refused(tiny_resnet_clip_file):
    model = load_clip(tiny_resnet_clip_file)
    with pytest.raises(ValueError, match="needs a ViT"):
        require_vit(model, tiny_resnet_clip_file, "ADU")


def test_cosine_logits_are_clips_scale_times_the_feature_product(tiny_clip):
    with torch.no_grad():
        tiny_clip.logit_scale.fill_(math.log(42.0))
    logits = CosineLogits(tiny_clip)
    g = torch.Generator().manual_seed(3)
    img = F.normalize(torch.randn(5, 32, generator=g), dim=-1)
    txt = F.normalize(torch.randn(3, 32, generator=g), dim=-1)
    torch.testing.assert_close(logits(img, txt), 42.0 * img @ txt.T)
    # CLIP's temperature is a frozen fp32 buffer, not a parameter of the wrapper
    assert list(logits.parameters()) == [] and logits.scale.dtype == torch.float32
    assert not logits.scale.requires_grad


def test_frozen_image_features_are_normalised_and_carry_no_gradient(tiny_clip):
    x = images().requires_grad_()  # tiny_clip's weights require grad too
    feats = frozen_image_features(tiny_clip, x)
    with torch.no_grad():
        stock = tiny_clip.encode_image(x)
    torch.testing.assert_close(feats, stock / stock.norm(dim=-1, keepdim=True))
    assert feats.dtype == torch.float32 and not feats.requires_grad


def test_zeroshot_classifier_equals_stock_clip_logits(tiny_clip):
    model = ZeroshotClassifier(tiny_clip, CLASSNAMES, "a sketch of a {}.")
    x = images()
    tokens = clip.tokenize([f"a sketch of a {c}." for c in CLASSNAMES])
    with torch.no_grad():
        stock_logits, _ = tiny_clip(x, tokens)
    logits, features = model.logits_and_features(x)
    torch.testing.assert_close(logits, stock_logits, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(features, frozen_image_features(tiny_clip, x))
    torch.testing.assert_close(model(x), stock_logits, atol=1e-4, rtol=1e-5)


def test_prompt_text_features_compose_prompts_encoder_and_cache(tiny_clip):
    text = PromptTextFeatures(tiny_clip, CLASSNAMES, n_ctx=2)
    g = torch.Generator().manual_seed(4)
    ctx, deep = torch.randn(2, 64, generator=g), torch.randn(1, 2, 64, generator=g)
    prompts, encoder = ClassPrompts(tiny_clip, CLASSNAMES, 2), PromptTextEncoder(tiny_clip)
    with torch.no_grad():
        by_hand = encoder(prompts(ctx), prompts.tokens, deep_context=deep)
        first = text(ctx, deep_context=deep)
        torch.testing.assert_close(first, by_hand / by_hand.norm(dim=-1, keepdim=True))
        assert text(ctx, deep_context=deep) is first  # cached while unchanged
        assert not torch.equal(text(ctx, deep_context=deep + 0.5), first)  # deep ctx is an input
        assert not torch.equal(text(ctx), first)
    ctx.requires_grad_()
    text(ctx).sum().backward()  # with gradient: computed anew, back to the context
    assert ctx.grad is not None and ctx.grad.abs().sum() > 0
