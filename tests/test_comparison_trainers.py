"""The comparison trainers (docs/METHOD.md section 8), and ADU beside them, on a
tiny CLIP and a tiny dataset.

Each trainer is built as train.py builds it, trained for one epoch and
scored in this process (Dassl's logger would otherwise take over the test's
stdout); train.py itself runs in a subprocess for the zero-shot row and for
a CoOp-style trainer from outside the project.
"""
import json
import os

import pytest
import torch

pytest.importorskip("dassl", reason="Dassl not installed (pip install it from GitHub, see README)")

from train_harness import run_in_process, train_py  # noqa: E402
from trainer_builds import (  # noqa: E402
    CLASSNAMES,
    COMPARISON,
    args_for,
    build,
    check_results,
    images,
    model_tensors,
)

from trainers.modules.clip_loading import freeze  # noqa: E402
from trainers.modules.tiny_clip import build_clip  # noqa: E402

pytestmark = pytest.mark.slow  # end-to-end runs: `make test`, not `make test-fast`


TINY_VIT_LAYERNORMS = ["ln_pre", "ln_post"] + [
    f"transformer.resblocks.{i}.ln_{j}" for i in range(12) for j in (1, 2)]
# What each trainer tunes, by the name the tensor has in trainer.model.
TUNED = {
    "ZeroshotCLIP": set(),
    "CoOpADU": {"learner.ctx"},
    "MaPLeADU": {"learner.text", "learner.deep_text"} | {
        f"learner.couplings.{i}.{p}" for i in range(2) for p in ("weight", "bias")},
    "LPPlusPlusADU": {"learner.linear.weight", "learner.linear.bias", "learner.alpha",
                      "learner.alpha_grad"},
    "CLIPFitADU": {f"clip.transformer.resblocks.{i}.mlp.c_proj.bias" for i in range(2)} | {
        f"clip.visual.{ln}.{p}" for ln in TINY_VIT_LAYERNORMS for p in ("weight", "bias")},
    # buffers: BBF has no gradient
    "BBFADU": {"learner.latent", "learner.best_h", "learner.mean", "learner.sigma"},
}
GRADIENT_FREE = {"ZeroshotCLIP", "BBFADU"}
# What has a gradient: what is tuned, less LP++'s summed alpha gradient (a buffer).
TRAINABLE = {name: set() if name in GRADIENT_FREE else tuned - {"learner.alpha_grad"}
             for name, tuned in TUNED.items()}
# The trainers whose image embeddings differ from the frozen CLIP's, and
# zero-shot CLIP's as the reference: these get the linear-probe columns.
PROBED = {"ZeroshotCLIP", "MaPLeADU", "CLIPFitADU"}


def per_domain_accuracy(trainer):
    """{domain: accuracy (%)} of the trainer's own class predictions on its test split."""
    names, right, total = trainer.dm.dataset.domains, {}, {}
    trainer.set_model_mode("eval")
    with torch.no_grad():
        for batch in trainer.test_loader:
            images, labels = trainer.parse_batch_test(batch)
            correct = (trainer.model_inference(images).argmax(-1) == labels).cpu()
            for d, ok in zip(batch["domain"].tolist(), correct.tolist()):
                right[names[d]] = right.get(names[d], 0) + ok
                total[names[d]] = total.get(names[d], 0) + 1
    return {d: 100 * right[d] / total[d] for d in total}


@pytest.fixture(scope="module")
def data_root(office_home_root):
    return office_home_root


@pytest.fixture(scope="module", params=COMPARISON)
def trained(request, data_root, tiny_clip_file, tmp_path_factory):
    """(name, trainer, tensors before training, run dir) after one epoch."""
    name = request.param
    out = tmp_path_factory.mktemp(name)
    trainer = build(name, data_root, out, tiny_clip_file)
    before = {k: v.detach().clone() for k, v in model_tensors(trainer.model).items()}
    trainer.train()
    return name, trainer, before, out


def test_one_epoch_changes_exactly_what_the_trainer_tunes(trained):
    name, trainer, before, _ = trained
    after = model_tensors(trainer.model)
    changed = {k for k, v in after.items() if not torch.equal(v, before[k])}
    assert changed == TUNED[name]
    trainable = {k for k, p in trainer.model.named_parameters() if p.requires_grad}
    assert trainable == TRAINABLE[name]
    if name in GRADIENT_FREE:
        assert all(p.grad is None for p in trainer.model.parameters())


# ADU's learner (prompts of 9 blocks, InstaPG at block 9, domain classifier),
# by the name each tensor has in trainer.model.
ADU_TUNED = {"learner.vision.prompts", "learner.domain_head.weight",
             "learner.domain_head.bias"} | {
    f"learner.vision.instapg.9.{name}" for name in (
        "ln_query.weight", "ln_query.bias", "ln_patches.weight", "ln_patches.bias",
        "cross_attn.in_proj_weight", "cross_attn.in_proj_bias", "cross_attn.out_proj.weight",
        "cross_attn.out_proj.bias", "ln_mlp.weight", "ln_mlp.bias", "mlp.0.weight",
        "mlp.0.bias", "mlp.2.weight", "mlp.2.bias")}


def test_adu_through_the_dassl_trainer_changes_exactly_its_learner(data_root, tiny_clip_file,
                                                                   tmp_path):
    trainer = build("ADU", data_root, tmp_path, tiny_clip_file)
    before = {k: v.detach().clone() for k, v in model_tensors(trainer.model).items()}
    trainer.train()
    after = model_tensors(trainer.model)
    assert {k for k, v in after.items() if not torch.equal(v, before[k])} == ADU_TUNED
    assert {k for k, p in trainer.model.named_parameters() if p.requires_grad} == ADU_TUNED
    saved = torch.load(tmp_path / "learner" / "model.pth.tar-1", map_location="cpu",
                       weights_only=True)["state_dict"]
    assert {"learner." + k for k in saved} == ADU_TUNED
    # Dassl's best_val selection asks for the 'val' split, which ADU datasets lack.
    from user_errors import ConfigError
    with pytest.raises(ConfigError, match="no 'val' split to score, only 'test'"):
        trainer.test(split="val")


def test_evaluation_writes_complete_results(trained):
    name, _, _, out = trained
    res = check_results(out / "results.json", name)
    # the scores are those of the trained model's own predictions
    ours = per_domain_accuracy(trained[1])
    assert {d: r["accuracy"] for d, r in res["per_domain"].items()} == pytest.approx(ours)
    assert res["domain_accuracy"] is None  # no domain classifier in these methods
    for key in ("domain_probe_accuracy", "forget_class_probe_accuracy"):
        assert (res.get(key) is not None) == (name in PROBED), key


def test_checkpoint_holds_the_tuned_tensors_and_reloads_to_the_same_scores(
        trained, data_root, tiny_clip_file, tmp_path):
    name, trainer, _, out = trained
    if name == "ZeroshotCLIP":
        assert trainer.get_model_names() == [] and not (out / "learner").exists()
        return
    # the last epoch's (its sha256 beside it is no checkpoint)
    (checkpoint,) = (p for p in (out / "learner").glob("model.pth.tar-*")
                     if p.suffix != ".sha256")
    saved = torch.load(checkpoint, map_location="cpu", weights_only=True)["state_dict"]
    if name == "CLIPFitADU":
        assert {k.replace("/", ".") for k in saved} == {
            "tensors." + k[len("clip."):] for k in TUNED[name]}
    elif name == "BBFADU":
        assert set(saved) == {"latent", "best_h", "mean", "sigma", "projection_seed"}
    else:
        assert {"learner." + k for k in saved} == TUNED[name]

    again = build(name, data_root, tmp_path, tiny_clip_file)
    again.load_model(str(out))
    again.test()
    for key, value in model_tensors(trainer.model).items():
        assert torch.equal(model_tensors(again.model)[key], value), key
    first = json.load(open(out / "results.json"))
    second = json.load(open(tmp_path / "results.json"))
    for key in ("per_domain", "mem", "for", "h"):
        assert second[key] == first[key]


def test_zeroshot_clip_runs_through_train_py_without_eval_only(
        data_root, tiny_clip_file, tmp_path):
    proc = train_py(*args_for("ZeroshotCLIP", data_root, tmp_path, tiny_clip_file))
    check_results(tmp_path / "results.json", "ZeroshotCLIP")
    assert "nothing to train" in proc.stdout and "Mem " in proc.stdout
    assert not (tmp_path / "learner").exists()


def test_a_coop_style_dassl_trainer_is_scored_per_domain(data_root, tiny_clip_file, tmp_path):
    """A trainer file written for plain Dassl (tests/coop_style_trainer.py)."""
    args = args_for("CoOpADU", data_root, tmp_path, tiny_clip_file)
    args[args.index("--trainer") + 1] = "PlainCoOp"
    proc = train_py("coop_style_trainer", *args, script="tests/run_train_with.py")
    res = check_results(tmp_path / "results.json", "PlainCoOp")
    assert res["memorize_domains"] == ["clipart", "product", "real_world"]
    assert "Mem " in proc.stdout and " H " in proc.stdout
    assert os.path.isfile(tmp_path / "prompt_learner" / "model.pth.tar-1")


@pytest.mark.parametrize("name", ["CoOpADU", "CLIPFitADU"])
def test_text_side_trainers_run_on_a_resnet_clip(name, data_root, tiny_resnet_clip_file,
                                                 tmp_path):
    trainer = build(name, data_root, tmp_path, tiny_resnet_clip_file,
                    opts=["INPUT.SIZE", "(64, 64)"])
    trainer.train()
    check_results(tmp_path / "results.json", name)
    if name == "CLIPFitADU":  # a ResNet has no LayerNorm: text biases only
        assert all("mlp.c_proj" in n for n in trainer.model.learner.names)


def test_unknown_trainer_lists_the_registered_ones(data_root, tiny_clip_file, tmp_path, capsys):
    args = args_for("CoOpADU", data_root, tmp_path, tiny_clip_file)
    args[args.index("--trainer") + 1] = "CoOp"
    err = run_in_process(args, capsys)
    assert "unknown trainer 'CoOp'" in err
    assert all(name in err for name in COMPARISON + ["ADU"])


@pytest.mark.parametrize("name,opts,message", [
    ("MaPLeADU", ["TRAINER.MAPLEADU.PROMPT_DEPTH", "9"],
     "PROMPT_DEPTH=9, but the CLIP text encoder has 2"),
    ("CoOpADU", ["TRAINER.COOPADU.CTX_INIT", "a photo of a"],
     "CTX_INIT 'a photo of a' has 4 tokens but N_CTX is 16"),
    ("CoOpADU", ["TRAINER.COOPADU.FORGET_LOSS", "kl"], "TRAINER.COOPADU.FORGET_LOSS"),
    ("CLIPFitADU", ["TRAINER.CLIPFITADU.PREC", "fp16"], "use amp"),
    ("CLIPFitADU", ["TRAINER.CLIPFITADU.TEXT_BIAS", "c_out"], "TEXT_BIAS must be one of"),
    ("BBFADU", ["TRAINER.BBFADU.POPSIZE", "1"], "POPSIZE must be >= 2"),
])
def test_bad_settings_fail_with_one_clear_line(name, opts, message, data_root, tiny_clip_file,
                                               tmp_path, capsys):
    err = run_in_process(args_for(name, data_root, tmp_path, tiny_clip_file, opts=opts), capsys)
    assert message in err
    assert err.count("\n") == 1, err


def test_vision_prompt_trainer_refuses_a_resnet_clip(data_root, tiny_resnet_clip_file,
                                                     tmp_path, capsys):
    err = run_in_process(args_for("MaPLeADU", data_root, tmp_path, tiny_resnet_clip_file,
                                  opts=["INPUT.SIZE", "(64, 64)"]), capsys)
    assert "MaPLeADU needs a ViT" in err


# The models against reference outputs of the stock CLIP.

def zeroshot_logits(clip_model, template="a photo of a {}."):
    from trainers.modules.clip_heads import ZeroshotClassifier
    return ZeroshotClassifier(clip_model, CLASSNAMES, template)(images())


def test_coop_prompt_from_words_equals_the_hand_written_prompt(tiny_clip):
    from trainers.coop_adu import CoOpCLIP
    model = CoOpCLIP(freeze(tiny_clip), CLASSNAMES, n_ctx=4, ctx_init="a photo of a")
    with torch.no_grad():
        logits = model(images())
    torch.testing.assert_close(logits, zeroshot_logits(tiny_clip), atol=1e-4, rtol=1e-5)


def test_text_features_are_recomputed_after_the_context_changes(tiny_clip):
    from trainers.coop_adu import CoOpCLIP
    model = CoOpCLIP(freeze(tiny_clip), CLASSNAMES, n_ctx=4)
    with torch.no_grad():
        first = model.text_features()
        assert model.text_features() is first  # cached while unchanged
        model.learner.ctx.add_(0.1)
        assert not torch.equal(model.text_features(), first)


def test_maple_deep_text_prompts_reach_the_text_encoder(tiny_clip):
    from trainers.maple_adu import MaPLeCLIP
    model = MaPLeCLIP(freeze(tiny_clip), CLASSNAMES, n_ctx=2, depth=2)
    with torch.no_grad():
        first = model.text_features()
        model.learner.deep_text.add_(0.5)
        assert not torch.equal(model.text_features(), first)


def test_bbf_projection_follows_the_saved_seed():
    from trainers.bbf_adu import LatentContext
    embedding = build_clip("tiny").token_embedding.weight.detach()
    saved = LatentContext(embedding, n_ctx=2, shared_dim=3, unique_dim=2, seed=7)
    saved.latent.normal_()
    fresh = LatentContext(embedding, n_ctx=2, shared_dim=3, unique_dim=2, seed=0)
    assert not torch.equal(fresh.projection, saved.projection)
    fresh.load_state_dict(saved.state_dict())
    assert torch.equal(fresh.projection, saved.projection)
    assert torch.equal(fresh.context(), saved.context())
    # a zero latent is the mean token embedding; shared dims move every token
    zero = torch.zeros_like(saved.latent)
    torch.testing.assert_close(saved.context(zero), embedding.mean(0).expand(2, -1))
    shared_only = zero.clone()
    shared_only[0] = 1.0
    ctx = saved.context(shared_only)
    torch.testing.assert_close(ctx[0], ctx[1])


@pytest.mark.parametrize("model_name", ["CoOpCLIP", "MaPLeCLIP", "BBFCLIP"])
def test_learned_prompts_run_on_a_half_precision_clip(model_name, tiny_clip):
    """PREC fp16 on a GPU: CLIP's weights in half, its embeddings left in fp32."""
    from trainers import bbf_adu, coop_adu, maple_adu
    from trainers.engine.precision import cast_clip
    module = {"CoOpCLIP": coop_adu, "MaPLeCLIP": maple_adu, "BBFCLIP": bbf_adu}[model_name]
    kwargs = {"depth": 2} if model_name == "MaPLeCLIP" else {}
    model = getattr(module, model_name)(freeze(cast_clip(tiny_clip, "fp16")), CLASSNAMES,
                                        **kwargs)
    logits = model(images())
    assert logits.dtype == torch.float32 and torch.isfinite(logits).all()
    if model_name != "BBFCLIP":
        logits.sum().backward()
        assert all(p.grad is not None and p.grad.dtype == torch.float32
                   for p in model.learner.parameters())
