"""The progress lines a run prints for whoever watches its terminal.

The scripts send train.py's output to the run's job.log (QUIET, the
default) and pass on to the terminal only the lines that start with
PROGRESS: one per epoch (the epoch's mean loss terms, elapsed time, ETA) and,
during a long evaluation, how far it is.
"""
import datetime
import time

PROGRESS = "progress: "


def clock(seconds: float) -> str:
    return str(datetime.timedelta(seconds=int(round(seconds))))


def epoch_line(epoch: int, max_epoch: int, means: dict, elapsed: float, eta: float) -> str:
    """The line for the end of 0-based `epoch`: every logged value's mean."""
    values = " ".join(f"{name} {mean:.4f}" for name, mean in means.items())
    return (f"{PROGRESS}epoch {epoch + 1}/{max_epoch} {values} "
            f"elapsed {clock(elapsed)} eta {clock(eta)}").replace("  ", " ")


class EvaluationProgress:
    """Says how far an evaluation of `total` images is, at most every
    `every_s` seconds (the first and last batch say nothing: a short
    evaluation prints no line)."""

    def __init__(self, what: str, total: int, every_s: float = 20.0):
        self.what, self.total, self.every_s = what, total, every_s
        self.start = self.last = time.time()
        self.done = 0

    def update(self, images: int) -> None:
        self.done += images
        now = time.time()
        if now - self.last >= self.every_s and self.done < self.total:
            self.last = now
            rate = self.done / max(now - self.start, 1e-9)
            print(f"{PROGRESS}{self.what}: {self.done}/{self.total} images "
                  f"({100.0 * self.done / self.total:.0f}%), elapsed {clock(now - self.start)} "
                  f"eta {clock((self.total - self.done) / rate)}", flush=True)
