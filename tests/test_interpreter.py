"""Which Python the scripts run (experiments/launch/interpreter.py and
scripts/adu/common.sh): the repository's .venv/bin/python when PYTHON is
unset and it exists, else `python`; and one line naming the interpreter and
the fix when it lacks Dassl, torch or clip, before any run is planned.

Each test runs the scripts of a copy of the repository (its files linked,
scripts/ copied) whose .venv the test makes or leaves out, with a `python`
first on PATH that is this interpreter without its site-packages (-S: the
standard library only, as a system Python without the project's packages).
"""
import os
import shutil
import stat
import subprocess
import sys

import pytest

from train_harness import QUIET_ENV, REPO

LEFT_OUT = {".git", ".venv", "scripts", "output", "data"}


def executable(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


@pytest.fixture
def copy(tmp_path):
    """A repository without .venv, and the bare `python` first on PATH."""
    root = tmp_path / "repo"
    root.mkdir()
    for name in set(os.listdir(REPO)) - LEFT_OUT:
        os.symlink(os.path.join(REPO, name), root / name)
    shutil.copytree(os.path.join(REPO, "scripts"), root / "scripts")
    bare_python(tmp_path / "bin" / "python")
    return root


def bare_python(path):
    return executable(path, f'#!/bin/sh\nexec "{sys.executable}" -S "$@"\n')


def make_venv(root):
    return executable(root / ".venv" / "bin" / "python", f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')


def dry_run(root, *command, **env):
    """COMMAND in `root` with DRY_RUN=1, PYTHON unset unless given."""
    full = {k: v for k, v in os.environ.items() if k not in ("PYTHON", "PYTHONPATH")}
    full.update(QUIET_ENV, DRY_RUN="1", SEEDS="1", OUTPUT=str(root / "out"), **env,
                PATH=f"{root.parent / 'bin'}:{os.environ['PATH']}")
    return subprocess.run(command, cwd=root, env=full, capture_output=True, text=True,
                          timeout=120)


def train_commands(proc):
    return [line.split() for line in proc.stdout.splitlines() if "train.py" in line]


def test_the_scripts_run_the_repositorys_venv_python_when_python_is_unset(copy):
    venv_python = make_venv(copy)
    proc = dry_run(copy, "bash", "scripts/adu/main.sh", "office_home", "art")
    assert proc.returncode == 0, proc.stderr
    [command] = train_commands(proc)
    assert command[0] == venv_python


def test_the_launcher_itself_defaults_to_the_venv_python(copy):
    venv_python = make_venv(copy)
    proc = dry_run(copy, venv_python, "-m", "experiments.launch", "main.sh", "office_home", "art",
                   PYTHONPATH=str(copy))
    assert proc.returncode == 0, proc.stderr
    [command] = train_commands(proc)
    assert command[0] == venv_python


def test_without_a_venv_the_scripts_run_python_and_say_what_it_lacks(copy):
    proc = dry_run(copy, "bash", "scripts/adu/main.sh", "office_home", "art")
    assert proc.returncode == 2
    [line] = proc.stderr.splitlines()
    assert line.startswith("main.sh: error: PYTHON=python")
    assert "make setup" in line


def test_a_python_without_the_packages_is_named_with_the_fix_before_any_run(copy):
    make_venv(copy)
    bare = bare_python(copy.parent / "bare" / "python3")
    proc = dry_run(copy, "bash", "scripts/adu/demo.sh", PYTHON=bare)
    assert proc.returncode == 2
    assert "would run" not in proc.stdout
    [line] = proc.stderr.splitlines()
    assert line == (f"demo.sh: error: PYTHON={bare} has no Dassl, PyTorch, OpenAI CLIP "
                    "(openai-clip), PyYAML, which train.py needs; run with PYTHON=.venv/bin/python, "
                    "or activate .venv (source .venv/bin/activate) first")


def test_a_python_that_is_not_there_is_one_line(copy):
    proc = dry_run(copy, "bash", "scripts/adu/main.sh", "office_home", "art",
                   PYTHON=str(copy / "no" / "python"))
    assert proc.returncode == 2
    [line] = proc.stderr.splitlines()
    assert "no such program" in line and "PYTHON=.venv/bin/python" in line
