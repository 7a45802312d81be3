"""The registered Dassl trainers; importing this package registers them.

`trainers/` holds one file per registered trainer (and `config.py`, every
config key the project adds). The method's plain-PyTorch modules are in
`trainers/modules/` (never importing Dassl), the training logic the trainers
share in `trainers/engine/`, and the run folder's files (atomic writes,
checkpoints and resume, the config fingerprint, run_info) in `trainers/run/`.
train.py, the tools, experiments/ and the tests import it; nothing here
imports tools/ or experiments/. The trainers are registered only where Dassl
is installed, so that the modules and the run folder's code stay importable
without it.
"""
try:
    import dassl  # noqa: F401
except ImportError:
    dassl = None

if dassl is not None:
    from . import (  # noqa: F401  (each file registers its trainer)
        adu,
        bbf_adu,
        clipfit_adu,
        coop_adu,
        lp_plus_plus_adu,
        maple_adu,
        zeroshot_clip,
    )
