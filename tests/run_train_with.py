"""train.py with a trainer from outside the project: `run_train_with.py MODULE ARGS...`.

Importing MODULE registers its trainer in Dassl (as importing `trainers`
registers the project's own); the ARGS are train.py's.
"""
import importlib
import os
import sys

TESTS = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(TESTS), TESTS]
os.environ.setdefault("OUTDATED_IGNORE", "1")

import train  # noqa: E402

if __name__ == "__main__":
    importlib.import_module(sys.argv[1])
    train.run(sys.argv[2:])
