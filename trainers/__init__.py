"""Trainers of the project; importing this package registers them in Dassl.

The method's modules (model, losses, metrics, ...) need only PyTorch and
CLIP; the Dassl trainers are registered only where Dassl is installed, so
that the rest stays importable (and testable) without it.
"""
import os.path as osp
import warnings

# The repository root: configs name files relative to it (assets/...), and
# run_info.json records its git commit. Set before the trainers are imported.
PROJECT_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

# openai-clip imports pkg_resources, which setuptools flags on every import.
warnings.filterwarnings("ignore", message="pkg_resources is deprecated")

try:
    import dassl  # noqa: F401
except ImportError:
    dassl = None

if dassl is not None:
    from . import adu  # noqa: F401  (registers ADU)
    from . import (  # noqa: F401  (register the comparison trainers)
        bbf_adu,
        clipfit_adu,
        coop_adu,
        lp_plus_plus_adu,
        maple_adu,
        zeroshot_clip,
    )
