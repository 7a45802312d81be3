"""The registered Dassl trainers, one file each; `register_trainers()` registers them.

`trainers/` holds one file per registered trainer (and `config.py`, every
config key the project adds). The method's plain-PyTorch modules are in
`trainers/modules/` (never importing Dassl), the training logic the trainers
share in `trainers/engine/`, and the run folder's files (the command line's
config, atomic writes, checkpoints and resume, the config fingerprint,
run_info) in `trainers/run/`. train.py, the tools, experiments/ and the
tests import it; nothing here imports tools/ or experiments/. Importing this
package imports nothing else: what needs no torch (trainers.config,
trainers.run) stays cheap to import, e.g. for the launcher's skip test.
"""
TRAINER_MODULES = ("adu", "bbf_adu", "clipfit_adu", "coop_adu", "lp_plus_plus_adu",
                   "maple_adu", "zeroshot_clip")


def register_trainers() -> None:
    """Import every trainer file, which registers its class in Dassl."""
    import importlib
    for name in TRAINER_MODULES:
        importlib.import_module(f"{__name__}.{name}")
