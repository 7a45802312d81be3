"""Where a run can be killed, and the hooks that kill it there.

The events, each counted where `install` wraps a seam of the engine:
    step              a training step begins (UnlearningTrainer.forward_backward)
    checkpoint_write  a byte of a checkpoint is written to its temporary file
                      (K counts bytes over every checkpoint of the run, so one
                      number picks both the checkpoint and the place inside it)
    evaluation        a test batch is scored (evaluation.evaluation_outputs)
    results_write     results.json is written to its temporary file, not yet
                      renamed into place

A kill is SIGKILL, which runs no handler and flushes nothing of the
process's own: it leaves what a real crash there leaves, so a rerun must
recover from it.
"""
import atexit
import json
import os
import signal
import sys
from contextlib import contextmanager

PHASES = ("step", "checkpoint_write", "evaluation", "results_write")


class FaultPoints:
    """The events of every phase so far; SIGKILL at the K-th of `phase`
    (no kill when `phase` is empty)."""

    def __init__(self, phase: str = "", k: int = 0):
        self.phase, self.k = phase, k
        self.counts = dict.fromkeys(PHASES, 0)

    def point(self, phase: str, amount: int = 1) -> None:
        """`amount` events of `phase` happened; die here if that reaches the target."""
        self.counts[phase] += amount
        if phase == self.phase and self.counts[phase] >= self.k:
            sys.stdout.flush()
            sys.stderr.flush()
            os.kill(os.getpid(), signal.SIGKILL)

    def write_counts_at_exit(self, path: str) -> None:
        def write():
            with open(path, "w") as f:
                json.dump(self.counts, f)
        atexit.register(write)


class Watched:
    """A file whose writes count as events of a phase, byte by byte."""

    def __init__(self, file, phase: str, points: FaultPoints):
        self.file, self.phase, self.points = file, phase, points

    def write(self, data) -> int:
        written = self.file.write(data)
        self.points.point(self.phase, written)
        return written

    def __getattr__(self, name):
        return getattr(self.file, name)


def install(points: FaultPoints) -> None:
    """Wrap the engine's seams so that each event reaches `points`. The
    modules are imported here: a process that never calls this has no hook."""
    from trainers.engine import base, evaluation
    from trainers.run import checkpoint

    step = base.UnlearningTrainer.forward_backward

    def forward_backward(trainer, batch):
        points.point("step")
        return step(trainer, batch)
    base.UnlearningTrainer.forward_backward = forward_backward

    score = evaluation.evaluation_outputs

    def evaluation_outputs(trainer, inputs):
        outputs = score(trainer, inputs)
        points.point("evaluation")
        return outputs
    evaluation.evaluation_outputs = evaluation_outputs

    # checkpoint.py writes its binary files (the checkpoints) through atomic_write.
    write_checkpoint = checkpoint.atomic_write

    @contextmanager
    def counted_bytes(path, mode="w"):
        with write_checkpoint(path, mode) as f:
            yield Watched(f, "checkpoint_write", points) if "b" in mode else f
    checkpoint.atomic_write = counted_bytes

    # evaluation.py writes only results.json through atomic_write: the event
    # falls after the block's write and before atomic_write's rename.
    write_results = evaluation.atomic_write

    @contextmanager
    def written_not_renamed(path, mode="w"):
        with write_results(path, mode) as f:
            yield f
            points.point("results_write")
    evaluation.atomic_write = written_not_renamed
