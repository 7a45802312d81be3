"""Fault injection: a run that kills itself at a chosen moment. For
tools/fault_inject.py and the tests only; never set these variables in a
real run.

    ADU_FAULT_PHASE=PHASE:K   SIGKILL this process at the K-th event of PHASE
    ADU_FAULT_COUNT=FILE      count the events of every phase; write the counts
                              to FILE (JSON) when the process ends

The events (where the engine calls `point`):
    step              a training step begins (its batch is loaded)
    checkpoint_write  a byte of a checkpoint is written to its temporary file
                      (K counts bytes over every checkpoint of the run, so one
                      number picks both the checkpoint and the place inside it)
    evaluation        a test batch is scored
    results_write     results.json is written to its temporary file, not yet
                      renamed into place

A kill leaves what a real crash there leaves (SIGKILL runs no handler and
flushes nothing of the process's own), so a rerun must recover from it.
Without the variables, `point` returns at once and `watched` returns the file
itself.
"""
import atexit
import json
import os
import signal
import sys

from user_errors import ConfigError

PHASE_ENV = "ADU_FAULT_PHASE"
COUNT_ENV = "ADU_FAULT_COUNT"
PHASES = ("step", "checkpoint_write", "evaluation", "results_write")

_counts = dict.fromkeys(PHASES, 0)
_target = None  # (phase, K), parsed on the first call


def target():
    """The (phase, K) of ADU_FAULT_PHASE, or ("", 0) when unset."""
    global _target
    if _target is None:
        value = os.environ.get(PHASE_ENV, "")
        phase, _, count = value.partition(":")
        if not value:
            _target = ("", 0)
        elif phase not in PHASES or not count.isdigit() or int(count) < 1:
            raise ConfigError(f"{PHASE_ENV}={value!r}: expected PHASE:K with PHASE one of "
                              f"{', '.join(PHASES)} and K >= 1 (fault injection only; unset it "
                              "for a real run)")
        else:
            _target = (phase, int(count))
        if os.environ.get(COUNT_ENV):
            atexit.register(write_counts, os.environ[COUNT_ENV])
    return _target


def point(phase: str, amount: int = 1) -> None:
    """`amount` events of `phase` happened; die here if that reaches the target."""
    wanted, k = target()
    _counts[phase] += amount
    if phase == wanted and _counts[phase] >= k:
        sys.stdout.flush()
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)


def write_counts(path: str) -> None:
    with open(path, "w") as f:
        json.dump(_counts, f)


class Watched:
    """A file whose writes count as events of a phase, byte by byte."""

    def __init__(self, file, phase: str):
        self.file, self.phase = file, phase

    def write(self, data) -> int:
        written = self.file.write(data)
        point(self.phase, written)
        return written

    def __getattr__(self, name):
        return getattr(self.file, name)


def watched(file, phase: str):
    """`file`, with its writes counted when a fault variable is set."""
    if target()[0] == phase or os.environ.get(COUNT_ENV):
        return Watched(file, phase)
    return file
