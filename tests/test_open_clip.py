"""open_clip backbones (docs/BACKBONES.md) on a tiny random-weights open_clip ViT:
the prompted encoders equal open_clip's own at depth 0, prompts and InstaPG
see what they should, only the learner gets gradients, the names, files and
architectures a user can give are checked in one line, and run folders name
the backbone. The train.py runs are in test_open_clip_e2e.py.
"""
import pytest
import torch

pytest.importorskip("open_clip", reason="open-clip-torch not installed (requirements.txt)")

from open_clip_tiny import TINY_CONFIG, save_weights, tiny_model, write_config  # noqa: E402

from experiments.launch.run_label import backbone_label, suffix  # noqa: E402
from trainers.engine.precision import cast_clip  # noqa: E402
from trainers.modules import open_clip_backbone as oc  # noqa: E402
from trainers.modules.adu_model import ADUCLIP, PromptedImageEncoder, VisionPrompts  # noqa: E402
from trainers.modules.clip_heads import encode_class_texts, tokenize_prompts  # noqa: E402
from trainers.modules.clip_loading import load_clip, require_vit  # noqa: E402
from trainers.modules.text_prompts import PromptTextFeatures  # noqa: E402
from user_errors import BadFileError, ConfigError, DownloadError, MissingFileError  # noqa: E402

CLASSES = ["cat", "dog", "traffic light"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(model-config path, tiny open_clip CLIP with random weights)."""
    return tiny_model(tmp_path_factory.mktemp("open_clip"))


def images(n=3, seed=1):
    return torch.randn(n, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


def block_inputs(visual):
    """Hooks recording the tokens entering each vision block, [B, L, W]."""
    seen = []
    hooks = [b.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach().clone()))
             for b in visual.transformer.resblocks]
    return seen, hooks


def test_blocks_are_batch_first_as_the_model_says(tiny):
    model = tiny[1]
    assert model.visual.transformer.batch_first and model.transformer.batch_first
    assert PromptedImageEncoder(model.visual, VisionPrompts(64, 2, 0)).batch_first


def test_prompts_off_equal_the_stock_open_clip_image_features(tiny):
    model = tiny[1]
    encoder = PromptedImageEncoder(model.visual, VisionPrompts(64, 4, 0))
    with torch.no_grad():
        assert torch.allclose(encoder(images()), model.encode_image(images()), atol=1e-6)


def test_prompts_enter_behind_the_patches_and_flow_on_after_the_last_prompted_block(tiny):
    model = tiny[1]
    prompts = VisionPrompts(64, n_ctx=2, depth=2)
    encoder = PromptedImageEncoder(model.visual, prompts)
    seen, hooks = block_inputs(model.visual)
    with torch.no_grad():
        prompted = encoder(images())
        stock_tokens = model.visual._embeds(images())  # open_clip's own CLS + patches
    for hook in hooks:
        hook.remove()
    n_keep = stock_tokens.shape[1]
    assert torch.allclose(seen[0][:, :n_keep], stock_tokens, atol=1e-6)
    for block in (1, 2):  # each prompted block sees its own prompts behind CLS + patches
        own = prompts.prompts[block - 1].expand(3, -1, -1)
        assert torch.equal(seen[block - 1][:, n_keep:], own)
    with torch.no_grad():  # block 3 gets block 2's output prompt tokens, not new ones
        out2 = model.visual.transformer.resblocks[1](seen[1])
    assert torch.allclose(seen[2], out2, atol=1e-6)
    with torch.no_grad():
        assert not torch.allclose(prompted, model.encode_image(images()), atol=1e-3)


def test_instapg_keys_are_the_patch_tokens_entering_its_block(tiny, monkeypatch):
    model = tiny[1]
    prompts = VisionPrompts(64, n_ctx=2, depth=3, instapg_layers=[3])
    keys = []
    generator = prompts.instapg["3"]
    original = type(generator).forward
    monkeypatch.setattr(type(generator), "forward",
                        lambda self, q, p: keys.append(p.detach().clone()) or original(self, q, p))
    encoder = PromptedImageEncoder(model.visual, prompts)
    seen, hooks = block_inputs(model.visual)
    with torch.no_grad():
        encoder(images())
    for hook in hooks:
        hook.remove()
    n_patches = (32 // 8) ** 2
    assert len(keys) == 1 and keys[0].shape == (3, n_patches, 64)
    assert torch.equal(keys[0], seen[2][:, 1:1 + n_patches])


def test_prompted_text_equals_open_clip_encode_text(tiny):
    """The context taken from the words "a photo" gives open_clip's own text
    features of "a photo {class}.": its tokenizer, layout and causal mask."""
    model = tiny[1]
    features = PromptTextFeatures(model, CLASSES, n_ctx=2)
    with torch.no_grad():
        ctx = model.token_embedding(tokenize_prompts(model, ["a photo"]))[0, 1:3]
        assert torch.allclose(features(ctx), encode_class_texts(model, CLASSES, "a photo {}."),
                              atol=1e-5)


def test_gradients_reach_only_the_learner(tiny):
    model = tiny[1]
    adu = ADUCLIP(model, CLASSES, domain_outputs=2, n_ctx=2, depth=3, instapg_layers=[3])
    out = adu(images())
    (out.logits.logsumexp(-1).sum() + out.domain_logits.square().sum()).backward()
    learner = {id(p) for p in adu.learner.parameters()}
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in adu.learner.parameters())
    assert all(p.grad is None for p in model.parameters() if id(p) not in learner)
    adu.learner.zero_grad()


def test_fp16_casts_open_clip_weights_but_not_its_layernorms(tiny):
    half = cast_clip(oc.random_open_clip(tiny[0]), "fp16")
    assert half.visual.conv1.weight.dtype == torch.float16
    assert half.visual.proj.dtype == half.text_projection.dtype == torch.float16
    assert half.visual.ln_pre.weight.dtype == torch.float32  # open_clip keeps LayerNorms fp32


@pytest.mark.parametrize("suffix_", [".pt", ".safetensors"])
def test_a_local_weights_file_loads_as_saved(tiny, tmp_path, suffix_):
    config, model = tiny
    path = save_weights(model, str(tmp_path / f"w{suffix_}"), safetensors=suffix_ == ".safetensors")
    loaded = load_clip(f"open_clip:{config}:{path}")
    assert loaded.tokenizer is not None
    require_vit(loaded, "open_clip", "ADU")
    with torch.no_grad():
        assert torch.allclose(loaded.encode_image(images()), model.encode_image(images()),
                              atol=1e-5)


@pytest.mark.parametrize("arch, reason", [
    ("RN50", "ResNet"), ("convnext_tiny", "timm model"), ("coca_ViT-B-32", "pools by attention"),
    ("ViT-L-14-CLIPA", "pools by 'avg'"), ("roberta-ViT-B-32", "text tower"),
])
def test_unsupported_architectures_are_refused_in_one_line(arch, reason):
    name = oc.OpenCLIPName(arch, "x")
    with pytest.raises(ConfigError, match=reason) as err:
        oc.check_config(name, oc.model_config(name))
    assert "supported are open_clip ViTs with a class token" in str(err.value)
    assert "\n" not in str(err.value)


def test_the_vit_configs_pass_and_the_image_size_must_match(tiny):
    for arch in ("ViT-B-32", "ViT-B-16", "ViT-L-14", "ViT-H-14-quickgelu"):
        name = oc.OpenCLIPName(arch, "x")
        oc.check_config(name, oc.model_config(name), (224, 224))
    with pytest.raises(ConfigError, match=r'INPUT.SIZE "\(224, 224\)"'):
        oc.check_config(name, oc.model_config(name), (32, 32))


def test_names_tags_and_files_are_checked(tiny, tmp_path):
    config = tiny[0]
    with pytest.raises(ConfigError, match="open_clip:ARCH:PRETRAINED"):
        oc.parse_name("open_clip:ViT-B-32")
    with pytest.raises(ConfigError, match="no model 'ViT-Q-99'"):
        oc.model_config(oc.parse_name("open_clip:ViT-Q-99:openai"))
    with pytest.raises(MissingFileError, match="open_clip model config not found"):
        oc.model_config(oc.parse_name(f"open_clip:{tmp_path}/none.json:w.pt"))
    with pytest.raises(ConfigError, match="its tags: .*laion2b_s34b_b88k"):
        oc.preprocess_mean_std(oc.parse_name("open_clip:ViT-B-16:laion9b"))
    with pytest.raises(MissingFileError, match="open_clip weights not found"):
        load_clip(f"open_clip:{config}:{tmp_path}/missing.safetensors")
    (tmp_path / "junk.pt").write_bytes(b"not a state dict")
    with pytest.raises(BadFileError, match="corrupt"):
        load_clip(f"open_clip:{config}:{tmp_path}/junk.pt")


def test_a_failed_tag_download_says_how_to_work_offline(monkeypatch):
    import open_clip

    def no_network(*args, **kwargs):
        raise RuntimeError("Failed to download weights for tag 'laion2b_s34b_b88k'")
    monkeypatch.setattr(open_clip, "create_model", no_network)
    with pytest.raises(DownloadError, match="to work offline.*open_clip:ViT-B-16:/path/FILE"):
        load_clip("open_clip:ViT-B-16:laion2b_s34b_b88k")


def test_mean_and_std_come_from_the_tags_preprocess_config(monkeypatch):
    import open_clip
    assert oc.preprocess_mean_std(oc.parse_name("open_clip:ViT-B-16:laion2b_s34b_b88k")) == (
        (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711))
    monkeypatch.setattr(open_clip, "get_pretrained_cfg",
                        lambda arch, tag: {"hf_hub": "x/", "mean": (0.5,) * 3, "std": (0.25,) * 3})
    assert oc.preprocess_mean_std(oc.parse_name("open_clip:ViT-B-16:laion2b_s34b_b88k")) == (
        (0.5,) * 3, (0.25,) * 3)


def test_train_py_config_takes_the_models_normalisation(monkeypatch, capsys):
    import open_clip

    from train import parse_args, setup_cfg
    monkeypatch.setattr(open_clip, "get_pretrained_cfg",
                        lambda arch, tag: {"hf_hub": "x/", "mean": (0.5,) * 3, "std": (0.25,) * 3})
    cfg = setup_cfg(parse_args(["--config-file",
                                "configs/trainers/ADU/openclip_vit_b16_laion_ep50.yaml"]))
    assert cfg.MODEL.BACKBONE.NAME == "open_clip:ViT-B-16:laion2b_s34b_b88k"
    assert list(cfg.INPUT.PIXEL_MEAN) == [0.5] * 3 and list(cfg.INPUT.PIXEL_STD) == [0.25] * 3
    assert "PIXEL_MEAN/PIXEL_STD set to" in capsys.readouterr().out


def test_run_folders_name_the_open_clip_backbone():
    assert backbone_label("open_clip:ViT-B-16:laion2b_s34b_b88k") == \
        "openclip_ViT-B-16_laion2b_s34b_b88k"
    assert backbone_label("open_clip:/cfg/adu-tiny-vit.json:/w/rand.safetensors") == \
        "openclip_adu-tiny-vit_rand"
    assert suffix("configs/trainers/ADU/vit_b16_ep50.yaml",
                  ["MODEL.BACKBONE.NAME", "open_clip:ViT-B-32:/m/rand.pt"]) == \
        "_openclip_ViT-B-32_rand"
    assert suffix("configs/trainers/ADU/openclip_vit_b16_laion_ep50.yaml",
                  ["MODEL.BACKBONE.NAME", "open_clip:ViT-B-16:laion2b_s34b_b88k"]) == ""


def test_tiny_config_is_open_clips_format(tmp_path):
    path = write_config(tmp_path, "adu-check")
    name = oc.parse_name(f"open_clip:{path}:w.pt")
    assert oc.model_config(name) == TINY_CONFIG and oc.model_name(name) == "adu-check"


def test_an_attention_pooled_open_clip_vit_is_no_prompt_target(tmp_path):
    """The model-level check behind the config one (an attention pooler has no
    class token to read the prompted embedding from)."""
    config = {**TINY_CONFIG, "vision_cfg": {**TINY_CONFIG["vision_cfg"], "attentional_pool": True,
                                            "attn_pooler_heads": 1, "attn_pooler_queries": 4}}
    model = oc.random_open_clip(write_config(tmp_path, "adu-tiny-attn-pool", config))
    with pytest.raises(TypeError, match="pooled by its class token"):
        PromptedImageEncoder(model.visual, VisionPrompts(64, 2, 1))
    with pytest.raises(ConfigError, match="needs a ViT"):
        require_vit(model, "open_clip:adu-tiny-attn-pool:x", "ADU")


def test_deep_text_context_replaces_only_the_context_tokens(tiny):
    """MaPLe's deep text prompts on open_clip's batch-first text blocks: block 2
    sees the deep context at positions 1..n_ctx and the rest as without it."""
    model = tiny[1]
    features = PromptTextFeatures(model, CLASSES, n_ctx=2)
    ctx, deep = torch.randn(2, 64), torch.randn(1, 2, 64)
    seen = []
    hook = model.transformer.resblocks[1].register_forward_pre_hook(
        lambda m, args: seen.append(args[0].detach().clone()))
    with torch.no_grad():
        plain, prompted = features(ctx), features(ctx, deep_context=deep)
    hook.remove()
    assert torch.equal(seen[1][:, 1:3], deep[0].expand(len(CLASSES), -1, -1))
    assert torch.equal(seen[1][:, :1], seen[0][:, :1])
    assert torch.equal(seen[1][:, 3:], seen[0][:, 3:])
    assert not torch.allclose(plain, prompted)


def test_benchmark_backbone_pairs_open_clip_with_openai_shapes(capsys):
    """tools/benchmark.py --backbone: open_clip's ARCH at its image size, and
    row 3o, the OpenAI step of the same shapes as a per-round ratio."""
    from tool_entry import load_tool

    from experiments.bench.models import image_resolution, openai_reference
    from experiments.bench.table import Table, add_step_rows
    settings = load_tool("benchmark").parse_args(["--backbone", "open_clip:ViT-B-16"])
    assert settings.arch == "open_clip:ViT-B-16" and image_resolution(settings) == 224
    assert openai_reference(settings) == "ViT-B/16"
    assert openai_reference(load_tool("benchmark").parse_args([])) is None
    with pytest.raises(SystemExit):
        load_tool("benchmark").parse_args(["--backbone", "RN50"])
    assert "--backbone takes openai or open_clip:ARCH" in capsys.readouterr().err
    table = Table()
    times = {"floor": [1.0, 1.0], "baseline": [1.0, 1.0], "adu": [2.0, 4.0],
             "adu_openai": [1.0, 1.0]}
    add_step_rows(table, times, 8, 0, "ViT-B/16")
    row = next(r for r in table.rows if r[0] == "3o")
    assert row[3] == "3" and row[4] == "0.375x"  # median of 1/2 and 1/4
