"""Every command README.md and docs/*.md give (tests/doc_commands.py reads
them out) is run or checked without training anything:

- `bash scripts/adu/S.sh ...` runs in the launcher in this process with
  DRY_RUN=1, from an empty folder, and must plan its runs (exit 0), the
  first of which must resolve as train.py resolves it; eval.sh and
  status.sh may only say that there is nothing to read there yet;
- `python train.py ...` resolves its config (train.py's setup_cfg: the
  config files, the keys and values); with `...` in it, its options must be
  train.py's;
- `python tools/T.py ...` must parse with the tool's own `parse_args`;
- `make T [VAR=...]` names a Makefile target and a setting of setup_env.sh;
- `python -c CODE` must compile;
- `python -m pytest PATH` names a test file (or the one docs/NEW_DATASET.md
  has the reader write, which tests/test_new_dataset.py runs);
- `python -m experiments.launch SCRIPT` names the launcher's module, each
  of whose scripts is a file of scripts/adu/;
- install steps (git clone, cd, pip) are not cases: they would install, and
  nothing of this repository is in them to check;
- the commands of docs/NEW_DATASET.md's example dataset (`my_domains`) run
  in tests/test_new_dataset.py, on a copy of the repository that has it;
  here the script or tool they name must exist (and a tool's parse_args
  take their arguments).

A command of another kind fails the test until it is added here.
"""
import importlib.util
import os
import re
import shlex

import pytest

from doc_commands import REPO, all_commands

pytest.importorskip("dassl", reason="Dassl not installed (see README)")

NOT_RUN = {"git", "cd", "pip", "source"}  # install steps
# Files a document has the reader write (docs/NEW_DATASET.md).
EXAMPLE_FILES = {"tests/test_my_domains.py"}
EXAMPLE_DATASET = "my_domains"
# The only refusals a dry run may end with: nothing under the folder yet.
NOTHING_YET = re.compile(r"no folder|no finished run|no run")
COMMANDS = [c for c in all_commands() if c.args[0] not in NOT_RUN]


def make_targets():
    with open(os.path.join(REPO, "Makefile"), encoding="utf-8") as f:
        return set(re.findall(r"^([\w-]+):", f.read(), re.M))


def setup_settings():
    """The settings a `make` command may take: setup_env.sh's documented
    ones and the Makefile's own (`NAME ?= default`)."""
    with open(os.path.join(REPO, "scripts", "setup_env.sh"), encoding="utf-8") as f:
        documented = set(re.findall(r"^#   ([A-Z_0-9]+) ", f.read(), re.M))
    with open(os.path.join(REPO, "Makefile"), encoding="utf-8") as f:
        return documented | set(re.findall(r"^([A-Z_0-9]+) \?=", f.read(), re.M))


def check_script(command, tmp_path, monkeypatch, capsys):
    from experiments.launch import cli
    script = os.path.basename(command.args[1])
    assert os.path.isfile(os.path.join(REPO, command.args[1])), command
    if script == "gpu_check.sh":  # it measures the GPU at once: no dry run
        assert len(command.args) <= 3
        return
    monkeypatch.chdir(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("OUTPUT", "DATA", "SEEDS", "TAG")}
    env.update(command.env, DRY_RUN="1", DATA=str(tmp_path / "data"))
    code = cli.call(script, command.args[2:], env)
    out = capsys.readouterr()
    if script in ("eval.sh", "status.sh") and code == 2:
        assert NOTHING_YET.search(out.err), (command, out.err)
        return
    assert code == 0, (command, out.err[-2000:])
    planned = [line for line in out.out.splitlines() if "/train.py " in line]
    if planned:  # the first run it plans: its config resolves, keys and values
        from train import parse_args, setup_cfg
        words = shlex.split(planned[0])
        start = next(i for i, w in enumerate(words) if w.endswith("/train.py"))
        setup_cfg(parse_args(words[start + 1:]), quiet=True)


def check_train_py(command, monkeypatch):
    from train import parse_args, setup_cfg
    monkeypatch.chdir(REPO)
    args = command.args[2:]
    if "..." in args:  # a shortened command: its options must be train.py's
        known = parse_args([])
        for option in (a for a in args if a.startswith("--")):
            assert hasattr(known, option[2:].replace("-", "_")), (command, option)
        return
    setup_cfg(parse_args(args), quiet=True)


def check_tool(command, monkeypatch):
    path = os.path.join(REPO, command.args[1])
    assert os.path.isfile(path), command
    name = "doc_tool_" + os.path.basename(path)[:-3]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.chdir(REPO)
    module.parse_args(command.args[2:])


def check_make(command):
    target, *settings = command.args[1:]
    assert target in make_targets(), command
    for setting in settings:
        assert setting.split("=")[0] in setup_settings(), (command, setting)


def check(command, tmp_path, monkeypatch, capsys):
    args = command.args
    if args[0] == "srun":
        args = args[[i for i, a in enumerate(args) if a == "bash"][0]:]
        command = command._replace(args=args)
    if EXAMPLE_DATASET in args:  # run in tests/test_new_dataset.py
        assert os.path.isfile(os.path.join(REPO, args[1])), command
        if args[0] == "python" and args[1].startswith("tools/"):
            check_tool(command, monkeypatch)
        return
    if args[0] == "bash" and args[1].startswith("scripts/adu/"):
        return check_script(command, tmp_path, monkeypatch, capsys)
    if args[0] == "make":
        return check_make(command)
    if args[:3] == ["python", "-m", "pytest"]:
        paths = [a for a in args[3:] if a.startswith("tests")]
        assert paths and all(os.path.exists(os.path.join(REPO, p)) or p in EXAMPLE_FILES
                             for p in paths), command
        return
    if args[:2] == ["python", "-c"]:
        compile(args[2], command.where, "exec")
        return
    if args[:3] == ["python", "-m", "experiments.launch"]:
        assert importlib.util.find_spec("experiments.launch.__main__"), command
        from experiments.launch.cli import SCRIPTS
        assert SCRIPTS and all(os.path.isfile(os.path.join(REPO, "scripts", "adu", s))
                               for s in SCRIPTS), (command, sorted(SCRIPTS))
        return
    if args[0] == "python" and args[1] == "train.py":
        return check_train_py(command, monkeypatch)
    if args[0] == "python" and args[1].startswith("tools/"):
        return check_tool(command, monkeypatch)
    raise AssertionError(f"{command.where}: a command of no known kind: {' '.join(args)}")


def test_the_documents_give_commands_of_every_kind():
    kinds = {c.args[0] for c in COMMANDS} | {c.args[1].split("/")[0] for c in COMMANDS
                                             if c.args[0] == "python"}
    assert {"bash", "make", "python", "train.py", "tools"} <= kinds
    assert len(COMMANDS) > 80


@pytest.mark.parametrize("command", COMMANDS, ids=[c.where for c in COMMANDS])
def test_every_documented_command_runs_dry_or_checks(command, tmp_path, monkeypatch, capsys):
    check(command, tmp_path, monkeypatch, capsys)
