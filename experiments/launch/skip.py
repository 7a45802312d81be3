"""The skip test: a run is done when its folder's results.json is complete,
checks (trainers/run/provenance.py: its seal, H the harmonic mean of Mem and
For), is a training run's record (not an evaluation's), records the
fingerprint of the config its train.py command resolves to, and was scored
on the backbone file there now. An evaluation (`--eval-only --load-epoch E`,
eval.sh) is done when its own record (results_eval_epochE.json) is there,
checks, and scored the weights of the --model-dir it names.

The command is resolved in this process as train.py resolves it
(train.py's setup_cfg: Dassl's config defaults and yacs, no torch), so
no train.py --check-done process starts per run. A corrupt or inconsistent
result is named in one line and done again (train.py resumes from its
checkpoints); one of another config is run again too, and train.py then
refuses the folder, naming the keys that differ. Imported by the launcher's
runner (experiments/launch/).
"""
import os
import sys

from experiments.launch import results_check


def resolved(train_args):
    """(parsed arguments, config) of a train.py command, or None for one
    train.py would refuse: train.py is left to say why."""
    from train import parse_args, setup_cfg
    from user_errors import UserError
    try:
        args = parse_args(list(train_args))
        return args, setup_cfg(args, quiet=True)
    except (UserError, SystemExit):
        return None


def fingerprint_matches(folder: str, train_args) -> bool:
    """True when folder/results.json is the finished result of train_args's
    config (trainers/run/fingerprint.results_match)."""
    from trainers.run.fingerprint import results_match
    got = resolved(train_args)
    return got is not None and results_match(got[1], folder)


def evaluation_done(folder: str, args, cfg) -> bool:
    """An --eval-only command is done when its record is there, checks, is of
    this config and scored the weights of its --model-dir."""
    from trainers.run.fingerprint import fingerprint
    from trainers.run.provenance import eval_record_name
    if args.load_epoch is None:
        return False  # which record it writes is known only after loading
    path = os.path.join(folder, eval_record_name(args.load_epoch, args.cross_eval))
    if not os.path.isfile(path):
        return False
    why = results_check.problem(path, ("evaluation", "cross-evaluation"))
    if why is not None:
        print(f"{path} is not a complete evaluation ({why}); evaluating again", flush=True)
        return False
    record = results_check.read_record(path)
    prov = record.get("provenance") or {}
    source = os.path.abspath(args.model_dir)
    if prov.get("model_dir") != source:
        print(f"{path} scored the weights of {prov.get('model_dir')}, not of {source}; "
              "evaluating again", flush=True)
        return False
    return record.get("fingerprint") == fingerprint(cfg)


def is_done(folder: str, train_args) -> bool:
    got = resolved(train_args)
    if got is not None and got[0].eval_only:
        return evaluation_done(folder, *got)
    path = os.path.join(folder, "results.json")
    if not os.path.isfile(path):
        return False
    why = results_check.problem(path)
    if why is not None:
        print(f"{path}: {why}", file=sys.stderr, flush=True)
        print(f"{path} is not a complete result (above); running again", flush=True)
        return False
    if got is None:
        return False
    from trainers.run.fingerprint import fingerprint, results_mismatch
    why = results_mismatch(got[1], folder)
    if why is not None and results_check.read_record(path).get("fingerprint") == \
            fingerprint(got[1]):
        print(f"{why}; running again", flush=True)
    return why is None and fingerprint_matches(folder, train_args)
