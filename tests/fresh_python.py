"""Python code run in a fresh interpreter from the repository root, as the
layout tests need it (nothing this test session imported is loaded there),
and a meta-path finder that blocks Dassl in it. Shared by test_layout and
test_datasets_layout."""
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A meta-path finder that refuses `dassl` and everything under it, in a fresh
# interpreter, so that no test of this session has imported it already.
BLOCK_DASSL = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "dassl" or name.startswith("dassl."):
            raise ImportError("dassl is blocked in this test")
sys.meta_path.insert(0, Block())
"""


def run_python(code: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": REPO, "PYTHONWARNINGS": ""}
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


def assert_prints_ok(code: str) -> None:
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
