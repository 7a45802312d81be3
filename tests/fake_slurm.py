"""Stands in for SLURM's sbatch, srun, squeue, sacct, scancel and scontrol in
tests/test_launcher.py: `fake_slurm.py COMMAND ARGS...` (the tests put
wrappers named after each command on PATH).

Every call is appended as one JSON line to $FAKE_SLURM_DIR/calls.jsonl.
- sbatch SCRIPT keeps a copy of SCRIPT (job<ID>.sh), prints "Submitted batch
  job ID" and, in a process of its own, runs each array task in turn as
  SLURM would (bash SCRIPT with SLURM_ARRAY_JOB_ID, SLURM_ARRAY_TASK_ID, ...,
  in its --chdir), recording PENDING, RUNNING and COMPLETED or FAILED; the
  file done<ID> marks the end. FAKE_SLURM_HOLD=1: the tasks stay PENDING.
  FAKE_SLURM_REFUSE=1: sbatch fails as SLURM does on a bad partition.
- srun [--output F] [--error F] [--unbuffered] CMD runs CMD, its output
  appended to F (%A, %a, %j, %t filled in).
- squeue -h -r -o "%i|%T" -j IDS lists the live (pending, running) tasks;
  sacct -o JobID,State,NodeList --parsable2 -j ID ... lists every task.
- scancel ID marks the job's tasks CANCELLED; scontrol only records.
"""
import fcntl
import json
import os
import re
import subprocess
import sys
import time
from contextlib import contextmanager

STATE_DIR = os.environ.get("FAKE_SLURM_DIR", "")
LIVE = ("PENDING", "RUNNING")


def path(name):
    return os.path.join(STATE_DIR, name)


@contextmanager
def jobs():
    """The job table ({array id: {"tasks": {task id: state}, ...}}), locked."""
    with open(path("lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            table = json.load(open(path("jobs.json"))) if os.path.exists(path("jobs.json")) \
                else {}
            yield table
            with open(path("jobs.json"), "w") as f:
                json.dump(table, f)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def sbatch(args):
    if os.environ.get("FAKE_SLURM_REFUSE") == "1":
        print("sbatch: error: invalid partition specified: nowhere", file=sys.stderr)
        return 1
    script = args[-1]
    text = open(script).read()
    options = dict(re.findall(r"^#SBATCH --([\w-]+)(?:=(.*))?$", text, re.M))
    array = options.get("array", "")
    count = int(re.match(r"0-(\d+)", array).group(1)) + 1 if array else 1
    with jobs() as table:
        job = str(1000 + len(table))
        table[job] = {"array": bool(array), "cwd": options.get("chdir") or os.getcwd(),
                      "tasks": {(f"{job}_{i}" if array else job): "PENDING"
                                for i in range(count)}}
    with open(path(f"job{job}.sh"), "w") as f:
        f.write(text)
    print(f"Submitted batch job {job}")
    if os.environ.get("FAKE_SLURM_HOLD") != "1":
        with open(path(f"runner{job}.log"), "w") as log:
            subprocess.Popen([sys.executable, os.path.abspath(__file__), "_run", job],
                             stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                             start_new_session=True)
    return 0


def set_state(job, task, state):
    with jobs() as table:
        table[job]["tasks"][task] = state


def run_array(job):
    with jobs() as table:
        entry = table[job]
    for n, task in enumerate(entry["tasks"]):
        set_state(job, task, "RUNNING")
        # An array task has a job id of its own; a lone job, the one sbatch printed.
        own_id = str(int(job) * 100 + n) if entry["array"] else job
        env = dict(os.environ, SLURM_JOB_ID=own_id, SLURM_NTASKS="1",
                   SLURM_PROCID="0", SLURM_LOCALID="0", SLURM_NODEID="0",
                   SLURM_JOB_NUM_NODES="1", SLURM_JOB_NODELIST="localhost")
        if entry["array"]:
            env.update(SLURM_ARRAY_JOB_ID=job, SLURM_ARRAY_TASK_ID=str(n))
        code = subprocess.call(["bash", path(f"job{job}.sh")], cwd=entry["cwd"], env=env)
        set_state(job, task, "COMPLETED" if code == 0 else "FAILED")
    open(path(f"done{job}"), "w").close()
    return 0


def fill(pattern):
    env = os.environ
    job = env.get("SLURM_ARRAY_JOB_ID", env.get("SLURM_JOB_ID", ""))
    return (pattern.replace("%A", job).replace("%a", env.get("SLURM_ARRAY_TASK_ID", ""))
            .replace("%j", env.get("SLURM_JOB_ID", "")).replace("%t", "0"))


def srun(args):
    out = err = None
    while args and args[0].startswith("--"):
        option = args.pop(0)
        if option in ("--output", "--error"):
            value = fill(args.pop(0))
            os.makedirs(os.path.dirname(value), exist_ok=True)
            if option == "--output":
                out = value
            else:
                err = value
    stdout = open(out, "a") if out else None
    stderr = open(err, "a") if err else None
    return subprocess.call(args, stdout=stdout, stderr=stderr)


def option(args, name):
    return args[args.index(name) + 1] if name in args else ""


def squeue(args):
    wanted = option(args, "-j").split(",")
    with jobs() as table:
        lines = [f"{task}|{state}" for job in wanted if job in table
                 for task, state in table[job]["tasks"].items() if state in LIVE]
    if not any(job in table for job in wanted):
        print("slurm_load_jobs error: Invalid job id specified", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


def sacct(args):
    wanted = [args[i + 1] for i, a in enumerate(args) if a == "-j"]
    print("JobID|State|NodeList")
    with jobs() as table:
        for job in wanted:
            for task, state in table.get(job, {}).get("tasks", {}).items():
                print(f"{task}|{state}|localhost")
    return 0


def scancel(args):
    with jobs() as table:
        for job in (a for a in args if not a.startswith("-")):
            for task in table.get(job.split("_")[0], {}).get("tasks", {}):
                if task == job or job == task.split("_")[0]:
                    table[job.split("_")[0]]["tasks"][task] = "CANCELLED"
    return 0


def main(argv):
    command, args = argv[0], argv[1:]
    if command == "_run":
        return run_array(args[0])
    with open(path("calls.jsonl"), "a") as f:
        f.write(json.dumps({"cmd": command, "args": args, "time": time.time()}) + "\n")
    handlers = {"sbatch": sbatch, "srun": srun, "squeue": squeue, "sacct": sacct,
                "scancel": scancel, "scontrol": lambda a: 0}
    return handlers[command](args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
