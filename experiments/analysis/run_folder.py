"""The checks every tool that reads a finished run folder makes first, from
the files alone (no Dassl, no data): finished_run.py and the export use them."""
import os.path as osp

from trainers.engine.evaluation import RESULTS_FILE
from user_errors import MissingFileError


def check_finished_folder(run_dir: str) -> None:
    """One clear error unless `run_dir` is a run folder whose run finished."""
    if not osp.isdir(run_dir):
        raise MissingFileError(f"{run_dir} is not a folder: pass a run's output directory "
                               "(the --output-dir of train.py).")
    if not osp.isfile(osp.join(run_dir, "config.yaml")):
        raise MissingFileError(f"{run_dir} has no config.yaml, so it is not a run folder: "
                               "pass the --output-dir of a train.py run.")
    if not osp.isfile(osp.join(run_dir, RESULTS_FILE)):
        raise MissingFileError(f"{run_dir} has no {RESULTS_FILE}: the run has not finished; "
                               "run its train.py command again (it resumes) and retry.")
