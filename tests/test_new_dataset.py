"""docs/NEW_DATASET.md as a user follows it: its lines and files applied to
a copy of the repository, then its data check and its test run there.

The copy links the repository's files but datasets/, configs/ and tests/,
which it copies and edits as the page says: the domains line into
datasets/domain_lists.py, the class into datasets/my_domains.py, the new
DATASET_MODULES, the yaml and the page's test. tools/check_data.py must
then list the missing tree (exit 1) and accept the fake one (exit 0), and
the page's test must pass and its main.sh command plan three runs (slow tier: three processes that import Dassl).
"""
import os
import re
import shutil
import subprocess
import sys

import pytest

from train_harness import QUIET_ENV, REPO

pytest.importorskip("dassl", reason="Dassl not installed (see README)")

PAGE = os.path.join(REPO, "docs", "NEW_DATASET.md")
COPIED = ("datasets", "configs", "tests")
LEFT_OUT = {".git", ".venv", "output", "data", *COPIED}


def page_blocks():
    """[(language, text)] of the page's fenced code blocks, in order."""
    with open(PAGE, encoding="utf-8") as f:
        return re.findall(r"^```(\w*)\n(.*?)^```", f.read(), re.M | re.S)


def the_block(language, contains):
    [text] = [t for lang, t in page_blocks() if lang == language and contains in t]
    return text


def the_block_lines():
    """The page's inline code spans, whitespace joined."""
    with open(PAGE, encoding="utf-8") as f:
        text = " ".join(re.sub(r"^```.*?^```", "", f.read(), flags=re.M | re.S).split())
    return re.findall(r"`([^`]+)`", text)


def edit(path, old_line_start, new_text, replace):
    """Replace the line that starts with `old_line_start` by `new_text`, or
    (replace=False) insert `new_text` after it."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines(keepends=True)
    [i] = [n for n, line in enumerate(lines) if line.startswith(old_line_start)]
    lines[i:i + 1] = [new_text] if replace else [lines[i], new_text]
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(lines)


@pytest.fixture
def followed(tmp_path):
    """A repository copy with the page's steps 1-4 and its test applied."""
    root = tmp_path / "repo"
    root.mkdir()
    for name in set(os.listdir(REPO)) - LEFT_OUT:
        os.symlink(os.path.join(REPO, name), root / name)
    for name in COPIED:
        shutil.copytree(os.path.join(REPO, name), root / name,
                        ignore=shutil.ignore_patterns("__pycache__"))
    edit(root / "datasets" / "domain_lists.py", "DOMAINS = {",
         the_block("python", '"my_domains": ['), replace=False)
    (root / "datasets" / "my_domains.py").write_text(the_block("python", "class my_domains("))
    edit(root / "datasets" / "__init__.py", "DATASET_MODULES = ",
         the_block("python", "DATASET_MODULES = "), replace=True)
    (root / "configs" / "datasets" / "my_domains.yaml").write_text(the_block("yaml", "my_domains"))
    (root / "tests" / "test_my_domains.py").write_text(the_block("python", "def test_"))
    return root


def run_page_command(root, contains, data_root=None):
    """The page's bash command that holds `contains`, with this Python (and
    the data root in place of ~/data)."""
    [command] = [line for line in the_block("bash", contains).splitlines() if contains in line]
    args = command.split()
    assert args[0] == "python"
    args = [sys.executable] + [data_root if a == "~/data" else a for a in args[1:]]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(args, cwd=root, env=dict(env, **QUIET_ENV), capture_output=True,
                          text=True, timeout=300)


@pytest.mark.slow  # three Python processes that import torch and Dassl
def test_the_new_dataset_page_gives_a_dataset_that_checks_and_tests(followed, tmp_path):
    data = str(tmp_path / "data")
    missing = run_page_command(followed, "check_data.py", data)
    assert missing.returncode == 1, missing.stdout + missing.stderr
    assert os.path.join(data, "my_domains", "sketch", "test") in missing.stdout + missing.stderr

    tested = run_page_command(followed, "pytest")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "1 passed" in tested.stdout

    page_test = {}
    exec(the_block("python", "def test_"), page_test)  # its fake tree, made here
    page_test["make_my_domains"](data)
    complete = run_page_command(followed, "check_data.py", data)
    assert complete.returncode == 0, complete.stdout + complete.stderr
    assert "sketch" in complete.stdout

    lines = [line for line in the_block_lines() if "scripts/adu/main.sh my_domains" in line]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "OUTPUT", "SEEDS")}
    # The first try with the tiny CLIP (one seed), then the paper's config (seeds 1 2 3).
    assert len(lines) == 2
    for line, runs, config in zip(lines, (1, 3), ("toy_tiny", "vit_b16_ep50")):
        settings = dict(w.split("=", 1) for w in line.split() if "=" in w and w[0].isupper())
        command = [w for w in line.split() if not ("=" in w and w[0].isupper())]
        settings.pop("DATA")  # set below
        assert command[0] == "bash"
        planned = subprocess.run(command, cwd=followed, capture_output=True,
                                 text=True, timeout=120,
                                 env=dict(env, **QUIET_ENV, **settings, DRY_RUN="1", DATA=data,
                                          PYTHON=sys.executable))
        assert planned.returncode == 0, planned.stderr
        assert planned.stdout.count("train.py") == runs
        assert planned.stdout.count(f"/{config}.yaml") == runs
