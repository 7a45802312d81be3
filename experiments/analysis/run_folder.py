"""The checks every tool that reads a finished run folder makes first, from
the files alone (no Dassl, no data): finished_run.py and the export use them.

The run's results.json must be a training run's record that checks
(trainers/run/provenance.record_problem: written as the run wrote it, H the
harmonic mean of Mem and For); once the run's weights are loaded, they must
be the checkpoint files that results.json scored (`check_loaded_weights`),
and its backbone the file it was scored on."""
import json
import os.path as osp

from trainers.engine.evaluation import RESULTS_FILE
from trainers.run.checkpoint_digest import recorded_digest
from trainers.run.provenance import (file_sha256, record_kind, record_problem,
                                     recorded_backbone_sha256)
from user_errors import BadFileError, MissingFileError

RERUN = ("run its train.py command again (it resumes from its last checkpoint and "
         "writes results.json anew)")


def check_finished_folder(run_dir: str) -> dict:
    """One clear error unless `run_dir` is a run folder whose run finished;
    its results.json record."""
    if not osp.isdir(run_dir):
        raise MissingFileError(f"{run_dir} is not a folder: pass a run's output directory "
                               "(the --output-dir of train.py).")
    if not osp.isfile(osp.join(run_dir, "config.yaml")):
        raise MissingFileError(f"{run_dir} has no config.yaml, so it is not a run folder: "
                               "pass the --output-dir of a train.py run.")
    if not osp.isfile(osp.join(run_dir, RESULTS_FILE)):
        raise MissingFileError(f"{run_dir} has no {RESULTS_FILE}: the run has not finished; "
                               "run its train.py command again (it resumes) and retry.")
    return checked_record(osp.join(run_dir, RESULTS_FILE))


def checked_record(path: str) -> dict:
    """The record at `path`, or one line saying what is wrong and what to do."""
    try:
        with open(path) as f:
            record = json.load(f)
    except (OSError, ValueError) as err:
        raise BadFileError(f"{path} does not read as JSON ({type(err).__name__}: truncated, "
                           f"or another format): {RERUN}") from None
    if not isinstance(record, dict):
        raise BadFileError(f"{path} is no JSON object: {RERUN}")
    problem = record_problem(record)
    if problem is None and record_kind(record) != "training":
        problem = f"it is the record of an {record_kind(record)}, not of the training run"
    if problem:
        raise BadFileError(f"{path}: {problem}: {RERUN}")
    return record


def check_loaded_weights(run_dir: str, trainer, record: dict) -> None:
    """One line unless the checkpoints `trainer` loaded are those the run's
    results.json scored (their sha256) and the backbone is the file it was
    scored on; a record written before provenance is not checked."""
    from trainers.run.fingerprint import backbone_change
    models = (((record.get("provenance") or {}).get("weights") or {}).get("models") or {})
    loaded = getattr(trainer, "loaded_checkpoints", None) or {}
    for name, entry in models.items():
        path, want = loaded.get(name), (entry or {}).get("file_sha256")
        if not path or not want:
            continue
        got = recorded_digest(path) or file_sha256(path)
        if got != want:
            raise BadFileError(
                f"{path} is not the checkpoint {osp.join(run_dir, RESULTS_FILE)} scored (its "
                f"sha256 {got[:12]}..., the record's {want[:12]}...): {RERUN}, so that the "
                "record scores these weights")
    changed = backbone_change(trainer.cfg, recorded_backbone_sha256(record))
    if changed:
        raise BadFileError(f"{run_dir} was scored on another backbone ({changed}): restore "
                           "that file, or train the run again on this one")
