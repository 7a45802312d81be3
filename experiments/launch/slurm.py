"""LAUNCHER=slurm for the scripts of scripts/adu/, through submitit, and
the status of a sweep's runs for any launcher (status.sh).

The launcher (experiments/launch/runner.py) decides which runs to make,
skips the finished ones and, with LAUNCHER=slurm, hands the rest to
`submit` at the end of the script call: one job per run, all of a script
call in one job array. Each array task runs the run's train.py command
with its output appended to <run>/job.log. A task killed by the scheduler
(time limit, preemption) is requeued by submitit and runs the same command
again: train.py resumes from the last checkpoint in its output folder
(Dassl's resume; TRAIN.CHECKPOINT_FREQ sets how often one is written).
submitit's own files (the sbatch script, pickles, its stdout and stderr)
go to <common folder of the runs>/.submitit/<job id>/, and
<run>/launch.json records the job id for `status`.

Settings (environment, apart from SLURM's own SLURM_* variables):
  PARTITION          sbatch --partition              (default: the cluster's)
  TIMEOUT_MIN        time limit of one run, minutes  (default: 240)
  GPUS_PER_RUN       --gpus-per-node                 (default: 1)
  CPUS_PER_RUN       --cpus-per-task                 (default: 8, the configs' loader workers)
  MEM_GB             --mem in GB                     (default: the cluster's)
  ACCOUNT, QOS       --account, --qos                (default: none)
  ARRAY_PARALLELISM  most tasks of the array running at once (default: 256)
  SBATCH_EXTRA       more sbatch options, e.g. "--constraint=a100 --exclude=node7"
"""
import datetime
import itertools
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys

from experiments.launch import results_check

LAUNCH_RECORD = "launch.json"
RESULTS_FILE = "results.json"
SUBMITIT_FOLDER = ".submitit"
# sbatch options the launcher itself sets (through submitit); SBATCH_EXTRA may not.
OWN_OPTIONS = {"array", "output", "error", "signal", "open-mode", "job-name", "partition",
               "time", "gpus-per-node", "cpus-per-task", "mem", "account", "qos", "chdir",
               "requeue", "wckey"}
LIVE_STATES = {"RUNNING": "running", "COMPLETING": "running", "CONFIGURING": "running",
               "PENDING": "pending", "REQUEUED": "pending", "REQUEUE_HOLD": "pending",
               "REQUEUE_FED": "pending", "RESIZING": "running", "SUSPENDED": "pending",
               "SIGNALING": "running", "STAGE_OUT": "running"}


class SettingError(Exception):
    """A launcher setting the user must fix; the message names it and the fix."""


# ---------------------------------------------------------------- settings
def _integer(name, text, minimum):
    if not re.fullmatch(r"[0-9]+", text) or int(text) < minimum:
        kind = "a positive integer" if minimum else "a non-negative integer"
        raise SettingError(f"{name} must be {kind}, got '{text}'")
    return int(text)


def _word(name, text):
    if not re.fullmatch(r"[A-Za-z0-9_.,:@+-]+", text):
        raise SettingError(f"{name} must be one word (letters, digits, '_.,:@+-'), got '{text}'")
    return text


def sbatch_extra(text: str) -> dict:
    """SBATCH_EXTRA ("--constraint=a100 --exclusive --exclude node7") -> {option: value}
    (True for a bare flag), as submitit's additional_parameters."""
    try:
        words = shlex.split(text)
    except ValueError as err:
        raise SettingError(f"SBATCH_EXTRA cannot be split into words ({err}): '{text}'")
    extra, i = {}, 0
    while i < len(words):
        word = words[i]
        if not word.startswith("--") or len(word) < 3:
            raise SettingError(f"SBATCH_EXTRA takes long sbatch options like --constraint=a100, "
                               f"got '{word}'")
        key, sep, value = word[2:].partition("=")
        if not sep and i + 1 < len(words) and not words[i + 1].startswith("-"):
            value, sep = words[i + 1], "="
            i += 1
        if key in OWN_OPTIONS:
            raise SettingError(f"SBATCH_EXTRA sets --{key}, which the launcher sets itself; "
                               "use its setting instead (PARTITION, TIMEOUT_MIN, GPUS_PER_RUN, "
                               "CPUS_PER_RUN, MEM_GB, ACCOUNT, QOS, ARRAY_PARALLELISM)")
        extra[key] = value if sep else True
        i += 1
    return extra


def slurm_parameters(env=None) -> dict:
    """SlurmExecutor parameters from the environment settings, checked."""
    env = os.environ if env is None else env

    def get(name):
        return env.get(name, "").strip()

    params = {"time": _integer("TIMEOUT_MIN", get("TIMEOUT_MIN") or "240", 1),
              "gpus_per_node": _integer("GPUS_PER_RUN", get("GPUS_PER_RUN") or "1", 0),
              "cpus_per_task": _integer("CPUS_PER_RUN", get("CPUS_PER_RUN") or "8", 1)}
    if get("MEM_GB"):
        text = get("MEM_GB")
        if not re.fullmatch(r"[0-9]+(\.[0-9]+)?", text) or float(text) <= 0:
            raise SettingError(f"MEM_GB must be a positive number of gigabytes, got '{text}'")
        gb = float(text)
        params["mem"] = f"{int(gb)}GB" if gb == int(gb) else f"{int(gb * 1024)}MB"
    for name, key in (("PARTITION", "partition"), ("ACCOUNT", "account"), ("QOS", "qos")):
        if get(name):
            params[key] = _word(name, get(name))
    if get("ARRAY_PARALLELISM"):
        params["array_parallelism"] = _integer("ARRAY_PARALLELISM", get("ARRAY_PARALLELISM"), 1)
    if params["gpus_per_node"] == 0:
        del params["gpus_per_node"]
    # --requeue: SLURM may requeue the job itself on preemption; the run resumes the same way.
    params["additional_parameters"] = {"requeue": True, **sbatch_extra(get("SBATCH_EXTRA"))}
    return params


def import_submitit():
    try:
        import submitit
    except ImportError:
        raise SettingError("LAUNCHER=slurm needs submitit: pip install submitit "
                           "(it is in requirements.txt)") from None
    return submitit


def check(dry_run: bool, env=None) -> None:
    """Everything a submission needs, before the script plans any run."""
    slurm_parameters(env)
    import_submitit()
    if not dry_run:
        missing = [c for c in ("sbatch", "srun") if shutil.which(c) is None]
        if missing:
            raise SettingError(f"LAUNCHER=slurm needs SLURM's {' and '.join(missing)} on PATH, "
                               "not found on this machine; run from a login node of the cluster "
                               "(DRY_RUN=1 shows the submission anywhere)")


# Seconds a requeued task waits for its previous attempt's run-folder lock
# (train.py's ADU_LOCK_WAIT); past that it exits 2 naming the holder.
REQUEUE_LOCK_WAIT_S = 600


# -------------------------------------------------------------- the task
def make_task(command, run_dir, log):
    """The callable one array task runs: a submitit Checkpointable, so that a
    timed-out or preempted task is requeued with checkpoint()'s result.

    The class is made here, not at module level, so that cloudpickle saves it
    by value: the compute node unpickles it without importing this file
    (which need not be on its Python path)."""
    submitit = import_submitit()
    lock_wait_s = REQUEUE_LOCK_WAIT_S  # a local: the task is pickled by value

    def ignore_scheduler_signals():
        """In train.py's process: leave SLURM's warning signals to submitit.

        SLURM signals every process of a job; submitit's handler in the task
        process checkpoints and requeues on USR2 (and ignores TERM), then
        exits, which kills train.py. Without this, train.py would die of the
        signal first and the task would end as failed instead of requeued."""
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(getattr(signal, "SIG" + submitit.JobEnvironment.USR_SIG), signal.SIG_IGN)

    class TrainRun(submitit.helpers.Checkpointable):
        """Run one train.py command, its output appended to the run's job.log."""

        def __init__(self, command, run_dir, log, requeued=False):
            self.command = list(command)
            self.run_dir = run_dir
            self.log = log
            self.requeued = requeued

        def __call__(self):
            os.makedirs(self.run_dir, exist_ok=True)
            job = os.environ.get("SLURM_ARRAY_JOB_ID")
            job = f"{job}_{os.environ.get('SLURM_ARRAY_TASK_ID')}" if job else \
                os.environ.get("SLURM_JOB_ID", "?")
            with open(self.log, "a") as log:
                log.write(f"== {datetime.datetime.now():%Y-%m-%d %H:%M:%S} slurm job {job} on "
                          f"{socket.gethostname()}: {shlex.join(self.command)}\n")
                log.flush()
                # A requeued attempt may start while the previous one still ends
                # on its node: wait (bounded) for its run-folder lock.
                env = dict(os.environ, ADU_LOCK_WAIT=str(lock_wait_s)) \
                    if self.requeued else None
                code = subprocess.run(self.command, stdout=log, stderr=subprocess.STDOUT,
                                      preexec_fn=ignore_scheduler_signals, env=env).returncode
            if code:
                with open(self.log) as log:
                    sys.stderr.writelines(log.readlines()[-20:])
                raise RuntimeError(f"train.py exited {code}; log: {self.log}")
            return code

        def checkpoint(self, *args, **kwargs):
            """The same command again: train.py resumes from the checkpoints in
            its output folder, so nothing but the command needs saving."""
            with open(self.log, "a") as log:
                log.write(f"== {datetime.datetime.now():%Y-%m-%d %H:%M:%S} stopped by the "
                          "scheduler; requeued, train.py will resume from its last checkpoint\n")
            return submitit.helpers.DelayedSubmission(TrainRun(self.command, self.run_dir,
                                                               self.log, requeued=True))

    return TrainRun(command, run_dir, log)


# -------------------------------------------------------------- submitting
def read_record(run_dir):
    try:
        with open(os.path.join(run_dir, LAUNCH_RECORD)) as f:
            record = json.load(f)
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def write_record(run_dir, record):
    os.makedirs(run_dir, exist_ok=True)
    path = os.path.join(run_dir, LAUNCH_RECORD)
    with open(path + ".tmp", "w") as f:
        json.dump(record, f, indent=1)
    os.replace(path + ".tmp", path)


def submitit_folder(tasks):
    """<the runs' common folder>/.submitit: beside the runs, one per sweep."""
    parents = [os.path.dirname(os.path.abspath(t["run"])) for t in tasks]
    return os.path.join(os.path.commonpath(parents), SUBMITIT_FOLDER)


def sbatch_text(folder, params, count):
    """The sbatch script submitit writes for `count` tasks (for DRY_RUN)."""
    from submitit.slurm.slurm import _make_sbatch_string
    command = " ".join([shlex.quote(sys.executable), "-u -m submitit.core._submit",
                        shlex.quote(os.path.join(folder, "%j"))])
    return _make_sbatch_string(command=command, folder=os.path.join(folder, "%j"),
                               map_count=count if count > 1 else None, **params)


def queued_elsewhere(tasks):
    """Tasks whose run is already pending or running in SLURM (an earlier
    submission): submitting them again would run them twice."""
    records = {t["run"]: read_record(t["run"]) for t in tasks}
    ids = [r["job_id"] for r in records.values() if r and r.get("launcher") == "slurm"]
    if not ids or shutil.which("squeue") is None:
        return {}
    states = slurm_states(ids)
    queued = {}
    for run, record in records.items():
        if record and record.get("launcher") == "slurm":
            state = states.get(record["job_id"], "")
            if state in LIVE_STATES:
                queued[run] = f"slurm job {record['job_id']} is {state}"
    return queued


def submit(tasks, job_name, domains, dry_run, env=None):
    """Submit a script call's runs (tasks: {"run", "log", "command"} each) as
    one job array (DRY_RUN: print it). Returns (exit status: 0, or 1 when
    sbatch refused; the count of runs left out as already queued)."""
    submitit = import_submitit()
    params = slurm_parameters(env)
    queued = queued_elsewhere(tasks)
    for run, why in queued.items():
        print(f"skip: {run} ({why}; bash scripts/adu/status.sh shows it)", flush=True)
    tasks = [t for t in tasks if t["run"] not in queued]
    if not tasks:
        print("slurm: nothing to submit", flush=True)
        return 0, len(queued)
    folder = submitit_folder(tasks)
    params["job_name"] = job_name
    # The commands' relative paths (DATA, OUTPUT) are taken from here, as locally.
    params["additional_parameters"] = {"chdir": os.getcwd(), **params["additional_parameters"]}
    if dry_run:
        print(f"slurm: would submit {len(tasks)} run(s) as "
              + (f"one job array of {len(tasks)} tasks" if len(tasks) > 1 else "one job")
              + f"; sbatch script (submitit's files in {folder}):")
        print(sbatch_text(folder, params, len(tasks)).rstrip())
        for i, task in enumerate(tasks):
            print(f"array task {i}: {shlex.join(task['command'])}")
        sys.stdout.flush()
        return 0, len(queued)
    executor = submitit.SlurmExecutor(folder=os.path.join(folder, "%j"), max_num_timeout=3)
    executor.update_parameters(**params)
    try:
        jobs = executor.submit_array([make_task(t["command"], t["run"], t["log"])
                                      for t in tasks])
    except Exception as err:  # sbatch's refusal comes as CalledProcessError or submitit's
        reason = " ".join(str(err).split())
        print(f"slurm: sbatch refused the submission: {reason[:500]}", file=sys.stderr,
              flush=True)
        return 1, len(queued)
    now = datetime.datetime.now().isoformat(timespec="seconds")
    for task, job in zip(tasks, jobs):
        write_record(task["run"], {
            "launcher": "slurm", "job_id": job.job_id, "submitted": now, "log": task["log"],
            "submitit_stdout": str(job.paths.stdout), "submitit_stderr": str(job.paths.stderr),
            "command": task["command"], "domains": domains})
    array = jobs[0].job_id.split("_")[0]
    print(f"slurm: submitted {len(jobs)} run(s) as job {array}"
          + (f" (array of {len(jobs)} tasks)" if len(jobs) > 1 else "")
          + f"; train.py's output in each <run>/job.log, submitit's files in {folder}",
          flush=True)
    return 0, len(queued)


# ------------------------------------------------------------------ status
def slurm_states(job_ids):
    """{job id: SLURM state} of the ids squeue (live jobs) or sacct (finished
    ones) knows; an id neither knows is left out."""
    states = {}
    arrays = sorted({j.split("_")[0] for j in job_ids})
    if shutil.which("squeue"):
        proc = subprocess.run(["squeue", "-h", "-r", "-o", "%i|%T", "-j", ",".join(arrays)],
                              capture_output=True, text=True)
        if proc.returncode == 0:
            for line in proc.stdout.splitlines():
                job, _, state = line.strip().partition("|")
                if job and state:
                    states[job] = state
    rest = [j for j in job_ids if j not in states]
    if rest and shutil.which("sacct"):
        command = ["sacct", "-o", "JobID,State,NodeList", "--parsable2"]
        for array in sorted({j.split("_")[0] for j in rest}):
            command += ["-j", array]
        proc = subprocess.run(command, capture_output=True, text=True)
        if proc.returncode == 0:
            from submitit.slurm.slurm import SlurmInfoWatcher
            info = SlurmInfoWatcher().read_info(proc.stdout)
            for job in rest:
                if job in info and info[job].get("State"):
                    states[job] = info[job]["State"].split()[0]
    return states


def result_is_complete(run_dir):
    """The Run of a run's complete results.json (what the skip test asks), else None."""
    path = os.path.join(run_dir, RESULTS_FILE)
    if not os.path.isfile(path):
        return None
    return results_check.read_complete(path)


def find_runs(root):
    """Run folders under root: those with a results.json, a launch record or a job.log."""
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        if {RESULTS_FILE, LAUNCH_RECORD, "job.log"} & set(files):
            found.append(folder)
    return found


LAYOUT = re.compile(r"^(?:(?P<group>.*)/)?forget_(?P<forget>[^/]+)/(?P<shots>[0-9]+)shots/"
                    r"seed(?P<seed>[0-9]+)$")


def expected_runs(root, runs, domains_of, seeds):
    """Run folders a sweep's design asks for beside those found: every forget
    combination of each size found, for every seed (given, or found), per
    (method folder, shots); only where the dataset's domains are known."""
    groups = {}
    for run in runs:
        m = LAYOUT.match(os.path.relpath(run, root))
        if not m:
            continue
        key = (m["group"] or "", m["shots"])
        g = groups.setdefault(key, {"ks": set(), "seeds": set(), "domains": None})
        g["ks"].add(len(m["forget"].split("+")))
        g["seeds"].add(int(m["seed"]))
        g["domains"] = g["domains"] or domains_of.get(run)
    expected = set()
    for (group, shots), g in groups.items():
        if not g["domains"]:
            continue
        for k in g["ks"]:
            for combo in itertools.combinations(g["domains"], k):
                for seed in seeds or g["seeds"]:
                    expected.add(os.path.join(root, group, "forget_" + "+".join(combo),
                                              f"{shots}shots", f"seed{seed}"))
    return expected


def pid_alive(pid):
    try:
        os.kill(int(pid), 0)
    except (OSError, ValueError, TypeError):
        return False
    return True


def classify(run, result, record, states):
    """(state, detail) of one run: done, running, pending, failed or missing."""
    if result is not None:
        return "done", ""
    if not os.path.isdir(run):
        return "missing", "no folder; a sweep runs every forget combination of this size"
    log = os.path.join(run, "job.log")
    where = f"log: {log}" if os.path.isfile(log) else "no job.log"
    if record is None:
        return "failed", f"no complete results.json and no launch record; {where}"
    if record.get("launcher") == "slurm":
        job, log = record.get("job_id", "?"), record.get("log", log)
        state = states.get(job)
        if state is None:
            return "failed", f"slurm job {job}, unknown to squeue and sacct; log: {log}"
        if state in LIVE_STATES:
            return LIVE_STATES[state], f"slurm job {job} {state}; log: {log}"
        if state == "COMPLETED":
            state = "COMPLETED without a complete results.json"
        return "failed", (f"slurm job {job} {state}; log: {log}; submitit's: "
                          f"{record.get('submitit_stderr', '?')}")
    if "exit" in record:
        return "failed", f"exit {record['exit']}; {where}"
    if record.get("host") != socket.gethostname():
        return "running", (f"on {record.get('host')} (pid {record.get('pid')}), not "
                           "checked from here")
    if pid_alive(record.get("pid")):
        return "running", f"pid {record.get('pid')}; {where}"
    return "failed", f"its script (pid {record.get('pid')}) ended before the run did; {where}"


STATES = ("done", "running", "pending", "failed", "missing")


def status(root, seeds=None):
    """Print each run under root with its state; 0 when every run is done."""
    if not os.path.isdir(root):
        print(f"status: error: {root} is not a folder", file=sys.stderr)
        return 2
    runs = find_runs(root)
    results = {run: result_is_complete(run) for run in runs}
    records = {run: read_record(run) for run in runs}
    domains_of = {}
    for run in runs:
        if results[run] is not None:
            domains_of[run] = list(results[run].domains)
        elif records[run] and records[run].get("domains"):
            domains_of[run] = records[run]["domains"]
    every = sorted(set(runs) | expected_runs(root, runs, domains_of, seeds))
    ids = [r["job_id"] for r in records.values() if r and r.get("launcher") == "slurm"]
    states = slurm_states(ids) if ids else {}
    rows = [(run, *classify(run, results.get(run), records.get(run), states)) for run in every]
    if not rows:
        print(f"status: no run under {root} (no results.json, launch.json or job.log)")
        return 1
    width = max(len(os.path.relpath(r[0], root)) for r in rows)
    for state in STATES:
        for run, s, detail in rows:
            if s == state:
                print(f"{s:8} {os.path.relpath(run, root):{width}}  {detail}".rstrip())
    counts = {s: sum(1 for r in rows if r[1] == s) for s in STATES}
    print(f"{len(rows)} run(s) under {root}: "
          + ", ".join(f"{counts[s]} {s}" for s in STATES))
    return 0 if counts["done"] == len(rows) else 1


def parse_seeds(text: str) -> list:
    """status's SEEDS (space- or comma-separated) -> sorted seeds; SettingError if bad."""
    words = [w for w in re.split(r"[ ,]+", text.strip()) if w]
    if not all(w.isdigit() for w in words):
        raise SettingError(f"SEEDS must be non-negative integers, got '{text}'")
    return sorted({int(w) for w in words})
