"""ADU on open_clip's timm image towers (trainers/modules/timm_towers.py,
adu_model.TimmPromptedImageEncoder), on random-weight shrunk copies of
ViT-B-16-SigLIP2 (timm VisionTransformer, attention pooling, logit bias),
EVA02-B-16 (timm Eva, class token, rotary embeddings) and PE-Core-B-16 (Eva,
rope, attention pooling) (tests/timm_tiny.py): prompts off is open_clip's
`encode_image`, gradients reach only the learner, InstaPG reads the patches,
rope leaves the prompts unrotated, the head pools what the model pools, the
logits keep SigLIP's bias; the tokenizer and trainer refusals come before any
data; ADU trains, scores per domain and resumes to the same bits.
"""
import importlib.util
import json
import os

import pytest
import torch

pytest.importorskip("open_clip", reason="open-clip-torch not installed (requirements.txt)")
pytest.importorskip("timm", reason="timm not installed (open-clip-torch's dependency)")

from timm_tiny import backbone, hub_tokenizer_config, tiny_model, write_config  # noqa: E402
from trainers.modules import open_clip_backbone as oc  # noqa: E402
from trainers.modules.adu_model import (  # noqa: E402
    ADUCLIP, TimmPromptedImageEncoder, VisionPrompts, prompted_image_encoder)
from trainers.modules.clip_heads import (  # noqa: E402
    ZeroshotClassifier, normalize, tokenize_prompts)
from user_errors import ConfigError, MissingFileError  # noqa: E402

TOWERS = ["siglip2", "eva02", "pe_core"]
N_PATCHES = 16  # 32 px images, 8 px patches
CLASSES = ["cat", "dog", "bird"]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    directory = tmp_path_factory.mktemp("timm_towers")
    return {tower: tiny_model(directory, tower)[1] for tower in TOWERS}


def images(n=3, seed=1):
    return torch.randn(n, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


def adu(model, depth=3, instapg=(3,), seed=0):
    torch.manual_seed(seed)
    return ADUCLIP(model, CLASSES, domain_outputs=4, n_ctx=2, depth=depth,
                   instapg_layers=list(instapg))


@pytest.mark.parametrize("tower", TOWERS + ["eva02_linear_proj"])
def test_prompts_off_is_open_clips_encode_image(models, tower, tmp_path):
    if tower == "eva02_linear_proj":  # open_clip's own projection after timm's head
        patch = {"vision_cfg": {"timm_proj": "linear"}}
        model = tiny_model(tmp_path, "eva02", config_patch=patch)[1]
        assert len(model.visual.head)
    else:
        model = models[tower]
    encoder = prompted_image_encoder(model.visual, VisionPrompts(64, 2, 0))
    assert isinstance(encoder, TimmPromptedImageEncoder)
    with torch.no_grad():
        ours, theirs = encoder(images()), model.encode_image(images())
    scale = theirs.norm(dim=-1, keepdim=True)  # 1e-5 of each embedding's length
    torch.testing.assert_close(ours / scale, theirs / scale, atol=1e-5, rtol=0)


@pytest.mark.parametrize("tower", TOWERS)
def test_gradients_reach_only_the_learner(models, tower):
    model = adu(models[tower])
    out = model(images())
    (out.logits.logsumexp(-1).sum() + out.domain_logits.sum()).backward()
    learner = {id(p) for p in model.learner.parameters()}
    for name, param in model.named_parameters():
        if id(param) in learner:
            assert param.grad is not None and param.grad.abs().sum() > 0, name
        else:
            assert param.grad is None and not param.requires_grad, name
    for param in model.learner.parameters():
        param.grad = None


def test_gradient_checkpointing_gives_the_same_gradients_through_rope(models):
    grads = []
    for checkpointing in (False, True):
        model = adu(models["eva02"])
        model.image_encoder.grad_checkpointing = checkpointing
        model.train()
        model(images()).logits.logsumexp(-1).sum().backward()
        grads.append(model.learner.vision.prompts.grad)
    torch.testing.assert_close(grads[0], grads[1], atol=1e-6, rtol=1e-5)


def block_inputs(encoder, run):
    """(tokens, keyword arguments) entering each trunk block while `run()` runs."""
    seen, handles = [], []
    for block in encoder.visual.trunk.blocks:
        handles.append(block.register_forward_pre_hook(
            lambda _m, args, kwargs: seen.append((args[0].detach(), kwargs)), with_kwargs=True))
    try:
        run()
    finally:
        for handle in handles:
            handle.remove()
    return seen


@pytest.mark.parametrize("tower", TOWERS)
def test_instapg_reads_the_patch_tokens_only(models, tower):
    """InstaPG at block 3 gets the 16 patch tokens entering block 3: not the
    class token (EVA-02, PE-Core), nor the prompts behind the patches."""
    model = adu(models[tower])
    generator = model.learner.vision.instapg["3"]
    keys = []
    handle = generator.register_forward_pre_hook(lambda _m, args: keys.append(args[1].detach()))
    try:
        seen = block_inputs(model.image_encoder, lambda: model(images()))
    finally:
        handle.remove()
    prefix = model.image_encoder.visual.trunk.num_prefix_tokens
    assert prefix == (0 if tower == "siglip2" else 1)
    (patches,) = keys
    assert patches.shape[1] == N_PATCHES
    entering_block_3 = seen[2][0]  # prefix, patches, then block 3's prompts
    assert entering_block_3.shape[1] == prefix + N_PATCHES + 2
    torch.testing.assert_close(patches, entering_block_3[:, prefix:prefix + N_PATCHES])


@pytest.mark.parametrize("tower", ["eva02", "pe_core"])
def test_rope_rotates_the_patches_by_their_grid_and_the_prompts_by_zero(models, tower):
    model = adu(models[tower])
    trunk = model.image_encoder.visual.trunk
    own_rope = trunk._pos_embed(trunk.patch_embed(images()))[1]
    seen = block_inputs(model.image_encoder, lambda: model(images()))
    for _, kwargs in seen:  # every block, prompted or not, has the 2 prompts behind
        rope = kwargs["rope"]
        assert rope.shape[-2] == N_PATCHES + 2
        torch.testing.assert_close(rope[:N_PATCHES], own_rope, atol=0, rtol=0)
        sin, cos = rope[N_PATCHES:].chunk(2, dim=-1)
        assert torch.equal(sin, torch.zeros_like(sin)) and torch.equal(cos, torch.ones_like(cos))


@pytest.mark.parametrize("tower", TOWERS)
def test_the_head_pools_the_models_own_tokens(models, tower):
    """After the last block the prompts are dropped: the final norm, then
    the class token or attention pooling, see prefix + patch tokens only,
    even when every block is prompted."""
    model = adu(models[tower], depth=4, instapg=())
    trunk = model.image_encoder.visual.trunk
    pooled = []
    handle = trunk.norm.register_forward_pre_hook(lambda _m, args: pooled.append(args[0]))
    try:
        model(images())
    finally:
        handle.remove()
    assert pooled[0].shape[1] == trunk.num_prefix_tokens + N_PATCHES


@pytest.mark.parametrize("tower", TOWERS)
def test_class_logits_are_open_clips_own_logits_with_its_bias(models, tower):
    clip_model = models[tower]
    model = adu(clip_model, depth=0, instapg=())
    tokens = tokenize_prompts(clip_model, [f"a photo of a {c}." for c in CLASSES])
    zero_shot = ZeroshotClassifier(clip_model, CLASSES, "a photo of a {}.")
    with torch.no_grad():
        theirs, _ = clip_model.get_logits(images(), tokens)
        ours = model(images()).logits
        zero_shot_logits = zero_shot(images())
    torch.testing.assert_close(ours, theirs, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(zero_shot_logits, theirs, atol=1e-4, rtol=1e-5)
    if tower == "siglip2":
        assert model.logits.has_bias and float(model.logits.bias) == -10.0
    else:
        assert not model.logits.has_bias


def test_prompt_layout_and_tower_refusals(models, tmp_path):
    with pytest.raises(ConfigError, match="PROMPT_DEPTH_VISION=5 but the CLIP image encoder has 4"):
        adu(models["eva02"], depth=5)
    with pytest.raises(TypeError, match="TimmModel"):
        TimmPromptedImageEncoder(torch.nn.Linear(2, 2), VisionPrompts(64, 2, 0))
    patch_drop = write_config(tmp_path, "eva02", {"vision_cfg": {"patch_dropout": 0.5}})
    name = oc.OpenCLIPName(patch_drop, "none")
    assert "drops patches" in oc.unsupported_reason(oc.model_config(name))
    for arch in ("ViT-B-16-SigLIP2", "EVA02-B-16", "PE-Core-B-16"):
        config = oc.model_config(oc.OpenCLIPName(arch, "none"))
        assert oc.unsupported_reason(config) is None
        oc.check_config(oc.OpenCLIPName(arch, "x"), config, (224, 224))
    # INPUT.SIZE is the timm model's own size, which open_clip does not pass to timm
    other = write_config(tmp_path, "pe_core", {"vision_cfg": {"image_size": 64}})
    name = oc.OpenCLIPName(other, "none")
    oc.check_config(name, oc.model_config(name), (32, 32))
    with pytest.raises(ConfigError, match=r'set INPUT.SIZE "\(32, 32\)"'):
        oc.check_config(name, oc.model_config(name), (64, 64))
    vitamin = oc.model_config(oc.OpenCLIPName("ViTamin-B", "none"))
    assert "convolutional stem" in oc.unsupported_reason(vitamin)


def test_a_hub_tokenizer_needs_a_local_folder(tmp_path):
    hub = hub_tokenizer_config(tmp_path)
    name = oc.OpenCLIPName(hub, "x.pt")
    config = oc.model_config(name)
    with pytest.raises(ConfigError, match="set MODEL.BACKBONE.TOKENIZER DIR"):
        oc.check_tokenizer(name, config, "")
    siglip = oc.OpenCLIPName("ViT-B-16-SigLIP2", "x.pt")
    with pytest.raises(ConfigError, match="timm/ViT-B-16-SigLIP2"):
        oc.check_tokenizer(siglip, oc.model_config(siglip), "")
    with pytest.raises(MissingFileError, match="tokenizer folder not found"):
        oc.check_tokenizer(name, config, str(tmp_path / "absent"))
    folder = tmp_path / "tokenizer"
    folder.mkdir()
    if importlib.util.find_spec("transformers") is None:
        with pytest.raises(ConfigError, match="pip install transformers"):
            oc.check_tokenizer(name, config, str(folder))
    else:
        oc.check_tokenizer(name, config, str(folder))
    # open_clip fetches SigLIP's vocabulary for any architecture named *siglip*
    named = write_config(tmp_path, "eva02")
    os.replace(named, tmp_path / "my-siglip.json")
    siglip_named = oc.OpenCLIPName(str(tmp_path / "my-siglip.json"), "x.pt")
    with pytest.raises(ConfigError, match="SigLIP's sentencepiece vocabulary"):
        oc.check_tokenizer(siglip_named, oc.model_config(siglip_named), "")
    # random weights (tests, benchmark) take the built-in tokenizer instead
    random = oc.random_open_clip(hub)
    assert type(random.tokenizer).__name__ == "SimpleTokenizer"
    assert tokenize_prompts(random, ["a photo of a cat."]).shape == (1, 16)
    # built-in tokenizers need no folder
    eva = oc.OpenCLIPName("EVA02-B-16", "x.pt")
    oc.check_tokenizer(eva, oc.model_config(eva), "")


def adu_args(root, out, name, *opts, trainer="ADU"):
    config = {"ADU": "vit_b16_ep50"}.get(trainer, "toy_tiny")
    return ["--root", str(root), "--seed", "1", "--trainer", trainer,
            "--dataset-config-file", "configs/datasets/office_home.yaml",
            "--config-file", f"configs/trainers/{trainer}/{config}.yaml",
            "--output-dir", str(out), "--forget-domains", "art", "MODEL.BACKBONE.NAME", name,
            "INPUT.SIZE", "(32, 32)", "DATALOADER.NUM_WORKERS", "0",
            "DATALOADER.TRAIN_X.BATCH_SIZE", "8", "DATALOADER.TEST.BATCH_SIZE", "16",
            "DATASET.NUM_SHOTS", "2", "TRAIN.PRINT_FREQ", "1", "OPTIM.MAX_EPOCH", "2",
            "OPTIM.WARMUP_EPOCH", "0", "TRAIN.CHECKPOINT_FREQ", "1",
            "TRAINER.ADU.PROMPT_DEPTH_VISION", "3", "TRAINER.ADU.INSTAPG_LAYERS", "[3]",
            "TRAINER.ADU.PREC", "fp32", *opts]


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    directory = tmp_path_factory.mktemp("timm_weights")
    return {tower: backbone(directory, tower) for tower in TOWERS}


@pytest.mark.parametrize("trainer, opts, why", [
    ("CoOpADU", [], "it learns prompts inside CLIP's text transformer"),
    ("ADU", ["TRAINER.ADU.N_CTX_TEXT", "4"], "set TRAINER.ADU.N_CTX_TEXT 0"),
    ("ADU", ["TRAINER.ADU.PROMPTS_BEFORE_LN_PRE", "True"], "PROMPTS_BEFORE_LN_PRE False"),
])
def test_a_trainer_that_cannot_run_on_a_timm_tower_is_refused_before_any_data(
        weights, tmp_path, capsys, trainer, opts, why):
    from train_harness import run_in_process
    err = run_in_process(adu_args(tmp_path / "no_data", tmp_path / "out", weights["eva02"],
                                  *opts, trainer=trainer), capsys)
    line = err.strip().splitlines()[-1]
    assert line.startswith(f"train.py: error: {trainer} cannot run on open_clip backbone")
    assert why in line and not os.path.exists(tmp_path / "out")


def test_a_missing_tokenizer_is_refused_by_train_py_before_any_data(weights, tmp_path, capsys):
    from train_harness import run_in_process
    name = f"open_clip:{hub_tokenizer_config(tmp_path)}:{weights['siglip2'].rsplit(':', 1)[1]}"
    err = run_in_process(adu_args(tmp_path / "no_data", tmp_path / "out", name), capsys)
    line = err.strip().splitlines()[-1]
    assert line.startswith("train.py: error: open_clip backbone")
    assert "MODEL.BACKBONE.TOKENIZER" in line
    assert not os.path.exists(tmp_path / "out")


def learner_weights(out, epoch=2):
    return torch.load(os.path.join(out, "learner", f"model.pth.tar-{epoch}"),
                      map_location="cpu", weights_only=True)["state_dict"]


@pytest.mark.slow
@pytest.mark.parametrize("tower", TOWERS)
def test_adu_trains_and_scores_per_domain_on_a_timm_tower(weights, office_home_root, tmp_path,
                                                          tower):
    """Random weights: the scores are chance-level, what is tested is that they
    are there, per domain, from a model whose prompts moved."""
    from test_open_clip_e2e import train_in_process
    trainer = train_in_process(adu_args(office_home_root, tmp_path, weights[tower]))
    res = json.load(open(tmp_path / "results.json"))
    assert res["trainer"] == "ADU" and res["epoch"] == 2
    assert set(res["per_domain"]) == {"art", "clipart", "product", "real_world"}
    for key in ("mem", "for", "h", "domain_accuracy"):
        assert 0.0 <= res[key] <= 100.0
    state = learner_weights(tmp_path)
    assert state and all(k.startswith(("vision.", "domain_head.")) for k in state)
    assert not torch.equal(state["vision.prompts"], learner_weights(tmp_path, 1)["vision.prompts"])
    assert isinstance(trainer.model.image_encoder, TimmPromptedImageEncoder)


@pytest.mark.slow
def test_killed_and_resumed_on_eva_ends_with_the_uninterrupted_bits(weights, office_home_root,
                                                                    tmp_path):
    from test_open_clip_e2e import train_in_process
    from train_harness import KILLING_RUNNER, REPO, scores, train_py
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    train_in_process(adu_args(office_home_root, whole, weights["eva02"]))
    args = adu_args(office_home_root, resumed, weights["eva02"])
    train_py(code=KILLING_RUNNER.format(repo=REPO, args=args, kill_after=1), expect=9)
    assert not os.path.exists(resumed / "results.json")
    train_in_process(["--resume", str(resumed)] + args)
    ours, theirs = learner_weights(resumed), learner_weights(whole)
    assert set(ours) == set(theirs) and all(torch.equal(ours[k], theirs[k]) for k in ours)
    assert scores(resumed) == scores(whole)


def test_normalized_features_of_the_prompted_tower_are_unit_length(models):
    """The embedding the losses see (MMD, domain head) is the head's output, normalised."""
    model = adu(models["pe_core"])
    features = model(images()).features
    torch.testing.assert_close(features, normalize(features))
    assert features.shape == (3, 32)


@pytest.mark.parametrize("tower", ["siglip2", "eva02"])
def test_the_deployed_adu_model_exports_to_the_same_outputs(models, tower, tmp_path):
    """tools/export.py's module (normalisation, prompted tower, classifier,
    domain head) as a torch.export program (.pt2): the same logits as the
    model in Python."""
    from experiments.export.deployed import DeployedClassifier
    from experiments.export.exporter import save_pt2
    from experiments.export.parts import adu_parts
    model = adu(models[tower]).eval()
    deployed = DeployedClassifier(adu_parts(model), (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)).eval()
    pixels = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    save_pt2(deployed, pixels, str(tmp_path / "adu.pt2"))
    with torch.no_grad():
        ours = deployed(pixels)
        traced = torch.export.load(str(tmp_path / "adu.pt2")).module()(pixels)
        direct = model((pixels - 0.5) / 0.5)
    torch.testing.assert_close(ours[0], direct.logits, atol=1e-5, rtol=1e-5)
    for a, b in zip(ours, traced):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)
