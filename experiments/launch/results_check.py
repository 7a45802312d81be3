"""Whether a run's results.json is a complete result, as `tools/parse_results.py
--check` decides it (experiments/results/records.py), for the skip test,
eval.sh's choice of runs and status.sh."""
from experiments.results.records import ResultError, read_result


def read_complete(path):
    """The Run of a complete results.json at `path`, else None."""
    try:
        return read_result(path)
    except ResultError:
        return None


def problem(path):
    """Why `path` is no complete results.json (parse_results --check's
    reason), or None when it is one."""
    try:
        read_result(path)
    except ResultError as err:
        return str(err)
    return None
