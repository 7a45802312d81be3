"""OS errors as one line (trainers/run/os_errors.py): a size limit hit while a
checkpoint is written ends train.py with one line naming the file and the
cause, exit 2, nothing half-written left; the same command then finishes.
The folder-level failures (a file, a dangling link, a file in the path) are
in tests/test_bad_input.py."""
import errno
import os
import resource
import subprocess
import sys

import pytest

from train_harness import QUIET_ENV, REPO, TINY_OPTS
from trainers.run.os_errors import os_error_line


@pytest.mark.parametrize("code,words", [
    (errno.ENOSPC, "no space left on the device; free some space"),
    (errno.EDQUOT, "the disk quota is exceeded"),
    (errno.EROFS, "the file system is read-only; use a writable --output-dir"),
    (errno.EACCES, "permission denied"),
    (errno.EFBIG, "a size limit, `ulimit -f`"),
])
def test_each_cause_is_one_line_naming_the_path(code, words):
    line = os_error_line(OSError(code, os.strerror(code), "/out/run/results.json"))
    assert line.startswith("cannot write /out/run/results.json: ") and words in line
    assert "the same command resumes" in line and "\n" not in line


def test_other_os_errors_stay_bugs():
    assert os_error_line(OSError(errno.EBADF, "Bad file descriptor")) is None
    assert os_error_line(ValueError("no")) is None


def limit_file_size(limit):
    def apply():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


@pytest.mark.slow
def test_a_size_limit_during_a_checkpoint_is_one_line_and_the_rerun_finishes(
        office_home_root, tiny_clip_file, tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "train.py", "--root", str(office_home_root), "--seed", "1",
           "--trainer", "ADU", "--dataset-config-file", "configs/datasets/office_home.yaml",
           "--config-file", "configs/trainers/ADU/vit_b16_ep50.yaml", "--output-dir", str(out),
           "--forget-domains", "art", "MODEL.BACKBONE.NAME", tiny_clip_file, *TINY_OPTS]
    env = dict(os.environ, **QUIET_ENV)
    # 200 KB: the logs and config.yaml fit, the learner's checkpoint (~0.8 MB) does not
    limited = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True,
                             preexec_fn=limit_file_size(200_000), timeout=300)
    ckpt = out / "learner" / "model.pth.tar-1"
    assert limited.returncode == 2, limited.stderr[-3000:]
    assert "Traceback" not in limited.stderr
    assert limited.stderr.strip().splitlines() == [
        f"train.py: error: cannot write {ckpt}: the file is larger than this process may "
        "write (a size limit, `ulimit -f`); raise the limit; files already written are "
        "intact, and the same command resumes from the last checkpoint"]
    assert not ckpt.exists() and not [f for f in os.listdir(out / "learner")
                                      if f.endswith(".tmp")]
    again = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert (out / "results.json").is_file() and ckpt.is_file()
