"""The environment the project runs in: scripts/setup_env.sh (what `make demo`
and `make test` run first) and the interpreter the tests give the scripts.

setup_env.sh runs here against a stand-in for the environment's Python that
records its arguments and installs nothing, and against a local Dassl
archive and repository path, so that no test touches the network.
"""
import os
import stat
import subprocess
import sys
import tarfile

import pytest
from train_harness import REPO, run_script

SETUP = os.path.join(REPO, "scripts", "setup_env.sh")


def dassl_importable() -> bool:
    try:
        import dassl  # noqa: F401
        return True
    except ImportError:
        return False


def executable(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def setup_env(tmp_path, **env):
    full = dict(os.environ, VENV=str(tmp_path / "venv"),
                DASSL_URL=str(tmp_path / "no-such-repo"), GIT_TIMEOUT="30", **env)
    return subprocess.run(["bash", SETUP], cwd=REPO, env=full, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture
def recording_venv(tmp_path):
    """A venv whose python only appends its arguments to calls.log."""
    log = tmp_path / "calls.log"
    executable(tmp_path / "venv" / "bin" / "python", f'#!/bin/sh\necho "$*" >> "{log}"\n')
    return log


@pytest.fixture
def dassl_archive(tmp_path):
    """A .tar.gz laid out as the vendored Dassl archive (Dassl.pytorch/...)."""
    src = tmp_path / "archive-src" / "Dassl.pytorch"
    src.mkdir(parents=True)
    (src / "setup.py").write_text("# stands in for Dassl's setup.py\n")
    path = tmp_path / "Dassl.pytorch-test.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        tar.add(src, arcname="Dassl.pytorch")
    return path


def pip_calls(log):
    return [line for line in log.read_text().splitlines() if line.startswith("-m pip ")]


def test_without_github_or_archive_setup_fails_with_one_line_before_installing(tmp_path):
    proc = setup_env(tmp_path, DASSL_TARBALL=str(tmp_path / "none.tar.gz"))
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("setup_env.sh: error: cannot get Dassl"), \
        proc.stderr
    assert "DASSL_TARBALL" in lines[0] and "no-such-repo" in lines[0]
    assert not (tmp_path / "venv" / "bin").exists()  # nothing was installed
    assert os.listdir(tmp_path / "venv" / "src") == []  # no half-fetched copy


def test_setup_falls_back_to_the_archive_and_a_second_call_installs_nothing(
        tmp_path, recording_venv, dassl_archive):
    first = setup_env(tmp_path, DASSL_TARBALL=str(dassl_archive))
    assert first.returncode == 0, first.stderr
    assert f"unpacking {dassl_archive}" in first.stdout
    dassl_dir = tmp_path / "venv" / "src" / "Dassl.pytorch"
    assert (dassl_dir / "setup.py").is_file()
    installs = pip_calls(recording_venv)
    assert "torch==2.14.1 torchvision==0.29.1" in installs[0]
    assert installs[1].endswith("-r requirements.txt")
    assert installs[-1].endswith(f"--no-deps --no-build-isolation -e {dassl_dir}")

    recording_venv.write_text("")
    again = setup_env(tmp_path, DASSL_TARBALL=str(tmp_path / "gone.tar.gz"))
    assert again.returncode == 0, again.stderr
    assert pip_calls(recording_venv) == [] and again.stdout == ""

    # A changed requirements.txt (here: its stamp) reinstalls that step only.
    (tmp_path / "venv" / ".stamp-requirements").write_text("an older requirements.txt\n")
    third = setup_env(tmp_path)
    assert third.returncode == 0, third.stderr
    [call] = pip_calls(recording_venv)
    assert call.endswith("-r requirements.txt")


def test_torch_index_installs_torch_from_that_index_and_again_when_it_changes(
        tmp_path, recording_venv, dassl_archive):
    cpu = "https://download.pytorch.org/whl/cpu"
    first = setup_env(tmp_path, DASSL_TARBALL=str(dassl_archive), TORCH_INDEX=cpu)
    assert first.returncode == 0, first.stderr
    torch_call = pip_calls(recording_venv)[0]
    assert f"--index-url {cpu} torch==2.14.1 torchvision==0.29.1" in torch_call

    recording_venv.write_text("")  # back to PyPI: the torch step runs again, nothing else
    again = setup_env(tmp_path, DASSL_TARBALL=str(dassl_archive))
    assert again.returncode == 0, again.stderr
    [call] = pip_calls(recording_venv)
    assert "--index-url" not in call and call.endswith("torch==2.14.1 torchvision==0.29.1")


@pytest.mark.skipif(not dassl_importable(), reason="Dassl not installed (pip install it from "
                                                   "GitHub, see README)")
def test_scripts_run_by_the_tests_use_this_interpreter(tmp_path):
    """A `python` first on PATH that is not this interpreter (say, one without
    Dassl while the tests run in a venv) must not be the scripts' PYTHON."""
    executable(tmp_path / "bin" / "python", "#!/bin/sh\necho 'the wrong python' >&2\nexit 3\n")
    env = {"PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}", "DRY_RUN": "1", "SEEDS": "1",
           "OUTPUT": str(tmp_path / "out")}
    proc = run_script("main.sh", "office_home", "art", env=env)
    assert proc.returncode == 0, proc.stderr
    [command] = [line for line in proc.stdout.splitlines() if "train.py" in line]
    assert command.split()[0] == sys.executable
