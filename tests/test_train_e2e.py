"""train.py end to end through the real Dassl trainer on a tiny on-disk dataset."""
import json
import os

import pytest

pytest.importorskip("dassl", reason="Dassl not installed (pip install it from GitHub, see README)")

from train_harness import REPO, run_in_process, tiny_adu_args, train_py  # noqa: E402


pytestmark = pytest.mark.slow  # end-to-end runs: `make test`, not `make test-fast`


base_args = tiny_adu_args


@pytest.fixture(scope="module")
def data_root(office_home_root):
    return office_home_root


@pytest.fixture(scope="module")
def trained_run(finished_adu_run):
    """base_args' run, trained once per test process (conftest.py)."""
    return finished_adu_run


def test_training_writes_results_checkpoint_and_run_info(trained_run):
    out, proc = trained_run
    res = json.load(open(out / "results.json"))
    assert res["trainer"] == "ADU" and res["dataset"] == "office_home"
    assert res["forget_domains"] == ["art"]
    assert res["memorize_domains"] == ["clipart", "product", "real_world"]
    assert set(res["per_domain"]) == {"art", "clipart", "product", "real_world"}
    assert all(r["num_images"] == 3 * 2 for r in res["per_domain"].values())
    for key in ("mem", "for", "h", "domain_accuracy", "domain_probe_accuracy",
                "forget_class_probe_accuracy"):
        assert 0.0 <= res[key] <= 100.0
    assert os.path.isfile(out / "learner" / "model.pth.tar-1")
    info = json.load(open(out / "run_info.json"))
    assert info["torch"] and "commit" in info["git"]
    assert "PROMPT_DEPTH_VISION: 9" in open(out / "config.yaml").read()
    # every loss term is logged, and the per-domain table printed
    assert "loss_mmd2" in proc and "loss_domain_ce" in proc
    assert "Mem " in proc and " H " in proc


def test_saved_checkpoint_holds_only_the_learner(trained_run):
    import torch
    state = torch.load(trained_run[0] / "learner" / "model.pth.tar-1",
                       map_location="cpu", weights_only=True)["state_dict"]
    assert set(state) == {"vision.prompts", "domain_head.weight", "domain_head.bias"} | {
        k for k in state if k.startswith("vision.instapg.9.")}
    assert any(k.startswith("vision.instapg.9.") for k in state)


def test_release_config_trains_saves_and_reloads_its_text_prompts(
        data_root, tiny_clip_file, tmp_path):
    """vit_b16_ep50_release.yaml end to end (text depth 2: the test CLIP has 2
    text blocks); the learned text prompts are saved and an evaluation of the
    reloaded learner gives the same numbers."""
    import torch
    release = "configs/trainers/ADU/vit_b16_ep50_release.yaml"
    opts = ["TRAINER.ADU.PROMPT_DEPTH_TEXT", "2"]
    args = base_args(data_root, tmp_path / "run", tiny_clip_file, opts=opts)
    args[args.index("configs/trainers/ADU/vit_b16_ep50.yaml")] = release
    proc = train_py(*args)
    assert "8 learned text tokens to text block 2" in proc.stdout
    state = torch.load(tmp_path / "run" / "learner" / "model.pth.tar-1",
                       map_location="cpu", weights_only=True)["state_dict"]
    assert state["text.ctx"].shape == (8, 64) and state["text.deep"].shape == (1, 8, 64)
    args = base_args(data_root, tmp_path / "eval", tiny_clip_file, "--eval-only", "--model-dir",
                     str(tmp_path / "run"), "--load-epoch", "1", opts=opts)
    args[args.index("configs/trainers/ADU/vit_b16_ep50.yaml")] = release
    train_py(*args)
    first = json.load(open(tmp_path / "run" / "results.json"))
    again = json.load(open(tmp_path / "eval" / "results_eval_epoch1.json"))
    for key in ("mem", "for", "h", "per_domain"):
        assert again[key] == first[key]


# train.py --eval-only in a subprocess, then: does the learner inside the
# evaluated model hold exactly the weights of each named checkpoint?
EVAL_RUNNER = """
import sys, torch
sys.path.insert(0, {repo!r})
import train
trainer = train.run({args!r})
state = trainer.model.learner.state_dict()
for name, path in {checkpoints!r}.items():
    saved = torch.load(path, map_location="cpu", weights_only=True)["state_dict"]
    same = set(saved) == set(state) and all(torch.equal(state[k], saved[k]) for k in saved)
    print(name, "same" if same else "different")
"""


def evaluate_model_dir(model_dir, out, checkpoints, data_root, clip_file):
    """train.py --eval-only --model-dir `model_dir` into `out`: which of
    `checkpoints` the evaluated learner holds ("NAME same" lines)."""
    args = base_args(data_root, out, clip_file, "--eval-only", "--model-dir", str(model_dir))
    proc = train_py(code=EVAL_RUNNER.format(repo=REPO, args=args, checkpoints=checkpoints))
    return [line for line in proc.stdout.splitlines() if line.endswith(" same")]


@pytest.fixture(scope="module")
def reevaluated(trained_run, data_root, tiny_clip_file, tmp_path_factory):
    """The trained run evaluated again (--eval-only of its folder): its
    results.json folder and which checkpoint the evaluated learner held."""
    out, _ = trained_run
    eval_dir = tmp_path_factory.mktemp("eval_trained")
    same = evaluate_model_dir(out, eval_dir, {"trained": str(out / "learner" / "model.pth.tar-1")},
                              data_root, tiny_clip_file)
    return eval_dir, same


def test_eval_only_reloads_and_gets_the_same_numbers(trained_run, reevaluated):
    out, _ = trained_run
    # The weights first: one warm-up epoch at lr 1e-5 leaves the learner so
    # close to its seeded start that an evaluation which loaded nothing gets
    # the same scores on these 24 images.
    assert reevaluated[1] == ["trained same"]
    first = json.load(open(out / "results.json"))
    again = json.load(open(reevaluated[0] / "results_eval_epoch1.json"))
    for key in ("mem", "for", "h", "domain_accuracy", "per_domain", "domain_probe_accuracy"):
        assert again[key] == first[key]
    assert again["epoch"] == first["epoch"] == 1


def test_eval_only_evaluates_the_weights_of_the_model_dir_it_names(
        trained_run, reevaluated, data_root, tiny_clip_file, tmp_path):
    import shutil

    import torch
    out, _ = trained_run
    other = tmp_path / "other_run"  # the same run with every learner tensor moved
    shutil.copytree(out, other)
    path = other / "learner" / "model.pth.tar-1"
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    checkpoint["state_dict"] = {k: v + 0.5 for k, v in checkpoint["state_dict"].items()}
    torch.save(checkpoint, path)
    os.remove(f"{path}.sha256")  # a checkpoint made by hand has no digest beside it
    checkpoints = {"trained": str(out / "learner" / "model.pth.tar-1"), "other": str(path)}
    assert evaluate_model_dir(other, tmp_path / "eval_other", checkpoints, data_root,
                              tiny_clip_file) == ["other same"]
    # The trained run's own evaluation (shared with the test above) held its weights.
    assert reevaluated[1] == ["trained same"]


def test_eval_only_with_missing_weights_fails_and_lists_what_it_searched(
        trained_run, data_root, tiny_clip_file, tmp_path):
    out, _ = trained_run
    proc = train_py(*base_args(data_root, tmp_path, tiny_clip_file, "--eval-only",
                               "--model-dir", str(out), "--load-epoch", "7"), check=False)
    assert proc.returncode != 0
    assert "model.pth.tar-7" in proc.stderr and "epochs [1]" in proc.stderr
    assert not (tmp_path / "learner").exists()  # nothing was trained instead


@pytest.mark.parametrize("forget,cli,opts,message", [
    ("sculpture", [], [], "Unknown domain ['sculpture']"),
    ("art,clipart,product,real_world", [], [], "All domains"),
    ("", [], [], "No forget domain given"),
    ("art", [], ["TRAINER.ADU.PROMPT_DEPTH_VISION", "13"], "12 transformer blocks"),
    ("art", [], ["TRAINER.ADU.INSTAPG_LAYERS", "[10]"], "INSTAPG_LAYERS contains 10"),
    ("art", ["--trainer", "NoSuchTrainer"], [], "registered trainers"),
    ("art", [], ["TRAINER.ADU.NO_SUCH_KEY", "1"], "NO_SUCH_KEY"),
    ("art", ["--eval-only"], [], "--eval-only needs --model-dir"),
])
def test_bad_input_fails_with_one_clear_line(data_root, tiny_clip_file, tmp_path, capsys,
                                             forget, cli, opts, message):
    err = run_in_process(base_args(data_root, tmp_path, tiny_clip_file, *cli,
                                   forget=forget, opts=opts), capsys)
    assert message in err
    assert err.count("\n") == 1, err


def test_resnet_backbone_is_refused(data_root, tiny_resnet_clip_file, tmp_path, capsys):
    err = run_in_process(base_args(data_root, tmp_path, tiny_resnet_clip_file), capsys)
    assert "needs a ViT" in err


def test_missing_backbone_file_is_refused(data_root, tmp_path, capsys):
    missing = str(tmp_path / "weights" / "clip.pt")
    err = run_in_process(base_args(data_root, tmp_path, missing), capsys)
    assert missing in err


# A run folder belongs to one config (trainers/run/fingerprint.py).

def test_the_run_records_its_config_fingerprint_in_config_yaml_and_results(trained_run):
    from trainers.run.fingerprint import recorded
    out, _ = trained_run
    res = json.load(open(out / "results.json"))
    path, fingerprint, keys = recorded(str(out))
    assert path.endswith("config.yaml") and fingerprint == res["fingerprint"]
    assert keys == res["fingerprint_keys"]
    assert keys["OPTIM.MAX_EPOCH"] == 1 and keys["DATASET.FORGET_DOMAINS"] == ["art"]
    assert "OUTPUT_DIR" not in keys and "DATASET.ROOT" not in keys


def check_done(args, capsys):
    import train
    with pytest.raises(SystemExit) as exit_info:
        train.run(["--check-done"] + args)
    capsys.readouterr()
    return exit_info.value.code


def test_check_done_says_whether_the_folder_holds_this_configs_result(
        trained_run, data_root, tiny_clip_file, tmp_path, capsys):
    out, _ = trained_run
    assert check_done(base_args(data_root, out, tiny_clip_file), capsys) == 0
    # Paths, logging and checkpoint frequency change no number.
    assert check_done(base_args(tmp_path / "elsewhere", out, tiny_clip_file,
                                opts=["TRAIN.PRINT_FREQ", "7", "TRAIN.CHECKPOINT_FREQ", "1"]),
                      capsys) == 0
    assert check_done(base_args(data_root, out, tiny_clip_file,
                                opts=["OPTIM.MAX_EPOCH", "2"]), capsys) == 1
    assert check_done(base_args(data_root, out, tiny_clip_file, forget="clipart"), capsys) == 1
    assert check_done(base_args(data_root, tmp_path, tiny_clip_file), capsys) == 1  # no result


def test_a_folder_of_another_config_is_refused_naming_the_keys(
        trained_run, data_root, tiny_clip_file, capsys):
    out, _ = trained_run
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    err = run_in_process(base_args(data_root, out, tiny_clip_file, opts=[
        "OPTIM.MAX_EPOCH", "2", "TRAINER.ADU.DDL_GAMMA", "5.0"]), capsys)
    assert err.count("\n") == 1, err
    assert f"{out} holds a run of another config" in err
    assert "OPTIM.MAX_EPOCH: 1 -> 2; TRAINER.ADU.DDL_GAMMA: 30.0 -> 5.0" in err
    assert "use another OUTPUT or TAG" in err and "delete the folder" in err
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_resuming_from_a_folder_of_another_config_is_refused(
        trained_run, data_root, tiny_clip_file, tmp_path, capsys):
    out, _ = trained_run
    err = run_in_process(base_args(data_root, tmp_path, tiny_clip_file, "--resume", str(out),
                                   opts=["OPTIM.LR", "0.1"]), capsys)
    assert f"{out} holds a run of another config" in err
    assert "OPTIM.LR: 0.0025 -> 0.1" in err and "leave out --resume" in err


def test_a_folder_from_before_fingerprints_is_refused(trained_run, data_root, tiny_clip_file,
                                                      tmp_path, capsys):
    import shutil
    out, _ = trained_run
    old = tmp_path / "old"
    shutil.copytree(out, old)
    config = (old / "config.yaml").read_text()
    assert config.startswith("# fingerprint: ")
    (old / "config.yaml").write_text(config.split("\n", 1)[1])
    err = run_in_process(base_args(data_root, old, tiny_clip_file), capsys)
    assert "was written before run folders recorded their config's fingerprint" in err
    assert "config.yaml has none" in err


@pytest.mark.parametrize("opts,message", [
    (["TEST.FINAL_MODEL", "best_val"], "TEST.FINAL_MODEL best_val selects the model on a "
                                       "validation split, which office_home does not have"),
    (["TEST.SPLIT", "val"], "TEST.SPLIT val: office_home has a test split only"),
])
def test_model_selection_on_a_validation_split_is_refused(data_root, tiny_clip_file, tmp_path,
                                                          capsys, opts, message):
    err = run_in_process(base_args(data_root, tmp_path, tiny_clip_file, opts=opts), capsys)
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "config.yaml").exists()
