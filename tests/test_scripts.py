"""The experiment scripts in scripts/adu/: syntax, output layout, skip logic,
sweep combinations, ablation variants, the device queue, bad input, and one
real tiny run through main.sh and eval.sh.

Most tests set PYTHON to tests/fake_python.py, which runs the launcher
(python -m experiments.launch) with the real Python and, with FAKE_TRAIN=1,
fakes train.py.
"""
import glob
import json
import os
import subprocess
from itertools import combinations

import pytest

from fake_data import OFFICE_HOME_DOMAINS, make_office_home
from script_harness import arg, dry_run_commands, needs_dassl, train_calls
from train_harness import REPO, run_script

TINY_OPTS = [
    "INPUT.SIZE", "(32, 32)", "OPTIM.MAX_EPOCH", "1", "DATALOADER.NUM_WORKERS", "0",
    "DATALOADER.TRAIN_X.BATCH_SIZE", "8", "DATALOADER.TEST.BATCH_SIZE", "16",
    "TRAINER.ADU.PREC", "fp32",
]


def write_result(folder, seed, forget, text=None):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "results.json"), "w") as f:
        f.write(text if text is not None else json.dumps({
            "dataset": "office_home", "method": "ADU", "seed": seed,
            "domains": OFFICE_HOME_DOMAINS, "forget_domains": forget,
            "mem": 80.0, "for": 60.0, "h": 68.57}))


def test_every_script_passes_bash_n():
    scripts = glob.glob(os.path.join(REPO, "scripts", "**", "*.sh"), recursive=True)
    assert len(scripts) >= 5
    for path in scripts:
        proc = subprocess.run(["bash", "-n", path], capture_output=True, text=True)
        assert proc.returncode == 0, f"{path}: {proc.stderr}"


def test_dataset_info_gives_the_domains_and_names_the_valid_datasets():
    from experiments.launch import dataset_info
    assert dataset_info.domains_of("office_home") == OFFICE_HOME_DOMAINS
    with pytest.raises(dataset_info.UnknownDataset) as err:
        dataset_info.domains_of("sculptures")
    assert "unknown dataset 'sculptures'" in str(err.value)
    assert "mini_domainnet, office_home, pacs" in str(err.value)


def test_main_runs_three_seeds_into_the_documented_folders(fake_env):
    proc = run_script("main.sh", "office_home", "clipart,art", "--", "OPTIM.MAX_EPOCH", "2",
                      env=dict(fake_env, DRY_RUN="1"))
    assert proc.returncode == 0, proc.stderr
    commands = dry_run_commands(proc.stdout)
    assert [arg(c, "--seed") for c in commands] == ["1", "2", "3"]
    run = f"{fake_env['OUTPUT']}/office_home/ADU_vit_b16_ep50/forget_art+clipart/8shots"
    assert [arg(c, "--output-dir") for c in commands] == [f"{run}/seed{s}" for s in (1, 2, 3)]
    first = commands[0]
    assert arg(first, "--forget-domains") == "art,clipart"  # the dataset's domain order
    assert arg(first, "--trainer") == "ADU"
    assert arg(first, "--config-file").endswith("configs/trainers/ADU/vit_b16_ep50.yaml")
    assert arg(first, "--dataset-config-file").endswith("configs/datasets/office_home.yaml")
    assert first[-4:] == ["DATASET.NUM_SHOTS", "8", "OPTIM.MAX_EPOCH", "2"]
    assert not train_calls(fake_env) and not os.path.exists(fake_env["OUTPUT"])


def test_shots_seeds_and_tag_shape_the_folder_and_method(fake_env):
    proc = run_script("main.sh", "office_home", "art", "vit_b16_ep50", "2",
                      env=dict(fake_env, DRY_RUN="1", SEEDS="4", TAG="lambda5"))
    assert proc.returncode == 0, proc.stderr
    [command] = dry_run_commands(proc.stdout)
    assert arg(command, "--output-dir").endswith(
        "office_home/ADU_vit_b16_ep50_lambda5/forget_art/2shots/seed4")
    assert arg(command, "TEST.METHOD_TAG") == "ADU-lambda5"
    assert arg(command, "DATASET.NUM_SHOTS") == "2"


@pytest.mark.parametrize("opts, folder", [
    (["MODEL.BACKBONE.NAME", "/models/tiny_clip.pt", "INPUT.SIZE", "(32, 32)"],
     "ADU_vit_b16_ep50_tiny_clip_32px"),
    (["MODEL.BACKBONE.NAME", "ViT-L/14"], "ADU_vit_b16_ep50_ViT-L-14"),
    (["INPUT.SIZE", "[336, 336]", "OPTIM.MAX_EPOCH", "2"], "ADU_vit_b16_ep50_336px"),
    # The config's own backbone and size, e.g. CLIP's file for offline use: no change.
    (["MODEL.BACKBONE.NAME", "/models/ViT-B-16.pt", "INPUT.SIZE", "(224, 224)"],
     "ADU_vit_b16_ep50"),
    (["OPTIM.MAX_EPOCH", "2"], "ADU_vit_b16_ep50"),
    # Inferred domain labels never share the given-label runs' folder.
    (["DATASET.DOMAIN_LABELS", "given"], "ADU_vit_b16_ep50"),
    (["DATASET.DOMAIN_LABELS", "pseudo"], "ADU_vit_b16_ep50_pseudo"),
    (["DATASET.DOMAIN_LABELS", "soft", "DATASET.LABELLED_PER_DOMAIN", "3",
      "DATASET.SOFT_TEMPERATURE", "0.5", "INPUT.SIZE", "(32, 32)"],
     "ADU_vit_b16_ep50_32px_soft3l_t0.5"),
])
def test_a_backbone_or_image_size_given_after_the_config_is_in_the_folder_name(
        fake_env, opts, folder):
    proc = run_script("main.sh", "office_home", "art", "--", *opts,
                      env=dict(fake_env, DRY_RUN="1", SEEDS="1", TAG="x"))
    assert proc.returncode == 0, proc.stderr
    [command] = dry_run_commands(proc.stdout)
    assert arg(command, "--output-dir").split("/")[-4] == f"{folder}_x"


def test_done_runs_are_skipped_and_corrupt_ones_run_again(fake_env):
    run = os.path.join(fake_env["OUTPUT"], "office_home", "ADU_vit_b16_ep50", "forget_art",
                       "8shots")
    first = run_script("main.sh", "office_home", "art", env=dict(fake_env, SEEDS="1"))
    assert first.returncode == 0, first.stderr
    write_result(f"{run}/seed2", 2, ["art"], text='{"dataset": "office_ho')
    proc = run_script("main.sh", "office_home", "art", env=fake_env)
    assert proc.returncode == 0, proc.stderr
    assert f"skip: {run}/seed1 (done: results.json of the same config)" in proc.stdout
    assert f"{run}/seed2/results.json: not valid JSON" in proc.stderr
    assert "not a complete result" in proc.stdout
    assert [int(arg(c["args"], "--seed")) for c in train_calls(fake_env)] == [1, 2, 3]
    assert "2 ran, 1 skipped" in proc.stdout

    again = run_script("main.sh", "office_home", "art", env=fake_env)
    assert again.returncode == 0 and again.stdout.count("skip: ") == 3
    assert len(train_calls(fake_env)) == 3  # nothing trained the second time


def test_a_done_run_of_another_config_or_without_fingerprint_is_not_skipped(fake_env):
    """The skip test resolves the command's config in the launcher and
    compares its fingerprint with the result's; train.py then refuses the
    folder (the fake does not)."""
    run = os.path.join(fake_env["OUTPUT"], "office_home", "ADU_vit_b16_ep50", "forget_art",
                       "8shots")
    env = dict(fake_env, SEEDS="1 2")
    assert run_script("main.sh", "office_home", "art", "--", "OPTIM.MAX_EPOCH", "2",
                      env=env).returncode == 0
    write_result(f"{run}/seed2", 2, ["art"])  # complete, but no fingerprint: older code
    proc = run_script("main.sh", "office_home", "art", "--", "OPTIM.MAX_EPOCH", "2", env=env)
    assert "skip: " + run + "/seed1" in proc.stdout and "1 ran, 1 skipped" in proc.stdout
    other = run_script("main.sh", "office_home", "art", env=env)
    assert "skip: " not in other.stdout and "2 ran, 0 skipped" in other.stdout
    assert len(train_calls(fake_env)) == 2 + 1 + 2


@pytest.mark.parametrize("k,count", [(1, 4), (2, 6), (3, 4)])
def test_sweep_runs_every_forget_combination_of_size_k(fake_env, k, count):
    proc = run_script("sweep.sh", "office_home", str(k),
                      env=dict(fake_env, DRY_RUN="1", SEEDS="1 2"))
    assert proc.returncode == 0, proc.stderr
    assert f"{count} forget combination(s) of size {k}" in proc.stdout
    commands = dry_run_commands(proc.stdout)
    assert len(commands) == 2 * count
    forgets = sorted({arg(c, "--forget-domains") for c in commands})
    assert forgets == sorted(",".join(c) for c in combinations(OFFICE_HOME_DOMAINS, k))


def test_demo_runs_zero_shot_baseline_and_adu_on_the_toy_benchmark(fake_env):
    proc = run_script("demo.sh", env=dict(fake_env, DRY_RUN="1"))
    assert proc.returncode == 0, proc.stderr
    commands = dry_run_commands(proc.stdout)
    assert [arg(c, "--trainer") for c in commands] == ["ZeroshotCLIP", "ADU", "ADU"]
    assert [arg(c, "--config-file").split("/")[-2:] for c in commands] == [
        ["ZeroshotCLIP", "toy_tiny.yaml"], ["ADU", "toy_tiny.yaml"], ["ADU", "toy_tiny.yaml"]]
    assert all(arg(c, "--forget-domains") == "sketch" and arg(c, "--seed") == "1"
               for c in commands)
    assert all(arg(c, "--dataset-config-file").endswith("toy_domains.yaml") for c in commands)
    baseline = " ".join(commands[1])
    assert "TRAINER.ADU.INSTAPG False TRAINER.ADU.DDL False" in baseline
    assert "TEST.METHOD_TAG ADU-Baseline" in baseline
    assert "TRAINER.ADU.DDL False" not in " ".join(commands[2])
    assert "3 would run, 0 skipped" in proc.stdout


@pytest.mark.parametrize("env, message", [
    ({"FORGET": "cartoon"}, "cartoon"),
    ({"FORGET": "photo,sketch,clipart,painting"}, "every"),
    ({"DEVICES": "0"}, "unset DEVICES"),
])
def test_demo_rejects_bad_settings(fake_env, env, message):
    proc = run_script("demo.sh", env=dict(fake_env, DRY_RUN="1", **env))
    assert proc.returncode == 2
    assert message in proc.stderr
    assert train_calls(fake_env) == []


def test_ablation_runs_six_variants_with_their_switches_and_tags(fake_env):
    proc = run_script("ablation.sh", "office_home", "art", "--", "OPTIM.MAX_EPOCH", "1",
                      env=dict(fake_env, DRY_RUN="1", SEEDS="1"))
    assert proc.returncode == 0, proc.stderr
    commands = dry_run_commands(proc.stdout)
    folders = [arg(c, "--output-dir").split("/")[-4] for c in commands]
    assert folders == ["ADU_vit_b16_ep50_Baseline", "ADU_vit_b16_ep50_InstaPG-only",
                       "ADU_vit_b16_ep50_DDL-only", "ADU_vit_b16_ep50_DDL-CE-only",
                       "ADU_vit_b16_ep50_DDL-MMD-only", "ADU_vit_b16_ep50"]
    tags = [c[c.index("TEST.METHOD_TAG") + 1] if "TEST.METHOD_TAG" in c else None
            for c in commands]
    assert tags == ["ADU-Baseline", "ADU-InstaPG-only", "ADU-DDL-only", "ADU-DDL-CE-only",
                    "ADU-DDL-MMD-only", None]
    switches = [" ".join(c[c.index("OPTIM.MAX_EPOCH") + 2:]) for c in commands]
    assert switches == ["TRAINER.ADU.INSTAPG False TRAINER.ADU.DDL False",
                        "TRAINER.ADU.DDL False", "TRAINER.ADU.INSTAPG False",
                        "TRAINER.ADU.DDL_MMD False", "TRAINER.ADU.DDL_CE False", ""]


def test_devices_run_in_parallel_and_a_failed_run_does_not_stop_the_others(fake_env):
    env = dict(fake_env, DEVICES="0,1", FAKE_FAIL_SEEDS="2", FAKE_SLEEP="0.3")
    proc = run_script("sweep.sh", "office_home", "3", env=env)
    assert proc.returncode == 1
    calls = train_calls(fake_env)
    assert len(calls) == 12 and {c["cuda"] for c in calls} == {"0", "1"}
    done = glob.glob(os.path.join(fake_env["OUTPUT"], "**", "results.json"), recursive=True)
    assert len(done) == 8  # seeds 1 and 3 of the 4 combinations
    assert proc.stdout.count("FAILED (exit 3)") == 4
    assert "12 ran, 0 skipped (done), 4 failed" in proc.stdout
    assert proc.stderr.count("failed: ") == 4 and "seed2 (exit 3, log " in proc.stderr
    log = os.path.join(fake_env["OUTPUT"], "office_home", "ADU_vit_b16_ep50",
                       "forget_art+clipart+product", "8shots", "seed2", "job.log")
    assert "fails on purpose" in open(log).read()


@pytest.mark.parametrize("script,args,env,message", [
    ("main.sh", ["office_home", "sculpture"], {},
     "unknown domain 'sculpture' for office_home; valid domains: art clipart product real_world"),
    ("main.sh", ["office_home", "art,clipart,product,real_world"], {},
     "cannot forget every domain of office_home"),
    ("main.sh", ["office_home", ","], {}, "no domain to forget given"),
    ("main.sh", ["office_home"], {}, "usage: bash scripts/adu/main.sh"),
    ("main.sh", ["office_home", "art", "no_such_cfg"], {},
     "no config 'no_such_cfg' for ADU"),
    ("main.sh", ["office_home", "art", "vit_b16_ep50", "0"], {},
     "SHOTS must be a positive integer"),
    ("main.sh", ["office_home", "art", "--", "OPTIM.MAX_EPOCH"], {}, "KEY VALUE pairs"),
    ("main.sh", ["office_home", "art"], {"TRAINER": "NoSuchTrainer"},
     "no configs for trainer 'NoSuchTrainer'"),
    ("main.sh", ["office_home", "art"], {"SEEDS": "1 two"}, "SEEDS must be"),
    ("main.sh", ["office_home", "art"], {"DEVICES": "gpu0"}, "DEVICES must be"),
    ("main.sh", ["office_home", "art"], {"TAG": "a/b"}, "TAG may hold"),
    ("sweep.sh", ["office_home", "0"], {}, "K must be from 1 to 3 for office_home"),
    ("sweep.sh", ["office_home", "4"], {}, "K must be from 1 to 3 for office_home"),
    ("sweep.sh", ["office_home", "two"], {}, "K must be from 1 to 3"),
    ("ablation.sh", ["office_home", "art"], {"TRAINER": "CoOpADU"}, "TRAINER=ADU only"),
    ("eval.sh", ["/no/such/folder"], {}, "no folder /no/such/folder"),
])
def test_bad_input_fails_before_running_anything(fake_env, script, args, env, message):
    proc = run_script(script, *args, env=dict(fake_env, **env))
    assert proc.returncode == 2
    assert message in proc.stderr
    assert not train_calls(fake_env) and not os.path.exists(fake_env["OUTPUT"])


def test_unknown_dataset_lists_the_valid_names(fake_env):
    proc = run_script("sweep.sh", "officehome", "1", env=fake_env)
    assert proc.returncode == 2
    assert "unknown dataset 'officehome'; ADU datasets:" in proc.stderr
    assert "office_home" in proc.stderr and "mini_domainnet" in proc.stderr


def test_eval_without_finished_runs_says_so(fake_env, tmp_path):
    (tmp_path / "empty").mkdir()
    proc = run_script("eval.sh", str(tmp_path / "empty"), env=fake_env)
    assert proc.returncode == 2 and "no finished run" in proc.stderr


def test_eval_rescores_finished_runs_into_their_own_tree(fake_env, tmp_path):
    env = dict(fake_env, SEEDS="1", EVAL_OUTPUT=str(tmp_path / "eval"))
    assert run_script("sweep.sh", "office_home", "3", env=env).returncode == 0
    unfinished = os.path.join(fake_env["OUTPUT"], "office_home", "ADU_vit_b16_ep50",
                              "forget_clipart+product+real_world", "8shots", "seed1")
    os.remove(os.path.join(unfinished, "results.json"))
    proc = run_script("eval.sh", fake_env["OUTPUT"], env=env)
    assert proc.returncode == 0, proc.stderr
    assert f"not evaluated: {unfinished} (not finished: no complete results.json)" \
        in proc.stdout
    assert "3 ran, 0 skipped (done), 0 failed (1 not evaluated: no saved weights or not " \
        "finished)" in proc.stdout
    evals = [c["args"] for c in train_calls(env) if "--eval-only" in c["args"]]
    assert len(evals) == 3
    first = evals[0]
    run = os.path.join(fake_env["OUTPUT"], "office_home", "ADU_vit_b16_ep50",
                       "forget_art+clipart+product", "8shots", "seed1")
    assert arg(first, "--model-dir") == run and arg(first, "--load-epoch") == "2"
    assert arg(first, "--config-file") == f"{run}/config.yaml"
    assert arg(first, "--root") == fake_env["DATA"]
    # One folder per source run: its last five path parts, and its path's digest.
    assert arg(first, "--output-dir").startswith(str(
        tmp_path / "eval" / "office_home" / "ADU_vit_b16_ep50" / "forget_art+clipart+product"
        / "8shots" / "seed1_"))
    # The evaluations' own records, never a results.json.
    assert len(glob.glob(str(tmp_path / "eval" / "**" / "results_eval_epoch2.json"),
                         recursive=True)) == 3
    assert not glob.glob(str(tmp_path / "eval" / "**" / "results.json"), recursive=True)

    again = run_script("eval.sh", os.path.join(fake_env["OUTPUT"], "office_home"), env=env)
    assert again.returncode == 0 and "0 ran, 3 skipped (done)" in again.stdout
    missing_epoch = run_script("eval.sh", fake_env["OUTPUT"], "5", env=env)
    assert missing_epoch.returncode == 1
    assert "has no weights of epoch 5 (saved: 2)" in missing_epoch.stdout


@pytest.mark.slow
@needs_dassl
def test_main_trains_a_tiny_run_whose_config_eval_can_reload(fake_python, tiny_clip_file,
                                                             tmp_path):
    """Real train.py (tiny CLIP, tiny Office-Home) through main.sh; then the
    command eval.sh builds must give train.py the run's own config."""
    import train

    make_office_home(tmp_path / "data", num_classes=3, train_per_pair=3, val_per_pair=2)
    env = {"PYTHON": fake_python, "DATA": str(tmp_path / "data"), "SEEDS": "1",
           "OUTPUT": "out/adu", "EVAL_OUTPUT": "out/adu_eval"}
    opts = ["--", "MODEL.BACKBONE.NAME", tiny_clip_file, *TINY_OPTS]
    proc = run_script("main.sh", "office_home", "art", "vit_b16_ep50", "2", *opts, env=env,
                      cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    # The folder names the backbone and image size given on the command line.
    rel = "office_home/ADU_vit_b16_ep50_tiny_clip_32px/forget_art/2shots/seed1"
    run = tmp_path / "out" / "adu" / rel
    with open(run / "results.json") as f:
        trained = json.load(f)
    assert trained["forget_domains"] == ["art"] and trained["num_shots"] == 2
    assert trained["seed"] == 1 and trained["method"] == "ADU"
    assert os.path.isfile(run / "learner" / "model.pth.tar-1")

    # The same command skips the run; one with another option neither skips
    # nor resumes it: train.py names the key and the script stops.
    again = run_script("main.sh", "office_home", "art", "vit_b16_ep50", "2", *opts, env=env,
                       cwd=tmp_path)
    assert again.returncode == 0 and f"skip: out/adu/{rel}" in again.stdout
    other = run_script("main.sh", "office_home", "art", "vit_b16_ep50", "2", *opts,
                       "OPTIM.MAX_EPOCH", "2", env=env, cwd=tmp_path)
    assert other.returncode == 1 and "skip: " not in other.stdout
    assert "holds a run of another config (config.yaml -> this command: OPTIM.MAX_EPOCH: " \
           "1 -> 2)" in other.stderr
    assert "stopped: train.py exited 2" in other.stdout
    with open(run / "results.json") as f:
        assert json.load(f) == trained

    proc = run_script("eval.sh", "out/adu", env=dict(env, DRY_RUN="1"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    [command] = dry_run_commands(proc.stdout)
    assert arg(command, "--output-dir").startswith(f"out/adu_eval/{rel}_")
    assert arg(command, "--load-epoch") == "1"
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        cfg = train.setup_cfg(train.parse_args(command[2:]))
    finally:
        os.chdir(cwd)
    assert (cfg.DATASET.NAME, cfg.DATASET.FORGET_DOMAINS, cfg.DATASET.NUM_SHOTS) == (
        "office_home", ["art"], 2)
    assert (cfg.TRAINER.NAME, cfg.SEED, cfg.MODEL.BACKBONE.NAME) == ("ADU", 1, tiny_clip_file)
    assert tuple(cfg.INPUT.SIZE) == (32, 32) and cfg.TRAINER.ADU.PREC == "fp32"


def test_toy_report_runs_every_row_for_each_forget_domain(fake_env):
    proc = run_script("toy_report.sh", env=dict(fake_env, DRY_RUN="1", SEEDS="1",
                                                 FORGETS="sketch clipart"))
    assert proc.returncode == 0, proc.stderr
    commands = dry_run_commands(proc.stdout)
    runs = {(arg(c, "--forget-domains"), arg(c, "--output-dir").split("/")[-4])
            for c in commands}
    variants = {"ZeroshotCLIP_toy_tiny", "ADU_toy_tiny_Baseline", "ADU_toy_tiny",
                "ADU_toy_tiny_InstaPG-only", "ADU_toy_tiny_DDL-only",
                "ADU_toy_tiny_DDL-CE-only", "ADU_toy_tiny_DDL-MMD-only",
                "ADU_toy_tiny_release_release"}
    assert runs == {(f, v) for f in ("sketch", "clipart") for v in variants}
    release = [c for c in commands if "toy_tiny_release.yaml" in arg(c, "--config-file")]
    assert release and all(arg(c, "TEST.METHOD_TAG") == "ADU-release" for c in release)


def test_toy_report_takes_no_arguments(fake_env):
    proc = run_script("toy_report.sh", "office_home", env=dict(fake_env, DRY_RUN="1"))
    assert proc.returncode == 2 and "usage" in proc.stderr
