"""One run per folder (trainers/run/lock.py): a second process is refused at
once naming the holder, a killed holder leaves no stale lock, a requeued run
waits a bounded time, the launcher skips a running run, and two train.py
processes into one folder never both write there."""
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from train_harness import REPO, TINY_OPTS, run_script
from trainers.run.lock import INHERITED_ENV, FolderBusyError, RunLock, holder

HOLD = ("import sys, time; sys.path.insert(0, {repo!r}); from trainers.run.lock import RunLock; "
        "lock = RunLock(sys.argv[1]); print('locked', flush=True); time.sleep(float(sys.argv[2]))")


def hold(folder, seconds):
    """A child process that takes `folder`'s lock and keeps it `seconds`."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD.format(repo=REPO), str(folder),
                             str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_second_process_is_refused_at_once_naming_the_holder(tmp_path):
    child = hold(tmp_path, 30)
    try:
        start = time.monotonic()
        with pytest.raises(FolderBusyError) as info:
            RunLock(str(tmp_path))
        assert time.monotonic() - start < 1
        assert f"pid {child.pid} on {socket.gethostname()}" in str(info.value)
        assert holder(str(tmp_path)) == f"pid {child.pid} on {socket.gethostname()}"
    finally:
        child.kill()
        child.wait()


def test_a_sigkilled_holder_leaves_no_stale_lock(tmp_path):
    child = hold(tmp_path, 30)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert os.path.isfile(tmp_path / ".run.lock")  # the file stays, the lock does not
    assert holder(str(tmp_path)) is None
    RunLock(str(tmp_path)).release()


def test_a_wait_is_bounded_and_ends_when_the_holder_does(tmp_path):
    child = hold(tmp_path, 1.0)
    RunLock(str(tmp_path), wait_s=20).release()  # the holder ends after 1 s
    child.wait()
    child = hold(tmp_path, 30)
    try:
        with pytest.raises(FolderBusyError, match=r"\(waited 0.6 s\)"):
            RunLock(str(tmp_path), wait_s=0.6)
    finally:
        child.kill()
        child.wait()


def test_the_launcher_hands_its_lock_to_train_py(tmp_path):
    """The launcher locks a run before writing its job.log; its train.py
    adopts the descriptor (a fresh lock would wait on its own launcher)."""
    lock = RunLock(str(tmp_path))
    code = (f"import sys; sys.path.insert(0, {REPO!r}); from trainers.run.lock import RunLock; "
            "print(RunLock.inherited(sys.argv[1]) is not None)")
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True,
                          text=True, pass_fds=(lock.fd,),
                          env=dict(os.environ, **{INHERITED_ENV: str(lock.fd)}))
    assert proc.stdout.strip() == "True", proc.stderr
    other = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True,
                           text=True)  # no descriptor handed over
    assert other.stdout.strip() == "False"
    lock.release()


def test_a_sweep_skips_a_run_another_process_runs(fake_python, tmp_path):
    env = {"PYTHON": fake_python, "OUTPUT": str(tmp_path / "out"), "DATA": str(tmp_path),
           "SEEDS": "1 2 3", "FAKE_TRAIN": "1", "FAKE_LOG": str(tmp_path / "calls.jsonl")}
    dry = run_script("main.sh", "office_home", "art", env={**env, "DRY_RUN": "1"})
    folders = [line.split("--output-dir ")[1].split()[0] for line in dry.stdout.splitlines()
               if "--output-dir " in line]
    assert len(folders) == 3, dry.stdout
    os.makedirs(folders[1])
    child = hold(folders[1], 60)
    try:
        proc = run_script("main.sh", "office_home", "art", env=env)
    finally:
        child.kill()
        child.wait()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"skip: {folders[1]} (running: pid {child.pid} on " in proc.stdout
    assert len((tmp_path / "calls.jsonl").read_text().splitlines()) == 2
    assert "2 ran, 0 skipped (done), 1 skipped (running), 0 failed" in proc.stdout
    assert not os.path.exists(os.path.join(folders[1], "job.log"))


@pytest.mark.slow
def test_two_train_py_into_one_folder_only_one_writes(office_home_root, tiny_clip_file,
                                                       tmp_path, capsys):
    """A trains (3 epochs); while it runs, the same command and one of
    another config are refused in one line, and the folder holds A's
    config and A's checkpoints only."""
    import train
    from trainers.run.fingerprint import fingerprint
    out = tmp_path / "run"
    args = ["--root", str(office_home_root), "--seed", "1", "--trainer", "ADU",
            "--dataset-config-file", "configs/datasets/office_home.yaml",
            "--config-file", "configs/trainers/ADU/vit_b16_ep50.yaml",
            "--output-dir", str(out), "--forget-domains", "art",
            "MODEL.BACKBONE.NAME", tiny_clip_file, *TINY_OPTS]
    a = subprocess.Popen([sys.executable, "train.py", *args, "OPTIM.MAX_EPOCH", "3"], cwd=REPO,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                         env=dict(os.environ, OUTDATED_IGNORE="1", PYTHONWARNINGS="ignore"))
    deadline = time.monotonic() + 120
    while holder(str(out)) is None:
        assert a.poll() is None and time.monotonic() < deadline, a.stderr.read()
        time.sleep(0.1)
    for extra in (["OPTIM.MAX_EPOCH", "3"], ["OPTIM.MAX_EPOCH", "2"]):
        with pytest.raises(SystemExit) as exit_info:
            train.run(args + extra)
        err = capsys.readouterr().err
        assert exit_info.value.code == 2
        assert err.count("\n") == 1 and f"is in use by another train.py (pid {a.pid} " in err
    assert a.poll() is None, "A ended before the others were refused: the test proves nothing"
    assert a.wait(timeout=300) == 0, a.stderr.read()
    cfg = train.setup_cfg(train.parse_args(args + ["OPTIM.MAX_EPOCH", "3"]))
    assert (out / "config.yaml").read_text().startswith(f"# fingerprint: {fingerprint(cfg)}")
    assert sorted(os.listdir(out / "learner")) == ["checkpoint", "model.pth.tar-3",
                                                "model.pth.tar-3.sha256"]
