"""train.py on an open_clip backbone from a local random-weights file
("open_clip:CONFIG.json:WEIGHTS.pt", tests/open_clip_tiny.py): ADU writes
Mem/For/H and resumes to the uninterrupted weights, every comparison trainer
trains what it tunes, and a ResNet is refused in one line before any data.
"""
import json
import os

import pytest
import torch

pytest.importorskip("open_clip", reason="open-clip-torch not installed (requirements.txt)")
pytest.importorskip("dassl", reason="Dassl not installed (pip install it from GitHub, see README)")

from open_clip_tiny import save_weights, tiny_model  # noqa: E402
from train_harness import KILLING_RUNNER, REPO, TINY_OPTS, scores, train_py  # noqa: E402
from trainer_builds import COMPARISON, build, check_results, model_tensors  # noqa: E402

EPOCHS = 2
# The tiny open_clip ViT has 4 blocks: prompts 3 deep, InstaPG at block 3;
# no warm-up, so that the resumed epoch moves the weights at the real rate.
ADU_OPTS = ["TRAINER.ADU.PROMPT_DEPTH_VISION", "3", "TRAINER.ADU.INSTAPG_LAYERS", "[3]",
            "OPTIM.WARMUP_EPOCH", "0", "TRAIN.CHECKPOINT_FREQ", "1"]
TINY_LAYERNORMS = ["ln_pre", "ln_post"] + [
    f"transformer.resblocks.{i}.ln_{j}" for i in range(4) for j in (1, 2)]
# What each comparison trainer changes in one epoch (as test_comparison_trainers.TUNED).
TUNED = {
    "ZeroshotCLIP": set(),
    "CoOpADU": {"learner.ctx"},
    "MaPLeADU": {"learner.text", "learner.deep_text"} | {
        f"learner.couplings.{i}.{p}" for i in range(2) for p in ("weight", "bias")},
    "LPPlusPlusADU": {"learner.linear.weight", "learner.linear.bias", "learner.alpha",
                      "learner.alpha_grad"},
    "CLIPFitADU": {f"clip.transformer.resblocks.{i}.mlp.c_proj.bias" for i in range(2)} | {
        f"clip.visual.{ln}.{p}" for ln in TINY_LAYERNORMS for p in ("weight", "bias")},
    "BBFADU": {"learner.latent", "learner.best_h", "learner.mean", "learner.sigma"},
    # the paper's Baseline ablation: InstaPG and DDL off, the prompts alone
    "ADU": {"learner.vision.prompts"},
}
OPTS = {"ADU": ["TRAINER.ADU.PROMPT_DEPTH_VISION", "3", "TRAINER.ADU.INSTAPG", "False",
                "TRAINER.ADU.DDL", "False"]}


@pytest.fixture(scope="module")
def backbone(tmp_path_factory):
    """MODEL.BACKBONE.NAME of the tiny open_clip ViT saved as a local weights file."""
    directory = tmp_path_factory.mktemp("open_clip")
    config, model = tiny_model(directory)
    return f"open_clip:{config}:{save_weights(model, str(directory / 'random.pt'))}"


def adu_args(root, out, backbone, epochs=EPOCHS):
    return ["--root", str(root), "--seed", "1", "--trainer", "ADU",
            "--dataset-config-file", "configs/datasets/office_home.yaml",
            "--config-file", "configs/trainers/ADU/vit_b16_ep50.yaml",
            "--output-dir", str(out), "--forget-domains", "art",
            "MODEL.BACKBONE.NAME", backbone, *TINY_OPTS, "OPTIM.MAX_EPOCH", str(epochs),
            *ADU_OPTS]


def train_in_process(args):
    """train.py's trainer for `args`, trained and scored in this process (as
    test_comparison_trainers.build does: Dassl's logger would take stdout)."""
    import train
    from dassl.utils import set_random_seed
    train.register()
    cfg = train.setup_cfg(train.parse_args(args))
    set_random_seed(cfg.SEED)
    os.makedirs(cfg.OUTPUT_DIR, exist_ok=True)
    trainer = train.build(cfg)
    trainer.train()
    return trainer


def learner_weights(out):
    return torch.load(os.path.join(out, "learner", f"model.pth.tar-{EPOCHS}"),
                      map_location="cpu", weights_only=True)["state_dict"]


@pytest.fixture(scope="module")
def uninterrupted(office_home_root, backbone, tmp_path_factory):
    out = tmp_path_factory.mktemp("adu_open_clip")
    train_in_process(adu_args(office_home_root, out, backbone))
    return out


@pytest.mark.slow
def test_adu_trains_on_open_clip_and_writes_mem_for_h(uninterrupted):
    res = json.load(open(uninterrupted / "results.json"))
    assert res["trainer"] == "ADU" and res["epoch"] == EPOCHS
    for key in ("mem", "for", "h", "domain_accuracy"):
        assert 0.0 <= res[key] <= 100.0
    state = learner_weights(uninterrupted)
    assert state and all(k.startswith(("vision.", "domain_head.")) for k in state)


@pytest.mark.slow
def test_killed_and_resumed_on_open_clip_ends_with_the_uninterrupted_weights(
        uninterrupted, office_home_root, backbone, tmp_path):
    """train.py killed after epoch 1 (a subprocess), then resumed: the
    weights and scores of the uninterrupted run, exactly."""
    args = adu_args(office_home_root, tmp_path, backbone)
    killed = train_py(code=KILLING_RUNNER.format(repo=REPO, args=args, kill_after=1), expect=9)
    assert f"Loading CLIP ({backbone})" in killed.stdout
    assert not os.path.exists(tmp_path / "results.json")
    train_in_process(["--resume", str(tmp_path)] + args)
    ours, theirs = learner_weights(tmp_path), learner_weights(uninterrupted)
    assert set(ours) == set(theirs) and all(torch.equal(ours[k], theirs[k]) for k in ours)
    assert scores(tmp_path) == scores(uninterrupted)


@pytest.mark.slow
@pytest.mark.parametrize("name", COMPARISON + ["ADU"])
def test_each_trainer_trains_what_it_tunes_on_open_clip(name, office_home_root, backbone,
                                                        tmp_path):
    trainer = build(name, office_home_root, tmp_path, backbone, opts=OPTS.get(name, []))
    before = {k: v.detach().clone() for k, v in model_tensors(trainer.model).items()}
    trainer.train()
    after = model_tensors(trainer.model)
    assert {k for k in before if not torch.equal(before[k], after[k])} == TUNED[name]
    check_results(tmp_path / "results.json", name)


@pytest.mark.parametrize("arch", ["RN50", "convnext_tiny"])
def test_a_non_vit_open_clip_backbone_is_refused_before_any_data(arch, tmp_path, capsys):
    import train
    with pytest.raises(SystemExit) as exit_info:
        train.run(adu_args(tmp_path / "no_data", tmp_path / "out", f"open_clip:{arch}:openai"))
    assert exit_info.value.code == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("train.py: error: open_clip backbone") and "supported are" in line
    assert not os.path.exists(tmp_path / "out")
