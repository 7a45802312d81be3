"""A result is bound to what made it (issue 37, parts 1, 2 and 4's loading):
each example of the issue, reproduced on a tiny run of its own.

One subprocess (one start-up) trains ADU for 2 epochs on the tiny
Office-Home tree with a private copy of the tiny CLIP, then, as a user would:
evaluates epoch 1 with the training command's own --output-dir (README's
example), scores the weights as a `clipart` run (refused, then asked for with
--cross-eval), and evaluates a planted pickle with TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1.
The tests read what that left; the rest runs in this process.
"""
import json
import os
import shutil
import subprocess
import sys

import pytest

pytest.importorskip("dassl", reason="Dassl not installed (see README)")

from train_harness import QUIET_ENV, REPO, tiny_adu_args, train_py  # noqa: E402

from tool_entry import load_tool  # noqa: E402

# Runs each command of a list in one process, catching each exit: the exit
# codes are printed as "EXIT <i> <code>" lines.
STORY = """
import io, sys
sys.path.insert(0, {repo!r})
import train
for i, args in enumerate({commands!r}):
    if sys.stdout is not sys.__stdout__:
        sys.stdout.flush(); sys.stdout.file.close()
        sys.stdout.file, sys.stdout.console = None, io.StringIO()
    sys.stdout = sys.__stdout__
    try:
        train.run(args)
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    print("EXIT", i, code, flush=True)
"""
EVIL = """
import os, torch
class Evil:
    def __reduce__(self):
        return (os.system, ("touch " + {marker!r},))
torch.save({{"state_dict": Evil(), "epoch": 1}}, {path!r})
"""


def write_sha256(path):
    from trainers.run.checkpoint_digest import write_digest
    write_digest(str(path))


@pytest.fixture(scope="module")
def story(office_home_root, tiny_clip_file, tmp_path_factory):
    """(folders, exit codes, stdout, stderr) of the story above."""
    base = tmp_path_factory.mktemp("provenance")
    clip_file = base / "clip.pt"
    shutil.copy(tiny_clip_file, clip_file)
    run, clipart, cross = base / "run", base / "clipart", base / "cross"
    train_args = [str(a) for a in tiny_adu_args(
        office_home_root, run, clip_file,
        opts=["OPTIM.MAX_EPOCH", "2", "TRAIN.CHECKPOINT_FREQ", "1"])]
    # A planted pickle, with a digest beside it, as the checkpoint of a run folder.
    evil_run = base / "evil_run"
    marker = base / "pickle_code_ran"
    readme_eval = tiny_adu_args(office_home_root, run, clip_file, "--eval-only", "--model-dir",
                                str(run), "--load-epoch", "1", opts=["OPTIM.MAX_EPOCH", "2"])
    clipart_eval = tiny_adu_args(office_home_root, clipart, clip_file, "--eval-only",
                                 "--model-dir", str(run), forget="clipart",
                                 opts=["OPTIM.MAX_EPOCH", "2"])
    cross_eval = tiny_adu_args(office_home_root, cross, clip_file, "--eval-only", "--model-dir",
                               str(run), "--cross-eval", forget="clipart",
                               opts=["OPTIM.MAX_EPOCH", "2"])
    evil_eval = tiny_adu_args(office_home_root, base / "evil_eval", clip_file, "--eval-only",
                              "--model-dir", str(evil_run), opts=["OPTIM.MAX_EPOCH", "2"])
    # Two processes: a run folder's lock is held until its process ends, and
    # README's evaluation writes into the training run's folder.
    first = story_process([train_args, clipart_eval, cross_eval])
    shutil.copytree(run, evil_run)
    shutil.rmtree(evil_run / "learner")
    (evil_run / "learner").mkdir()
    for name in os.listdir(evil_run):
        if name.startswith("results"):
            os.remove(evil_run / name)
    evil = evil_run / "learner" / "model.pth.tar-2"
    train_py(code=EVIL.format(marker=str(marker), path=str(evil)), script="make pickle")
    write_sha256(evil)
    second = story_process([readme_eval, evil_eval], TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD="1")
    codes = [int(line.split()[2]) for line in (first.stdout + second.stdout).splitlines()
             if line.startswith("EXIT ")]
    return {"root": office_home_root, "run": run, "clipart": clipart, "cross": cross,
            "clip": clip_file, "marker": marker, "train_args": train_args,
            "codes": dict(zip(["train", "clipart", "cross", "readme", "evil"], codes)),
            "err": first.stderr + second.stderr}


def story_process(commands, **env):
    return subprocess.run(
        [sys.executable, "-c", STORY.format(repo=REPO, commands=[list(map(str, c))
                                                                 for c in commands])],
        cwd=REPO, capture_output=True, text=True, env=dict(os.environ, **QUIET_ENV, **env),
        timeout=600)


def test_the_training_run_finished_and_records_what_made_it(story):
    assert story["codes"]["train"] == 0, story["err"][-3000:]
    record = json.load(open(story["run"] / "results.json"))
    prov = record["provenance"]
    assert prov["kind"] == "training" and prov["weights"]["epoch"] == record["epoch"] == 2
    assert prov["weights"]["run_fingerprint"] == record["fingerprint"]
    learner = prov["weights"]["models"]["learner"]
    assert learner["file"] == os.path.join("learner", "model.pth.tar-2")
    from trainers.run.provenance import file_sha256
    assert learner["file_sha256"] == file_sha256(story["run"] / "learner" / "model.pth.tar-2")
    assert prov["backbone"] == {"name": str(story["clip"]),
                                "sha256": file_sha256(story["clip"])}
    assert prov["test_split"]["images"] == 24 and len(prov["test_split"]["sha256"]) == 64
    from trainers.run.provenance import seal
    assert seal(record) == record  # its record_sha256 is of its content


def test_eval_only_in_the_training_folder_never_replaces_its_results(story):
    """README's --eval-only example with an earlier --load-epoch: the run's
    results.json stays the finished run's (epoch 2), the evaluation writes
    its own record, and the sweep still counts the run as done with its numbers."""
    from experiments.launch.skip import is_done
    assert story["codes"]["readme"] == 0, story["err"][-3000:]
    record = json.load(open(story["run"] / "results.json"))
    assert record["epoch"] == 2 and record["provenance"]["kind"] == "training"
    evaluation = json.load(open(story["run"] / "results_eval_epoch1.json"))
    assert evaluation["epoch"] == 1 and evaluation["provenance"]["kind"] == "evaluation"
    assert evaluation["provenance"]["weights"]["models"]["learner"]["file"] == \
        os.path.join("learner", "model.pth.tar-1")
    assert is_done(str(story["run"]), story["train_args"])


def test_weights_trained_for_another_forget_domain_are_refused_as_that_run(story):
    """--model-dir trained to forget art, scored as a clipart run: refused in
    one line naming the key; with --cross-eval the record says so, and
    main.sh's clipart run is not skipped as done by it."""
    from experiments.launch.skip import is_done
    assert story["codes"]["clipart"] == 2
    line = next(x for x in story["err"].splitlines() if "trained with another config" in x)
    assert "DATASET.FORGET_DOMAINS: ['art'] -> ['clipart']" in line and "--cross-eval" in line
    assert not (story["clipart"] / "results.json").exists()
    assert story["codes"]["cross"] == 0, story["err"][-3000:]
    assert not (story["cross"] / "results.json").exists()
    record = json.load(open(story["cross"] / "results_cross_eval_epoch2.json"))
    assert record["provenance"]["kind"] == "cross-evaluation"
    assert record["provenance"]["weights"]["run_fingerprint"] == json.load(
        open(story["run"] / "results.json"))["fingerprint"]
    clipart_train = [str(a) for a in tiny_adu_args(
        story["root"], story["cross"], story["clip"], forget="clipart",
        opts=["OPTIM.MAX_EPOCH", "2"])]
    assert not is_done(str(story["cross"]), clipart_train)


def test_a_pickle_given_as_model_dir_is_refused_without_running_its_code(story):
    """Even with TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 in the environment and a
    matching .sha256 beside it."""
    assert story["codes"]["evil"] == 2
    assert not story["marker"].exists(), "the pickle's code ran"
    line = [x for x in story["err"].splitlines() if x.startswith("train.py: error:")][-1]
    assert "model.pth.tar-2 holds more than weights (it would call posix.system)" in line
    assert "its code was not run" in line


def test_dassls_own_loader_reads_weights_only(monkeypatch, tmp_path):
    """A CoOp-family trainer file loads --model-dir through Dassl's
    load_checkpoint: it is the project's weights-only loader once registered."""
    import train
    train.register()
    from dassl.utils import load_checkpoint
    from dassl.engine import trainer as dassl_trainer
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pth"
    train_py(code=EVIL.format(marker=str(marker), path=str(path)), script="make pickle")
    for load in (load_checkpoint, dassl_trainer.load_checkpoint):
        with pytest.raises(Exception):
            load(str(path))
    assert not marker.exists()


def test_a_backbone_replaced_at_the_same_path_undoes_done_and_refuses_resume(
        story, capsys):
    """The fingerprint names the backbone's path; config.yaml and results.json
    record its content too: a file replaced there makes the finished run not
    done (one line), and train.py refuses to resume it on the other weights."""
    from experiments.launch.skip import is_done
    from train_harness import run_in_process
    clip, saved = story["clip"], story["clip"].read_bytes()
    assert is_done(str(story["run"]), story["train_args"])
    try:
        data = bytearray(saved)
        data[len(data) // 2] ^= 0x01
        clip.write_bytes(bytes(data))
        capsys.readouterr()
        assert not is_done(str(story["run"]), story["train_args"])
        out = capsys.readouterr().out
        assert "was scored on another backbone" in out and str(clip) in out
        err = run_in_process(story["train_args"], capsys)
        assert "holds a run on another backbone" in err and err.count("\n") == 1
        args = story["train_args"]
        at = args.index("MODEL.BACKBONE.NAME")
        check = train_py(*args[:at], "--check-done", *args[at:], check=False)
        assert check.returncode == 1
    finally:
        clip.write_bytes(saved)
    assert is_done(str(story["run"]), story["train_args"])


def test_a_hand_edited_result_is_named_and_neither_skipped_nor_printed(story, tmp_path,
                                                                        capsys):
    from experiments.launch.skip import is_done
    copy = tmp_path / "run"
    shutil.copytree(story["run"], copy)
    record = json.load(open(copy / "results.json"))
    record["h"] = 99.0
    json.dump(record, open(copy / "results.json", "w"), indent=2)
    args = [str(copy) if a == str(story["run"]) else str(a) for a in story["train_args"]]
    capsys.readouterr()
    assert not is_done(str(copy), args)
    err = capsys.readouterr().err
    assert "was changed after the run wrote it" in err and "train.py command again" in err
    parse_results = load_tool("parse_results")
    code = parse_results.main([str(tmp_path), "--allow-missing"])
    out, err = capsys.readouterr()
    assert code == 2 and "99.00" not in out
    assert f"skipping {copy / 'results.json'}: it was changed after the run wrote it" in err
    # The same edit without the seal (a record written before it): H is checked.
    del record["record_sha256"]
    json.dump(record, open(copy / "results.json", "w"), indent=2)
    assert not is_done(str(copy), args)
    assert "is not the harmonic mean of its Mem" in capsys.readouterr().err


def test_the_analyses_refuse_a_checkpoint_that_is_not_the_one_scored(story, tmp_path, capsys):
    """results.json scored epoch 2; its checkpoint replaced by epoch 1's (with
    a matching .sha256): analyze.py (as export.py) names it instead of
    analysing weights the numbers are not of."""
    copy = tmp_path / "run"
    shutil.copytree(story["run"], copy)
    for suffix in ("", ".sha256"):
        shutil.copy(copy / "learner" / f"model.pth.tar-1{suffix}",
                    copy / "learner" / f"model.pth.tar-2{suffix}")
    write_sha256(copy / "learner" / "model.pth.tar-2")
    with pytest.raises(SystemExit) as exit_info:
        load_tool("analyze").main([str(copy), "--cpu", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    line = err.strip().splitlines()[-1]
    assert "model.pth.tar-2 is not the checkpoint" in line and "results.json scored" in line
