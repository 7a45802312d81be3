"""LAUNCHER=local: a run in the foreground, or on the next free GPU of
DEVICES (one run per GPU at a time, its own CUDA_VISIBLE_DEVICES and log),
and each run's <run>/launch.json (host, pid and, once it ended, its exit
status) that status.sh reads.

submitit's local executor would start every job at once on the same first
GPUs, hence this queue. Imported by experiments/launch/runner.py.
"""
import json
import os
import signal
import socket
import subprocess
import sys

from trainers.engine.progress import PROGRESS
from trainers.run.lock import INHERITED_ENV

LAUNCH_RECORD = "launch.json"


def exit_status(wait_status: int) -> int:
    """os.wait's status as a shell gives it: the exit code, or 128 + the signal."""
    code = os.waitstatus_to_exitcode(wait_status)
    return 128 - code if code < 0 else code


def record(folder: str, pid: int, domains, code=None) -> None:
    entry = {"launcher": "local", "host": socket.gethostname(), "pid": pid,
             "domains": list(domains)}
    if code is not None:
        entry["exit"] = code
    with open(os.path.join(folder, LAUNCH_RECORD), "w") as f:
        f.write(json.dumps(entry) + "\n")


def tail(path: str, lines: int = 20) -> str:
    with open(path, errors="replace") as f:
        return "".join(f.readlines()[-lines:])


def logged_with_progress(command, log_path: str, **child) -> int:
    """Run `command` (subprocess arguments `child`) with all its output in
    `log_path`, passing on to this terminal the lines train.py prints for it
    (PROGRESS: one per epoch, and how far a long evaluation is). Its exit status."""
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True, errors="replace", bufsize=1, **child)
        for line in process.stdout:
            log.write(line)
            if line.startswith(PROGRESS):
                log.flush()
                print(f"  {line[len(PROGRESS):]}", end="", flush=True)
        return process.wait()


def locked_child(lock) -> dict:
    """subprocess arguments that hand the run folder's lock to train.py
    (trainers/run/lock.py: it adopts the descriptor instead of waiting on it)."""
    return {"pass_fds": (lock.fd,), "env": dict(os.environ, **{INHERITED_ENV: str(lock.fd)})}


def run_foreground(run, quiet: bool, domains, lock) -> int:
    """Run one train.py command here and now, the run folder locked (`lock`,
    released when it ends); QUIET sends its output to the run's job.log (its
    progress lines to the terminal too) and shows the log's end when it
    fails. Its exit status."""
    record(run.folder, os.getpid(), domains)
    child = locked_child(lock)
    try:
        if quiet:
            print(f"run: {run.folder} (log: {run.log})", flush=True)
            code = logged_with_progress(run.command, run.log, **child)
            if code:
                sys.stderr.write(tail(run.log))
        else:
            print(f"run: {run.folder}", flush=True)
            code = subprocess.run(run.command, **child).returncode
    finally:
        lock.release()
    code = 128 - code if code < 0 else code
    record(run.folder, os.getpid(), domains, code)
    return code


class GpuQueue:
    """At most one run per device; start() waits for a free one."""
    live = []  # every queue of this process, for stop_all

    def __init__(self, devices, domains, on_end):
        GpuQueue.live.append(self)
        self.devices = list(devices)
        self.domains = domains
        self.on_end = on_end  # (run, device, exit status) of every run that ended
        self.running = {}  # pid -> (device, run, process)

    def free_device(self):
        busy = {device for device, _, _, _ in self.running.values()}
        return next((d for d in self.devices if d not in busy), None)

    def wait_one(self) -> None:
        """Block until one of the running jobs ends; record it."""
        pid, status = os.wait()
        if pid not in self.running:
            return  # a child this queue did not start
        device, run, process, lock = self.running.pop(pid)
        lock.release()
        process.returncode = exit_status(status)  # reaped here, not by Popen
        record(run.folder, pid, self.domains, process.returncode)
        self.on_end(run, device, process.returncode)

    def start(self, run, lock) -> None:
        """Start `run` on a free device; its folder's `lock` is released when it ends."""
        while self.free_device() is None:
            self.wait_one()
        device = self.free_device()
        print(f"[gpu {device}] start: {run.folder}; log: {run.log}", flush=True)
        child = locked_child(lock)
        child["env"]["CUDA_VISIBLE_DEVICES"] = device
        with open(run.log, "w") as log:
            process = subprocess.Popen(run.command, stdout=log, stderr=subprocess.STDOUT,
                                       **child)
        self.running[process.pid] = (device, run, process, lock)
        record(run.folder, process.pid, self.domains)

    def wait_all(self) -> None:
        while self.running:
            self.wait_one()

    def stop(self) -> None:
        """Ctrl-C or SIGTERM: stop the running jobs."""
        for _, run, process, _ in self.running.values():
            print(f"stopping {run.folder}", file=sys.stderr, flush=True)
            try:
                process.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass


def stop_all() -> None:
    for queue in GpuQueue.live:
        queue.stop()
