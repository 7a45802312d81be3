"""Enter the packages `trainers` and `datasets` without registering their
Dassl classes, so that the launcher imports their plain modules only.

`import trainers.config` first runs trainers/__init__.py, which registers
every trainer in Dassl (torch and Dassl's engine: seconds); datasets/ does
the same for the datasets. The launcher needs only modules of theirs that
import neither (the config keys, the fingerprint, the command's resolution,
the domain lists), so it puts each package into sys.modules as a bare
package (its folder, its __init__ not run) before importing them. Only for
processes that never build a trainer or a dataset: the launcher's own
(experiments/launch/__main__.py) and the tests' fake train.py. A package
already imported is left as it is.
"""
import importlib.machinery
import importlib.util
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGES = ("trainers", "datasets")


def enter_bare(names=PACKAGES) -> None:
    for name in names:
        if name in sys.modules:
            continue
        spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
        spec.submodule_search_locations = [os.path.join(REPO, name)]
        sys.modules[name] = importlib.util.module_from_spec(spec)
