"""What a script call does with its planned runs: skip the done ones
(experiments/launch/skip.py), print the rest (DRY_RUN), run them here
(experiments/launch/local.py) or collect them for one SLURM job array
(experiments/launch/slurm.py), stop at the first run that train.py ends
with exit status 2 (a problem the user must fix: the other runs would only
repeat it), and print the summary line. Imported by
experiments/launch/scripts.py.
"""
import os
import re
import sys

from experiments.launch import local, skip
from experiments.launch.settings import Settings
from trainers.run.lock import FolderBusyError, RunLock, holder

USER_ERROR = 2  # train.py's exit status for a problem the user must fix
STOPPED = "(stopped: train.py exited 2; fix the error above and run again)"


class ScriptExit(Exception):
    """The script ends here with this exit status (its output is printed)."""

    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


def command_text(command) -> str:
    """A command as it can be pasted into a shell."""
    words = []
    for arg in command:
        if re.fullmatch(r"[A-Za-z0-9_./:,+=@%-]+", arg):
            words.append(arg)
        elif "'" not in arg:
            words.append(f"'{arg}'")
        else:
            words.append(re.sub(r"([^A-Za-z0-9_./:,+=@%-])", r"\\\1", arg))
    return " ".join(words)


def take_lock(folder: str):
    """(the run folder's lock, None), or (None, its holder) when another
    process (another sweep's train.py) holds it."""
    os.makedirs(folder, exist_ok=True)
    try:
        return RunLock(folder), None
    except FolderBusyError:
        return None, holder(folder) or "another process"


class Runner:
    def __init__(self, s: Settings, domains=()):
        self.s = s
        self.domains = list(domains)  # for each run's launch.json
        self.started = self.skipped = self.queued = self.running = 0
        self.failed = []  # "run (why)" of every failed run
        self.stop_asked = False  # a run ended with USER_ERROR
        self.slurm_tasks = []
        self.queue = local.GpuQueue(s.devices, self.domains, self.ended) if s.devices else None

    def say(self, line: str = "") -> None:
        print(line, flush=True)

    def ended(self, run, device, code: int) -> None:
        """A queued run ended (local.GpuQueue calls this)."""
        if code:
            self.failed.append(f"{run.folder} (exit {code}, log {run.log})")
            self.stop_asked |= code == USER_ERROR
            self.say(f"[gpu {device}] FAILED (exit {code}): {run.folder}; log: {run.log}")
        else:
            self.say(f"[gpu {device}] done: {run.folder}")

    def fail(self, why: str) -> None:
        """A failure that is no run's exit status (eval.sh: no weights of that epoch)."""
        self.failed.append(why)

    def train(self, runs) -> None:
        """Every run not done: submit it (see the module docstring)."""
        for run in runs:
            if skip.is_done(run.folder, run.train_args):
                self.say(f"skip: {run.folder} (done: results.json of the same config)")
                self.skipped += 1
                continue
            lock = None
            if self.s.launcher == "slurm" or self.s.dry_run:
                running = holder(run.folder)
            else:  # locked before job.log is written, handed to train.py
                lock, running = take_lock(run.folder)
            if running:
                self.say(f"skip: {run.folder} (running: {running})")
                self.running += 1
                continue
            self.submit(run, lock)
            if self.stop_asked:
                self.summarize(STOPPED)

    def submit(self, run, lock=None) -> None:
        self.started += 1
        if self.s.launcher == "slurm":
            self.slurm_tasks.append({"run": run.folder, "log": run.log, "command": run.command})
        elif self.s.dry_run:
            self.say(command_text(run.command))
        elif self.queue:
            self.queue.start(run, lock)
        else:
            code = local.run_foreground(run, self.s.quiet, self.domains, lock)
            if code:
                self.failed.append(f"{run.folder} (exit {code})")
                self.stop_asked |= code == USER_ERROR

    def submit_slurm(self) -> None:
        from experiments.launch import slurm
        name = self.s.script[:-len(".sh")] if self.s.script.endswith(".sh") else self.s.script
        code, queued = slurm.submit(self.slurm_tasks, f"adu_{name}", self.domains,
                                    self.s.dry_run, self.s.env)
        if code:
            self.failed.append(f"the SLURM submission of {self.started} run(s) "
                               "(sbatch's reason above)")
        else:
            self.queued = queued  # an earlier submission has them pending or running
            self.started -= queued
        self.slurm_tasks = []

    def summarize(self, note: str = "") -> None:
        """Wait for every job, print the summary line; exit 1 when a run failed."""
        if self.queue:
            self.queue.wait_all()
        verb = "would run" if self.s.dry_run else "ran"
        if self.s.launcher == "slurm":
            verb = "would be submitted" if self.s.dry_run else "submitted"
            if self.slurm_tasks:
                self.submit_slurm()
        queued = f", {self.queued} skipped (queued)" if self.queued else ""
        queued += f", {self.running} skipped (running)" if self.running else ""
        self.say(f"{self.s.script}: {self.started} {verb}, {self.skipped} skipped (done)"
                 f"{queued}, {len(self.failed)} failed" + (f" {note}" if note else ""))
        if self.failed:
            for why in self.failed:
                print(f"  failed: {why}", file=sys.stderr, flush=True)
            raise ScriptExit(1)

    def summarize_before_table(self, note: str = "") -> None:
        """summarize, then end the script unless its table can be printed now
        (not in a dry run, nor while SLURM jobs may still be queued)."""
        self.summarize(note)
        if self.s.dry_run:
            raise ScriptExit(0)
        if self.s.launcher == "slurm":
            self.say("the table: run this again once the jobs are done "
                     f"(bash scripts/adu/status.sh {self.s.output})")
            raise ScriptExit(0)
