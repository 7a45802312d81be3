"""The comparison on the toy benchmark: every comparison trainer's toy_tiny
config (the method's recipe, only sizes changed; valid on both tiny CLIPs)
and scripts/adu/compare.sh (its runs, order, Baseline, bad input, and one
real tiny run of two methods ending with Table 1)."""
import os

import pytest
import yaml

from script_harness import arg, dry_run_commands, needs_dassl, train_calls
from train_harness import REPO, run_script

pytestmark = pytest.mark.slow  # end-to-end runs: `make test`, not `make test-fast`


COMPARISON = ["CoOpADU", "MaPLeADU", "LPPlusPlusADU", "CLIPFitADU", "BBFADU"]
# Table 1's rows, in its order, as compare.sh names them.
METHODS = ["ZeroshotCLIP", "LPPlusPlusADU", "CLIPFitADU", "BBFADU", "CoOpADU", "MaPLeADU",
           "ADU-Baseline", "ADU"]
# What a 32 px tiny CLIP on a CPU may change in a method's vit_b16_ep50 recipe.
SIZE_KEYS = {"DATALOADER.TRAIN_X.BATCH_SIZE", "DATALOADER.TEST.BATCH_SIZE",
             "DATALOADER.NUM_WORKERS", "INPUT.SIZE", "INPUT.RRCROP_SCALE", "OPTIM.MAX_EPOCH",
             "MODEL.BACKBONE.NAME"}


def config_path(trainer, name):
    return os.path.join(REPO, "configs", "trainers", trainer, f"{name}.yaml")


def flat(node, prefix=""):
    out = {}
    for key, value in node.items():
        if isinstance(value, dict):
            out.update(flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def load(trainer, name):
    with open(config_path(trainer, name)) as f:
        return flat(yaml.safe_load(f))


@pytest.mark.parametrize("trainer", COMPARISON)
def test_toy_config_keeps_the_recipe_and_comments_every_change(trainer):
    toy, recipe = load(trainer, "toy_tiny"), load(trainer, "vit_b16_ep50")
    node = f"TRAINER.{trainer.upper()}."
    changed = {k for k in set(toy) | set(recipe) if toy.get(k) != recipe.get(k)}
    # MaPLe's depth must fit the tiny text encoders; BBF's iterations are its epochs
    depth = {"MaPLeADU": {node + "PROMPT_DEPTH"}, "BBFADU": {node + "ITERATIONS"}}
    allowed = SIZE_KEYS | {node + "PREC"} | depth.get(trainer, set())
    assert changed <= allowed, f"{trainer} toy_tiny changes {sorted(changed - allowed)}"
    assert toy["MODEL.BACKBONE.NAME"] == "assets/tiny_clip_toy.pt"
    assert toy["INPUT.SIZE"] == "(32, 32)" and toy[node + "PREC"] == "fp32"
    assert toy["DATALOADER.NUM_WORKERS"] == 0
    with open(config_path(trainer, "toy_tiny")) as f:
        lines = f.read().splitlines()
    for key in changed:
        leaf = key.rsplit(".", 1)[-1] + ":"
        # the line that sets the key (a leaf name may repeat: BATCH_SIZE)
        hits = [line for line in lines if line.strip().startswith(leaf)
                and str(toy.get(key)).strip("()") in line]
        assert hits and all("#" in line for line in hits), f"{key}: no comment says why"


@pytest.mark.parametrize("trainer", ["CoOpADU", "MaPLeADU", "CLIPFitADU"])
def test_trained_toy_configs_train_as_long_as_adu_on_the_toy(trainer):
    adu = load("ADU", "toy_tiny")
    toy = load(trainer, "toy_tiny")
    for key in ("OPTIM.MAX_EPOCH", "DATALOADER.TRAIN_X.BATCH_SIZE", "INPUT.RRCROP_SCALE",
                "OPTIM.LR"):
        assert toy[key] == adu[key], key


@pytest.fixture(scope="module")
def toy_arch_clip_file(tmp_path_factory):
    """The in-regime toy CLIP's architecture (9 vision blocks, 4 text blocks)."""
    import torch

    from trainers.modules.tiny_clip import build_clip, save_clip_archive
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("clip") / "toy_clip.pt"
    save_clip_archive(build_clip("toy"), str(path))
    return str(path)


@needs_dassl
@pytest.mark.parametrize("clip", ["tiny_clip_file", "toy_arch_clip_file"])
def test_every_toy_config_builds_on_both_tiny_clips(clip, request, office_home_root, tmp_path):
    from dassl.engine import build_trainer

    import train
    train.register()
    clip_file = request.getfixturevalue(clip)
    for trainer in ["ADU", "ZeroshotCLIP"] + COMPARISON:
        args = ["--root", str(office_home_root), "--seed", "1", "--trainer", trainer,
                "--dataset-config-file", os.path.join(REPO, "configs/datasets/office_home.yaml"),
                "--config-file", config_path(trainer, "toy_tiny"),
                "--output-dir", str(tmp_path / trainer), "--forget-domains", "art",
                "MODEL.BACKBONE.NAME", clip_file, "DATASET.NUM_SHOTS", "1"]
        cfg = train.setup_cfg(train.parse_args(args))
        train.check_names(cfg)
        # the depth checks of ADU and MaPLe run here, against this CLIP's blocks
        assert build_trainer(cfg).model is not None, trainer


def test_dry_run_lists_every_method_in_table_order(fake_env):
    proc = run_script("compare.sh", "office_home", "art", env=dict(fake_env, DRY_RUN="1"))
    assert proc.returncode == 0, proc.stderr
    headers = [line[3:] for line in proc.stdout.splitlines() if line.startswith("== ")]
    assert headers == METHODS
    commands = dry_run_commands(proc.stdout)
    assert len(commands) == 8 * 3
    trainers = [arg(c, "--trainer") for c in commands[::3]]
    assert trainers == [m.split("-")[0] for m in METHODS]
    assert all(arg(c, "--config-file").endswith("/vit_b16_ep50.yaml") for c in commands)
    baseline = commands[6 * 3]
    assert arg(baseline, "--output-dir").endswith("ADU_vit_b16_ep50_Baseline/forget_art/8shots/seed1")
    assert arg(baseline, "TEST.METHOD_TAG") == "ADU-Baseline"
    assert baseline[-4:] == ["TRAINER.ADU.INSTAPG", "False", "TRAINER.ADU.DDL", "False"]
    assert "TRAINER.ADU.INSTAPG" not in commands[-1]  # full ADU
    assert "compare.sh: 24 would run" in proc.stdout
    assert not train_calls(fake_env)


def test_toy_defaults_to_every_trainers_toy_config(fake_env):
    proc = run_script("compare.sh", "toy_domains", "sketch", "--", "OPTIM.MAX_EPOCH", "1",
                      env=dict(fake_env, DRY_RUN="1", SEEDS="1"))
    assert proc.returncode == 0, proc.stderr
    commands = dry_run_commands(proc.stdout)
    assert [os.path.relpath(arg(c, "--config-file"), REPO) for c in commands] == [
        f"configs/trainers/{m.split('-')[0]}/toy_tiny.yaml" for m in METHODS]
    assert all(arg(c, "OPTIM.MAX_EPOCH") == "1" for c in commands)


def test_methods_picks_a_subset_in_table_order(fake_env):
    proc = run_script("compare.sh", "office_home", "art",
                      env=dict(fake_env, DRY_RUN="1", SEEDS="1", METHODS="ADU CoOpADU"))
    assert proc.returncode == 0, proc.stderr
    assert [arg(c, "--trainer") for c in dry_run_commands(proc.stdout)] == ["CoOpADU", "ADU"]


@pytest.mark.parametrize("env, args, message", [
    ({"METHODS": "CoOp"}, [], "unknown method 'CoOp' in METHODS; methods: ZeroshotCLIP"),
    ({"TAG": "x"}, [], "the comparison sets TAG itself"),
    ({}, ["vit_b32_ep50"], "no config 'vit_b32_ep50' for ZeroshotCLIP"),
    ({}, ["vit_b16_ep50", "0"], "SHOTS must be a positive integer"),
])
def test_bad_input_fails_with_one_line_before_any_run(fake_env, env, args, message):
    proc = run_script("compare.sh", "office_home", "art", *args, env=dict(fake_env, **env))
    assert proc.returncode == 2
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not train_calls(fake_env)


def test_stops_at_the_first_run_that_exits_2(fake_env):
    proc = run_script("compare.sh", "office_home", "art",
                      env=dict(fake_env, FAKE_FAIL_SEEDS="1", FAKE_FAIL_CODE="2"))
    assert proc.returncode == 1
    assert "stopped: train.py exited 2" in proc.stdout
    assert len(train_calls(fake_env)) == 1


@needs_dassl
def test_a_real_tiny_comparison_ends_with_table_1(toy_data_root, tmp_path, tiny_clip_file):
    env = {"DATA": str(toy_data_root), "OUTPUT": str(tmp_path), "SEEDS": "1", "QUIET": "1",
           "METHODS": "ZeroshotCLIP CoOpADU"}
    proc = run_script("compare.sh", "toy_domains", "sketch", "toy_tiny", "1", "--",
                      "MODEL.BACKBONE.NAME", tiny_clip_file, "OPTIM.MAX_EPOCH", "1",
                      env=env, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "compare.sh: 2 ran, 0 skipped (done), 0 failed" in proc.stdout
    table = proc.stdout[proc.stdout.index("Table 1"):].split("Coverage")[0].splitlines()
    rule = next(i for i, line in enumerate(table) if line.startswith("---"))
    rows = [line.split()[0] for line in table[rule + 1:] if line.strip()]
    assert rows == ["ZeroshotCLIP", "CoOpADU"]
    for folder in ("ZeroshotCLIP_toy_tiny_tiny_clip", "CoOpADU_toy_tiny_tiny_clip"):
        assert os.path.isfile(tmp_path / "toy_domains" / folder / "forget_sketch" / "1shots"
                              / "seed1" / "results.json")
