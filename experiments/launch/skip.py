"""The skip test: a run is done when its folder's results.json is complete
and records the fingerprint of the config its train.py command resolves to.

The command is resolved in this process as train.py resolves it
(train.py's setup_cfg: Dassl's config defaults and yacs, no torch), so
no train.py --check-done process starts per run. A corrupt result is named
and done again (train.py resumes from its checkpoints); one of another
config is run again too, and train.py then refuses the folder, naming the
keys that differ. Imported by the launcher's runner (experiments/launch/).
"""
import os
import sys

from experiments.launch import results_check


def fingerprint_matches(folder: str, train_args) -> bool:
    """True when folder/results.json records the fingerprint of train_args's
    config; a command train.py would refuse (a bad option) never matches:
    train.py is left to say why."""
    from trainers.run.fingerprint import results_match
    from train import parse_args, setup_cfg
    from user_errors import UserError
    try:
        cfg = setup_cfg(parse_args(list(train_args)), quiet=True)
    except UserError:
        return False
    return results_match(cfg, folder)


def is_done(folder: str, train_args) -> bool:
    path = os.path.join(folder, "results.json")
    if not os.path.isfile(path):
        return False
    why = results_check.problem(path)
    if why is not None:
        print(f"{path}: {why}", file=sys.stderr, flush=True)
        print(f"{path} is not a complete result (above); running again", flush=True)
        return False
    return fingerprint_matches(folder, train_args)
