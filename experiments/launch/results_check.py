"""Whether a run's results.json is a complete result: the check of
`tools/parse_results.py --check` (its read_result), imported rather than
repeated, for the skip test, eval.sh's choice of runs and status.sh.

INTEGRATION POINT: parse_results.py is moving to experiments/results/ in
another branch; `_parse_results` is the one place to repoint.
"""
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _parse_results():
    """tools/parse_results.py as a module (tools/ is no package)."""
    tools = os.path.join(REPO, "tools")
    if tools not in sys.path:
        sys.path.insert(0, tools)
    import parse_results
    return parse_results


def read_complete(path):
    """parse_results' Run of a complete results.json, else None."""
    parse_results = _parse_results()
    try:
        return parse_results.read_result(path)
    except parse_results.ResultError:
        return None


def problem(path):
    """Why `path` is no complete results.json (parse_results --check's
    reason), or None when it is one."""
    parse_results = _parse_results()
    try:
        parse_results.read_result(path)
    except parse_results.ResultError as err:
        return str(err)
    return None
