"""Whether a run's results.json is a complete result, as `tools/parse_results.py
--check` decides it (experiments/results/records.py: its fields, and that it
checks: trainers/run/provenance.record_problem), for the skip test, eval.sh's
choice of runs and status.sh."""
from experiments.results.records import ResultError, read_record as read_json_record
from experiments.results.records import read_result


def read_complete(path):
    """The Run of a complete results.json at `path`, else None."""
    try:
        return read_result(path)
    except ResultError:
        return None


def read_record(path) -> dict:
    """The JSON object of a record read_result accepted."""
    return read_json_record(path)


def problem(path, kinds=("training",)):
    """Why `path` is no complete results.json (parse_results --check's
    reason), or None when it is one (of one of `kinds`)."""
    try:
        read_result(path, kinds)
    except ResultError as err:
        return str(err)
    return None
