"""The ADU datasets, one file each; `register_datasets()` registers them in Dassl.

One file per registered dataset (each subclasses adu_base.ADUDatasetBase);
beside them the parts that need no Dassl: the file readers (files.py), the
data check (preflight.py), the downloads (download.py) and the toy
benchmark's renderer (toy_render.py), the domain lists (domain_lists.py).
Importing this package imports nothing else, so those parts stay importable
without Dassl or torch.
"""
import importlib
import sys

DATASET_MODULES = ("domainnet", "imagenet", "office_home", "pacs", "toy_domains")


def dassl_installed() -> bool:
    try:
        import dassl  # noqa: F401
    except ImportError:
        return False
    return True


def register_datasets() -> None:
    """Import every dataset file, which registers its class in Dassl."""
    for name in DATASET_MODULES:
        importlib.import_module(f"{__name__}.{name}")


def require_dassl(tool: str):
    """Exit with one line where Dassl is missing: `tool` needs the registered
    datasets (their domains and layouts live in the Dassl dataset classes)."""
    if not dassl_installed():
        sys.exit(f"{tool}: error: Dassl is not installed; install it from GitHub as "
                 "README.md 'Install' step 2 says.")
