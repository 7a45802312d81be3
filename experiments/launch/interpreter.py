"""The Python a script call runs train.py with, and the check that it can.

PYTHON when set, else the repository's .venv/bin/python when there is one
(what `make` sets up), else `python`: scripts/adu/common.sh picks the same
one to run the launcher with. Before a script plans any run it asks that
interpreter for the packages train.py imports, so that a shell without the
environment activated fails with one line naming the interpreter and the
fix, not with train.py's error for each run (nor a traceback from the
launcher's own imports). Imported by experiments/launch/__main__.py, before
the rest of the launcher, and by its settings; standard library only.
"""
import os
import shutil
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV_PYTHON = os.path.join(REPO, ".venv", "bin", "python")
# What train.py imports that pip does not bring with Python: module -> name.
PACKAGES = {"dassl": "Dassl", "torch": "PyTorch", "clip": "OpenAI CLIP (openai-clip)",
            "yaml": "PyYAML"}
# The scripts that read run folders only and so need none of them.
READ_ONLY = ("status.sh",)
# Asked of the interpreter: which of the modules in argv it cannot find
# (find_spec looks a module up without importing it: no torch start-up).
FIND_MODULES = ("import importlib.util, sys; "
                "print(' '.join(m for m in sys.argv[1:] if importlib.util.find_spec(m) is None))")


def default_python() -> str:
    """The interpreter when PYTHON is unset."""
    return VENV_PYTHON if os.access(VENV_PYTHON, os.X_OK) else "python"


def described(python: str) -> str:
    """PYTHON's value, with the file it resolves to when that differs."""
    found = shutil.which(python)
    return python if found in (None, python) else f"{python} ({found})"


def fix() -> str:
    if os.access(VENV_PYTHON, os.X_OK):
        return ("run with PYTHON=.venv/bin/python, or activate .venv "
                "(source .venv/bin/activate) first")
    return "run `make setup` to create .venv with them, or install them as README.md 'Install' says"


def missing_packages(python: str) -> list:
    """The names of the PACKAGES `python` lacks; None when it does not run."""
    try:
        proc = subprocess.run([python, "-c", FIND_MODULES, *PACKAGES], capture_output=True,
                              text=True, timeout=60)
    except OSError:
        return None
    if proc.returncode != 0:
        return None
    return [PACKAGES[module] for module in proc.stdout.split()]


def problem(python: str):
    """One line saying what `python` cannot run and the fix; None when it can."""
    missing = missing_packages(python)
    if missing is None:
        return f"PYTHON={described(python)} does not run; {fix()}"
    if missing:
        return (f"PYTHON={described(python)} has no {', '.join(missing)}, which train.py "
                f"needs; {fix()}")
    return None


def refuse_unready(argv, environ) -> None:
    """Exit 2 with `problem`'s line, `SCRIPT: error: ...`, when the script
    argv[0] would run train.py with a PYTHON that cannot run it."""
    script = argv[0] if argv and argv[0].endswith(".sh") else (argv or [""])[0] + ".sh"
    if script in READ_ONLY:
        return
    trouble = problem(environ.get("PYTHON") or default_python())
    if trouble:
        print(f"{script}: error: {trouble}", file=sys.stderr)
        sys.exit(2)
