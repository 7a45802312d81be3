"""Expected failures read as one line; bugs keep their traceback.

train.py prints a user_errors.UserError (missing data, a failed download, a
bad setting) as one line, `train.py: error: ...`, and exits 2; any other
exception goes through with its traceback. The scripts stop at the first run
that exits 2 instead of repeating the same error for every seed.
"""
import os

import pytest
from train_harness import REPO, TINY_OPTS, run_script, train_py

try:
    import dassl  # noqa: F401
    HAVE_DASSL = True
except ImportError:
    HAVE_DASSL = False
needs_dassl = pytest.mark.skipif(not HAVE_DASSL, reason="Dassl not installed (pip install it "
                                                        "from GitHub, see README)")


def train_args(dataset, root, out, clip_file, forget):
    return ["--root", str(root), "--seed", "1", "--trainer", "ADU",
            "--dataset-config-file", os.path.join(REPO, "configs", "datasets", f"{dataset}.yaml"),
            "--config-file", os.path.join(REPO, "configs", "trainers", "ADU", "vit_b16_ep50.yaml"),
            "--output-dir", str(out), "--forget-domains", forget,
            "MODEL.BACKBONE.NAME", clip_file, *TINY_OPTS]


def exit_of(args, capsys):
    """train.run(args) in this process: (exit status, stderr)."""
    import train
    with pytest.raises(SystemExit) as exit_info:
        train.run(args)
    return exit_info.value.code, capsys.readouterr().err


@pytest.mark.slow
@needs_dassl
def test_a_missing_dataset_ends_train_py_with_one_line_and_exit_2(tiny_clip_file, tmp_path):
    # ImageNet is never downloaded: an empty root is missing data, on any network.
    proc = train_py(*train_args("imagenet", tmp_path / "empty", tmp_path / "out",
                                tiny_clip_file, "sketch"), expect=2)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("train.py: error: imagenet: missing ")


@needs_dassl
def test_a_failed_download_ends_train_py_with_one_line_and_exit_2(
        tiny_clip_file, tmp_path, capsys, monkeypatch):
    import gdown

    def offline(**kwargs):
        raise ConnectionError("Failed to resolve 'drive.google.com'")

    monkeypatch.setattr(gdown, "download", offline)
    code, err = exit_of(train_args("office_home", tmp_path / "data", tmp_path / "out",
                                   tiny_clip_file, "art"), capsys)
    assert code == 2
    assert err.startswith("train.py: error: Download of ") and err.count("\n") == 1, err
    assert "Failed to resolve 'drive.google.com'" in err and "by hand" in err


@needs_dassl
def test_an_unexpected_value_error_keeps_its_traceback(office_home_root, tiny_clip_file,
                                                       tmp_path, monkeypatch, capsys):
    """A ValueError from a bug deep inside the dataset is not a user error:
    it leaves train.run as itself (Python prints its traceback), not exit 2.
    (capsys: Dassl's logger wraps sys.stdout and closes it when collected.)"""
    import datasets.adu_base
    import train

    def broken(items, *args, **kwargs):
        raise ValueError("a bug deep inside")

    monkeypatch.setattr(datasets.adu_base, "drop_unreadable", broken)
    with pytest.raises(ValueError, match="a bug deep inside") as err:
        train.run(train_args("office_home", office_home_root, tmp_path, tiny_clip_file, "art"))
    assert err.traceback[-1].name == "broken"


@needs_dassl
def test_adu_debug_shows_the_traceback_of_a_user_error(tiny_clip_file, tmp_path, monkeypatch,
                                                       capsys):
    import train
    from user_errors import MissingFileError

    monkeypatch.setenv("ADU_DEBUG", "1")
    with pytest.raises(MissingFileError, match="imagenet: missing "):
        train.run(train_args("imagenet", tmp_path / "empty", tmp_path / "out", tiny_clip_file,
                             "sketch"))


@pytest.mark.parametrize("code,runs", [(2, 1), (3, 3)])
def test_the_seed_loop_stops_at_the_first_run_that_exits_2(fake_python, tmp_path, code, runs):
    """Exit 2 (a user error) stops the script; any other failure is recorded
    and the next seeds still run."""
    log = tmp_path / "calls.jsonl"
    env = {"PYTHON": fake_python, "OUTPUT": str(tmp_path / "out"), "DATA": str(tmp_path),
           "SEEDS": "1 2 3", "FAKE_TRAIN": "1", "FAKE_LOG": str(log),
           "FAKE_FAIL_SEEDS": "1,2,3", "FAKE_FAIL_CODE": str(code)}
    proc = run_script("main.sh", "office_home", "art", env=env)
    assert proc.returncode == 1
    assert len(log.read_text().splitlines()) == runs
    assert f"main.sh: {runs} ran, 0 skipped (done), {runs} failed" in proc.stdout
    assert ("stopped: train.py exited 2" in proc.stdout) == (code == 2)


@pytest.mark.slow
@needs_dassl
def test_a_script_with_a_missing_dataset_runs_train_py_once(tiny_clip_file, tmp_path):
    """The real train.py on an empty ImageNet root, for three seeds."""
    env = {"DATA": str(tmp_path / "empty"), "OUTPUT": str(tmp_path / "out"), "SEEDS": "1 2 3"}
    proc = run_script("main.sh", "imagenet", "sketch", "vit_b16_ep50", "2",
                      "--", "MODEL.BACKBONE.NAME", tiny_clip_file, env=env)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout.count("run: ") == 1, proc.stdout
    assert proc.stderr.count("train.py: error: imagenet: missing ") == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "main.sh: 1 ran, 0 skipped (done), 1 failed (stopped" in proc.stdout
