"""A run killed at any moment resumes to the same result: atomic writes,
checkpoints checked before they are trusted, the fault-injection tool, and
a sweep script killed mid-way and started again."""
import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest
import torch
from train_harness import QUIET_ENV, REPO, SCRIPTS, train_py

from tests.dev.faults import child, hooks, trials
from trainers.run import checkpoint as ckpt
from trainers.run.files import atomic_write, write_json_atomic
from user_errors import BadFileError

sys.path.insert(0, os.path.join(REPO, "tools"))
import fault_inject  # noqa: E402

sys.path.pop(0)


pytestmark = pytest.mark.slow  # end-to-end runs: `make test`, not `make test-fast`


def dassl_importable() -> bool:
    try:
        import dassl  # noqa: F401
        return True
    except ImportError:
        return False


needs_dassl = pytest.mark.skipif(not dassl_importable(), reason="Dassl not installed "
                                 "(pip install it from GitHub, see README)")


def folder_names(folder) -> list:
    return sorted(os.listdir(folder))


def without_digests(names) -> list:
    """The names but the sha256 files beside the checkpoints (run/checkpoint_digest.py)."""
    return [n for n in names if not n.endswith(".sha256")]


# ---- atomic writes -------------------------------------------------------------

def test_a_crash_between_write_and_rename_leaves_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "results.json"
    write_json_atomic(str(path), {"h": 1.0})

    def crash(*args):
        raise OSError("killed before the rename")
    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="killed before the rename"):
        write_json_atomic(str(path), {"h": 2.0})
    assert json.loads(path.read_text()) == {"h": 1.0}
    assert folder_names(tmp_path) == ["results.json"]  # no temporary file left


def test_an_error_while_writing_leaves_the_previous_file(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("old\n")
    with pytest.raises(RuntimeError), atomic_write(str(path)) as f:
        f.write("half of the new")
        raise RuntimeError("the writer failed")
    assert path.read_text() == "old\n"
    assert folder_names(tmp_path) == ["config.yaml"]


def test_a_killed_write_leaves_only_a_hidden_temporary_file(tmp_path):
    # A real SIGKILL inside the block: the target is untouched, and the
    # temporary file matches no glob for the real files.
    path = tmp_path / "model.pth.tar-1"
    path.write_bytes(b"old")
    # files.py alone (it imports nothing of the package): no Dassl to import
    code = ("import importlib.util, os, signal\n"
            "spec = importlib.util.spec_from_file_location('files', %r)\n"
            "files = importlib.util.module_from_spec(spec); spec.loader.exec_module(files)\n"
            "with files.atomic_write(%r, 'wb') as f:\n"
            "    f.write(b'new' * 1000); f.flush()\n"
            "    os.kill(os.getpid(), signal.SIGKILL)\n"
            ) % (os.path.join(REPO, "trainers", "run", "files.py"), str(path))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True)
    assert proc.returncode == -signal.SIGKILL
    assert path.read_bytes() == b"old"
    names = folder_names(tmp_path)
    assert len(names) == 2 and names[0].startswith(".model.pth.tar-1.")
    assert names[0].endswith(".tmp")


# ---- checkpoints -----------------------------------------------------------------

def fake_trainer(output_dir, names=("learner",), seed=0):
    """What save_models / resume_models use of a Dassl trainer."""
    torch.manual_seed(seed)
    models = {n: torch.nn.Linear(3, 2) for n in names}
    optims = {n: torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9) for n, m in models.items()}
    return SimpleNamespace(_models=models, _optims=optims, _scheds=dict.fromkeys(names),
                           output_dir=str(output_dir), get_model_names=lambda: list(names))


def save_epochs(trainer, epochs):
    for epoch in epochs:
        with torch.no_grad():
            for model in trainer._models.values():
                model.weight.fill_(float(epoch))
        ckpt.save_models(trainer, epoch - 1, trainer.output_dir)


def truncate(path, keep=0.5):
    data = open(path, "rb").read()
    with open(path, "wb") as f:
        f.write(data[:int(len(data) * keep)])


@needs_dassl
def test_checkpoints_have_dassls_names_and_pointer_and_dassl_resumes_them(tmp_path):
    from dassl.utils import resume_from_checkpoint
    from dassl.utils import save_checkpoint as dassl_save

    trainer = fake_trainer(tmp_path / "ours")
    save_epochs(trainer, [1, 2])
    ckpt.save_models(trainer, 1, trainer.output_dir, model_name="model-best.pth.tar")
    theirs = tmp_path / "theirs"
    for epoch in (1, 2):
        dassl_save({"state_dict": trainer._models["learner"].state_dict(), "epoch": epoch},
                   str(theirs))
    dassl_save({"state_dict": {}, "epoch": 2}, str(theirs), model_name="model-best.pth.tar")
    ours = tmp_path / "ours" / "learner"
    # Dassl's names, plus a sha256 beside each checkpoint (run/checkpoint_digest.py)
    assert without_digests(folder_names(ours)) == folder_names(theirs)
    assert [f for f in folder_names(ours) if f.endswith(".sha256")] == [
        "model-best.pth.tar.sha256", "model.pth.tar-1.sha256", "model.pth.tar-2.sha256"]
    assert (ours / "checkpoint").read_text() == (theirs / "checkpoint").read_text()
    ckpt.save_models(trainer, 1, trainer.output_dir)
    assert (ours / "checkpoint").read_text() == "model.pth.tar-2\n"
    model = torch.nn.Linear(3, 2)
    assert resume_from_checkpoint(str(ours), model) == 2
    assert torch.equal(model.weight, torch.full((2, 3), 2.0))


def test_a_truncated_latest_checkpoint_is_set_aside_and_the_one_before_used(tmp_path, capsys):
    saved = fake_trainer(tmp_path)
    save_epochs(saved, [1, 2, 3])
    truncate(tmp_path / "learner" / "model.pth.tar-3")
    trainer = fake_trainer(tmp_path, seed=1)
    assert ckpt.resume_models(trainer, str(tmp_path)) == 2
    out = capsys.readouterr().out
    assert f"Checkpoint {tmp_path}/learner/model.pth.tar-3 does not load (" in out
    assert f"moved it to {tmp_path}/learner/model.pth.tar-3.corrupt" in out
    assert torch.equal(trainer._models["learner"].weight, torch.full((2, 3), 2.0))
    assert trainer.epoch == 1  # the evaluation reports epoch + 1 = 2 when nothing is left
    assert without_digests(folder_names(tmp_path / "learner")) == [
        "checkpoint", "model.pth.tar-1", "model.pth.tar-2", "model.pth.tar-3.corrupt"]
    assert (tmp_path / "learner" / "checkpoint").read_text() == "model.pth.tar-2\n"


def test_with_two_models_the_newest_epoch_that_loads_for_both_is_used(tmp_path, capsys):
    names = ("prompt", "head")
    save_epochs(fake_trainer(tmp_path, names), [1, 2, 3, 4])
    os.remove(tmp_path / "head" / "model.pth.tar-4")  # killed between the two saves
    truncate(tmp_path / "head" / "model.pth.tar-3", keep=0.9)
    trainer = fake_trainer(tmp_path, names, seed=1)
    assert ckpt.resume_models(trainer, str(tmp_path)) == 2
    out = capsys.readouterr().out
    assert "Not resuming from epoch 4: head has no checkpoint for it" in out
    assert "head/model.pth.tar-3 does not load" in out
    for name in names:
        assert torch.equal(trainer._models[name].weight, torch.full((2, 3), 2.0))
    # prompt's epoch-3 file loads: kept, not set aside
    assert os.path.isfile(tmp_path / "prompt" / "model.pth.tar-3")
    assert os.path.isfile(tmp_path / "head" / "model.pth.tar-3.corrupt")


def test_when_no_checkpoint_loads_the_run_starts_from_scratch_and_says_so(tmp_path, capsys):
    save_epochs(fake_trainer(tmp_path), [1])
    truncate(tmp_path / "learner" / "model.pth.tar-1", keep=0.1)
    assert ckpt.resume_models(fake_trainer(tmp_path), str(tmp_path)) == 0
    assert f"No checkpoint loads in {tmp_path}: training from scratch" in capsys.readouterr().out


def test_unfinished_writes_of_a_killed_run_are_removed_on_resume(tmp_path, capsys):
    save_epochs(fake_trainer(tmp_path), [1])
    dead_pid = 2 ** 22 + 1  # above Linux's pid_max: no such process
    stale = [tmp_path / "learner" / f".model.pth.tar-2.{dead_pid}.tmp",
             tmp_path / f".results.json.{dead_pid}.tmp"]
    for path in stale:
        path.write_bytes(b"half")
    assert ckpt.resume_models(fake_trainer(tmp_path), str(tmp_path)) == 1
    assert not any(os.path.exists(p) for p in stale)
    assert f"Removed {stale[0]}, an unfinished write" in capsys.readouterr().out


def test_loading_a_truncated_checkpoint_for_evaluation_names_it(tmp_path):
    trainer = fake_trainer(tmp_path)
    save_epochs(trainer, [1, 2])
    truncate(tmp_path / "learner" / "model.pth.tar-2")
    with pytest.raises(BadFileError) as err:
        ckpt.load_models(trainer, str(tmp_path))
    message = str(err.value)
    assert f"{tmp_path}/learner/model.pth.tar-2 does not load (" in message
    assert "Pass --load-epoch <an earlier epoch> (its saved epochs: [1, 2])" in message
    assert "\n" not in message


def test_a_malformed_kill_target_is_one_clear_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        child.parse_args(["--kill", "checkpoint:3", "--", "--root", "data"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "'checkpoint:3': expected PHASE:K with PHASE one of step, " in err


def test_the_child_passes_everything_after_the_separator_to_train_py():
    args, train_argv = child.parse_args(["--kill", "step:2", "--", "--root", "d", "--seed", "1"])
    assert args.kill == ("step", 2) and args.count == ""
    assert train_argv == ["--root", "d", "--seed", "1"]


def test_a_fault_point_counts_every_phase_and_kills_only_at_its_target(tmp_path):
    # A real SIGKILL, in a child process: at the 3rd checkpoint byte, after
    # 2 steps counted; the counts of a run without a kill reach the file.
    code = ("from tests.dev.faults.hooks import FaultPoints\n"
            "points = FaultPoints(*{target!r})\n"
            "points.write_counts_at_exit({counts!r})\n"
            "points.point('step'); points.point('step')\n"
            "points.point('checkpoint_write', 2); print('alive', flush=True)\n"
            "points.point('checkpoint_write', 1); print('not reached')\n")
    counts = tmp_path / "counts.json"
    killed = subprocess.run([sys.executable, "-c", code.format(
        target=("checkpoint_write", 3), counts=str(counts))], cwd=REPO, capture_output=True,
        text=True)
    assert killed.returncode == -signal.SIGKILL and killed.stdout == "alive\n"
    assert not counts.exists()
    finished = subprocess.run([sys.executable, "-c", code.format(
        target=("", 0), counts=str(counts))], cwd=REPO, capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr
    assert json.loads(counts.read_text()) == {"step": 2, "checkpoint_write": 3,
                                              "evaluation": 0, "results_write": 0}


# ---- whole runs: the fault-injection tool, a truncated checkpoint, a sweep ----------

@pytest.fixture(scope="module")
def injected(toy_data_root, tmp_path_factory):
    """tools/fault_inject.py with 4 trials (one per phase); its runs are kept."""
    pytest.importorskip("dassl", reason="Dassl not installed (see README)")
    workdir = tmp_path_factory.mktemp("fault_inject")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = fault_inject.main(["--trials", "4", "--seed", "0", "--jobs", "2",
                                    "--root", str(toy_data_root), "--workdir", str(workdir)])
    return status, out.getvalue(), workdir


def table_rows(stdout) -> dict:
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("phase "))
    return {line.split()[0]: [int(c) for c in line.split()[1:]] for line in lines[start + 1:]}


def test_fault_injection_every_phase_killed_recovered_identical(injected):
    status, stdout, _ = injected
    rows = table_rows(stdout)
    assert rows == {**{phase: [1, 1, 1, 1] for phase in hooks.PHASES}, "all": [4, 4, 4, 4]}, \
        stdout
    assert status == 0


def reference(injected):
    return os.path.join(injected[2], "reference")


def same_run(run_dir, ref_dir) -> bool:
    return (trials.results(run_dir) == trials.results(ref_dir)
            and trials.same_weights(trials.final_weights(run_dir, 2),
                                    trials.final_weights(ref_dir, 2)))


def test_a_truncated_latest_checkpoint_resumes_to_the_uninterrupted_result(
        injected, toy_data_root, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(reference(injected), run_dir)
    os.remove(run_dir / "results.json")
    shutil.rmtree(run_dir / "tensorboard")
    truncate(run_dir / "learner" / "model.pth.tar-2")
    cmd = trials.train_command(str(toy_data_root), str(run_dir))
    proc = train_py(*cmd[2:])
    assert f"{run_dir}/learner/model.pth.tar-2 does not load (" in proc.stdout
    assert f"Resuming learner from {run_dir}/learner/model.pth.tar-1 (epoch 1)" in proc.stdout
    assert os.path.isfile(run_dir / "learner" / "model.pth.tar-2.corrupt")
    assert same_run(str(run_dir), reference(injected))


def script_env(**settings) -> dict:
    env = dict(os.environ, **QUIET_ENV, PYTHON=sys.executable)
    for key in ("DATA", "TRAINER", "OUTPUT", "SEEDS", "TAG", "DEVICES", "DRY_RUN", "QUIET"):
        env.pop(key, None)
    return dict(env, **settings)


def test_a_sweep_killed_mid_way_and_started_again_completes_every_run_once(
        injected, toy_data_root, tmp_path):
    # seed 2 first, then seed 1: the run the tool's reference repeats
    env = script_env(DATA=str(toy_data_root), OUTPUT=str(tmp_path), SEEDS="2 1")
    cmd = ["bash", os.path.join(SCRIPTS, "main.sh"), "toy_domains", "sketch", "toy_tiny", "1",
           "--", *trials.run_options(2)]
    runs = tmp_path / "toy_domains" / "ADU_toy_tiny" / "forget_sketch" / "1shots"
    first, second = runs / "seed2", runs / "seed1"
    sweep = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 600
    while not (first / "results.json").exists() or \
            not (second / "learner" / "model.pth.tar-1").exists():
        assert sweep.poll() is None and time.time() < deadline, "the sweep ended before the kill"
        time.sleep(0.1)
    os.killpg(sweep.pid, signal.SIGKILL)  # the script and its train.py, as a scheduler would
    sweep.wait()
    assert not (second / "results.json").exists()
    done = (first / "results.json").read_bytes(), os.stat(first / "results.json").st_mtime_ns

    again = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert f"skip: {first}" in again.stdout
    assert "main.sh: 1 ran, 1 skipped (done), 0 failed" in again.stdout
    # on the toy the scripts are quiet: train.py's lines are in the run's job.log
    assert f"Resuming learner from {second}/learner/model.pth.tar-1 (epoch 1)" in \
        (second / "job.log").read_text()
    assert ((first / "results.json").read_bytes(),
            os.stat(first / "results.json").st_mtime_ns) == done
    for run_dir in (first, second):
        assert [name for name in os.listdir(run_dir) if "results" in name] == ["results.json"]
        assert not trials.temporaries(str(run_dir))
    assert same_run(str(second), reference(injected))


def test_the_tool_refuses_a_used_workdir_in_one_line(tmp_path, capsys):
    (tmp_path / "reference").mkdir()
    with pytest.raises(SystemExit) as exit_info:
        fault_inject.parse_args(["--workdir", str(tmp_path)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.endswith(f"--workdir {tmp_path} is not empty: give a new folder (a run there "
                        "would resume instead of starting afresh)")
