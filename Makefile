# Two commands from a fresh clone, run from the repository root:
#   make demo   set up .venv (the first time), then run the demo on the CPU
#   make test   set up .venv (the first time), then run the test suite
#   make test-fast  the same without the slow end-to-end tests
# Both run the tests on every usable CPU (pytest-xdist, a test file per
# worker, at most 8 workers: tests/conftest.py); TEST_WORKERS=0 runs them in
# one process, TEST_WORKERS=N on N workers.
# The setup (scripts/setup_env.sh) installs PyTorch, Dassl and requirements.txt
# into .venv once; later calls find its stamps and install nothing.
# Users who manage their own environment follow README "Install" instead.

VENV ?= .venv
VENV_ABS := $(abspath $(VENV))
PY := $(VENV_ABS)/bin/python
TEST_WORKERS ?= auto
PYTEST := "$(PY)" -m pytest -q -rs -n $(TEST_WORKERS) --dist loadfile
export VENV

.PHONY: setup demo test test-fast

setup:
	@bash scripts/setup_env.sh

demo: setup
	PATH="$(VENV_ABS)/bin:$$PATH" PYTHON="$(PY)" bash scripts/adu/demo.sh

# The README's test command with the environment's Python (PATH is left as
# it is: the tests run their scripts with the interpreter running them).
test: setup
	$(PYTEST) tests

# The fast tier while working: every test but the end-to-end runs (marked
# slow in tests/); `make test` (what CI runs) is the whole suite.
test-fast: setup
	$(PYTEST) -m "not slow" tests
