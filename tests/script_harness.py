"""Helpers of the tests that run the scripts of scripts/adu/ with the fake
interpreter (conftest's `fake_python` and `fake_env`): the Dassl skip mark,
the fake train.py's calls, and the DRY_RUN lines' train.py commands.

Shared by test_scripts, test_compare, test_launch, test_sensitivity and
test_threads.
"""
import json
import os

import pytest


def dassl_importable() -> bool:
    try:
        import dassl  # noqa: F401
        return True
    except ImportError:
        return False


needs_dassl = pytest.mark.skipif(not dassl_importable(),
                                 reason="Dassl not installed (pip install it from GitHub, "
                                        "see README)")


def train_calls(env):
    """The train.py calls the fake interpreter logged (FAKE_LOG), in order."""
    if not os.path.exists(env["FAKE_LOG"]):
        return []
    with open(env["FAKE_LOG"]) as f:
        return [json.loads(line) for line in f]


def arg(args, name):
    """The value after the option `name` in a command's words."""
    return args[args.index(name) + 1]


def dry_run_commands(stdout):
    """The words of each train.py command a DRY_RUN printed."""
    return [line.split() for line in stdout.splitlines() if "train.py" in line]
