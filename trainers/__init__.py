"""Trainers of the project; importing this package registers them in Dassl."""
import warnings

# openai-clip imports pkg_resources, which setuptools flags on every import.
warnings.filterwarnings("ignore", message="pkg_resources is deprecated")

from . import adu  # noqa: E402,F401  (registers ADU)
from . import (  # noqa: E402,F401  (register the comparison trainers)
    bbf_adu,
    clipfit_adu,
    coop_adu,
    lp_plus_plus_adu,
    maple_adu,
    zeroshot_clip,
)
