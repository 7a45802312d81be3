"""The ADU datasets; importing this package registers them in Dassl.

One file per registered dataset (each subclasses adu_base.ADUDatasetBase);
beside them the parts that need no Dassl: the file readers (files.py), the
data check (preflight.py), the downloads (download.py) and the toy
benchmark's renderer (toy_render.py). The datasets are registered only where
Dassl is installed, so that those parts stay importable without it.
"""
import sys

try:
    import dassl  # noqa: F401
except ImportError:
    dassl = None

if dassl is not None:
    from . import (  # noqa: F401  (each file registers its dataset)
        domainnet,
        imagenet,
        office_home,
        pacs,
        toy_domains,
    )


def require_dassl(tool: str):
    """Exit with one line where Dassl is missing: `tool` needs the registered
    datasets (their domains and layouts live in the Dassl dataset classes)."""
    if dassl is None:
        sys.exit(f"{tool}: error: Dassl is not installed; install it from GitHub as "
                 "README.md 'Install' step 2 says.")
