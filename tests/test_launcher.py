"""LAUNCHER=slurm (experiments/launch/slurm.py through submitit) and status.sh, with
SLURM's commands faked (tests/fake_slurm.py runs each array task here) and
train.py faked (tests/fake_python.py) except where a test says otherwise.
"""
import glob
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

pytest.importorskip("submitit", reason="submitit not installed (pip install submitit)")

from train_harness import REPO, TINY_OPTS, run_script, shell_wrapper, train_py  # noqa: E402

from experiments.launch import slurm as launcher  # noqa: E402

pytestmark = pytest.mark.slow  # end-to-end runs: `make test`, not `make test-fast`


SLURM_COMMANDS = ("sbatch", "srun", "squeue", "sacct", "scancel", "scontrol")


def wrapper(folder, name, target, *first):
    return shell_wrapper(folder / name, sys.executable, target, *first)


@pytest.fixture
def fake_bin(tmp_path):
    """A folder with fake SLURM commands and a fake python."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for name in SLURM_COMMANDS:
        wrapper(folder, name, os.path.join(REPO, "tests", "fake_slurm.py"), name)
    wrapper(folder, "python", os.path.join(REPO, "tests", "fake_python.py"))
    return folder


@pytest.fixture
def env(fake_bin, tmp_path):
    (tmp_path / "slurm").mkdir()
    return {"PATH": f"{fake_bin}{os.pathsep}{os.environ['PATH']}",
            "FAKE_SLURM_DIR": str(tmp_path / "slurm"), "PYTHON": str(fake_bin / "python"),
            "OUTPUT": str(tmp_path / "out"), "DATA": str(tmp_path), "FAKE_TRAIN": "1",
            "FAKE_LOG": str(tmp_path / "train_calls.jsonl"), "LAUNCHER": "slurm"}


def slurm_calls(env, command=None):
    path = os.path.join(env["FAKE_SLURM_DIR"], "calls.jsonl")
    if not os.path.exists(path):
        return []
    calls = [json.loads(line) for line in open(path)]
    return [c for c in calls if command in (None, c["cmd"])]


def submitted_scripts(env):
    return sorted(glob.glob(os.path.join(env["FAKE_SLURM_DIR"], "job*.sh")))


def wait_for_jobs(env, timeout=240):
    """Until the fake scheduler has run every submitted array."""
    jobs = [os.path.basename(p)[3:-3] for p in submitted_scripts(env)]
    assert jobs, "nothing was submitted"
    deadline = time.time() + timeout
    while not all(os.path.exists(os.path.join(env["FAKE_SLURM_DIR"], f"done{j}")) for j in jobs):
        assert time.time() < deadline, "the fake scheduler did not finish"
        time.sleep(0.5)


def results(root):
    found = {}
    for path in glob.glob(os.path.join(root, "**", "results.json"), recursive=True):
        with open(path) as f:
            found[os.path.relpath(path, root)] = json.load(f)
    return found


def sbatch_options(script):
    options = {}
    for line in open(script):
        if line.startswith("#SBATCH --"):
            key, _, value = line[len("#SBATCH --"):].strip().partition("=")
            options[key] = value or True
    return options


def status(env, root, **extra):
    proc = run_script("status.sh", root, env=dict(env, **extra))
    lines = {}
    for line in proc.stdout.splitlines()[:-1]:
        state, run, *detail = line.split(maxsplit=2)
        lines[run] = (state, detail[0] if detail else "")
    return proc, lines


def test_a_slurm_sweep_ends_with_the_same_results_as_the_local_path(env, tmp_path):
    local = dict(env, LAUNCHER="local", OUTPUT=str(tmp_path / "local"), SEEDS="1 2")
    assert run_script("sweep.sh", "office_home", "1", "--", "OPTIM.MAX_EPOCH", "2",
                      env=local).returncode == 0
    slurm = dict(env, SEEDS="1 2")
    proc = run_script("sweep.sh", "office_home", "1", "--", "OPTIM.MAX_EPOCH", "2", env=slurm)
    assert proc.returncode == 0, proc.stderr
    assert "8 submitted, 0 skipped (done), 0 failed" in proc.stdout
    wait_for_jobs(env)
    [script] = submitted_scripts(env)
    assert sbatch_options(script)["array"] == "0-7%8"  # one array: one task per run
    assert len(slurm_calls(env, "sbatch")) == 1
    local_results = results(local["OUTPUT"])
    assert len(local_results) == 8
    assert results(env["OUTPUT"]) == local_results
    # Each task ran its run's own command, its output in the run's job.log.
    run = os.path.join(env["OUTPUT"], "office_home", "ADU_vit_b16_ep50", "forget_art", "8shots",
                       "seed2")
    log = open(os.path.join(run, "job.log")).read()
    assert "slurm job 1000_1 on" in log and f"--output-dir {run} " in log
    assert "OPTIM.MAX_EPOCH 2" in log
    record = json.load(open(os.path.join(run, "launch.json")))
    assert record["job_id"] == "1000_1" and record["domains"][0] == "art"

    again = run_script("sweep.sh", "office_home", "1", "--", "OPTIM.MAX_EPOCH", "2", env=slurm)
    assert "0 submitted, 8 skipped (done)" in again.stdout
    assert len(slurm_calls(env, "sbatch")) == 1  # finished runs are never submitted
    proc, lines = status(env, env["OUTPUT"])
    assert proc.returncode == 0 and "8 done, 0 running, 0 pending, 0 failed" in proc.stdout


SETTINGS = {"PARTITION": "gpu-a100", "TIMEOUT_MIN": "90", "GPUS_PER_RUN": "2",
            "CPUS_PER_RUN": "6", "MEM_GB": "40", "ACCOUNT": "vision-lab", "QOS": "high",
            "ARRAY_PARALLELISM": "3", "SBATCH_EXTRA": "--constraint=a100 --exclusive"}


def test_the_submission_holds_the_settings_asked_for(env):
    proc = run_script("sweep.sh", "office_home", "1",
                      env=dict(env, SEEDS="1 2", FAKE_SLURM_HOLD="1", **SETTINGS))
    assert proc.returncode == 0, proc.stderr
    [script] = submitted_scripts(env)
    options = sbatch_options(script)
    assert options["partition"] == "gpu-a100" and options["time"] == "90"
    assert options["gpus-per-node"] == "2" and options["cpus-per-task"] == "6"
    assert options["mem"] == "40GB" and options["account"] == "vision-lab"
    assert options["qos"] == "high" and options["array"] == "0-7%3"
    assert options["constraint"] == "a100" and options["exclusive"] is True
    assert options["requeue"] is True and options["signal"] == "USR2@90"
    assert options["chdir"] == REPO  # the scripts' relative paths, as run here
    submitit_dir = os.path.join(env["OUTPUT"], "office_home", "ADU_vit_b16_ep50", ".submitit")
    assert options["output"] == f"{submitit_dir}/%A_%a/%A_%a_0_log.out"
    assert not os.path.exists(os.path.join(env["FAKE_LOG"]))  # held: nothing ran


def test_dry_run_prints_the_sbatch_options_and_each_task_command(env):
    # No SLURM command is needed (nor called) for a dry run.
    proc = run_script("sweep.sh", "office_home", "1",
                      env=dict(env, SEEDS="1 2", DRY_RUN="1", PATH=os.environ["PATH"],
                               **SETTINGS))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for line in ("#SBATCH --partition=gpu-a100", "#SBATCH --time=90",
                 "#SBATCH --gpus-per-node=2", "#SBATCH --array=0-7%3",
                 "#SBATCH --constraint=a100"):
        assert line in out
    tasks = [line for line in out.splitlines() if line.startswith("array task ")]
    assert len(tasks) == 8
    assert "train.py" in tasks[0] and "--forget-domains art" in tasks[0]
    assert "--seed 2" in tasks[1]
    assert "8 would be submitted, 0 skipped" in out
    assert slurm_calls(env) == [] and not os.path.exists(env["OUTPUT"])


@pytest.mark.parametrize("script, args, tasks", [
    ("main.sh", ["office_home", "art"], 3),
    ("ablation.sh", ["office_home", "art"], 18),
    ("demo.sh", [], 3),
    ("eval.sh", ["{OUTPUT}"], 2),
])
def test_every_script_submits_its_runs_as_one_array(env, script, args, tasks):
    if script == "eval.sh":  # two finished runs to evaluate again
        made = run_script("main.sh", "office_home", "art",
                          env=dict(env, LAUNCHER="local", SEEDS="1 2"))
        assert made.returncode == 0, made.stderr
    args = [a.format(**env) for a in args]
    proc = run_script(script, *args, env=dict(env, DRY_RUN="1", EVAL_OUTPUT=env["OUTPUT"] + "_e"))
    assert proc.returncode == 0, proc.stderr
    assert f"#SBATCH --array=0-{tasks - 1}%{tasks}" in proc.stdout
    assert f"#SBATCH --job-name=adu_{script[:-3]}" in proc.stdout
    commands = [line for line in proc.stdout.splitlines() if line.startswith("array task ")]
    assert len(commands) == tasks and all("train.py" in c for c in commands)
    assert slurm_calls(env) == []


def test_a_failed_task_does_not_stop_the_others_and_status_names_it(env):
    proc = run_script("main.sh", "office_home", "art",
                      env=dict(env, SEEDS="1 2 3", FAKE_FAIL_SEEDS="2"))
    assert proc.returncode == 0, proc.stderr
    wait_for_jobs(env)
    run = os.path.join(env["OUTPUT"], "office_home", "ADU_vit_b16_ep50", "forget_art", "8shots")
    assert sorted(results(run)) == ["seed1/results.json", "seed3/results.json"]
    proc, lines = status(env, env["OUTPUT"])
    assert proc.returncode == 1
    # The other three forget domains' runs are missing from the sweep of |D_forget| = 1.
    assert "12 run(s)" in proc.stdout
    assert "2 done, 0 running, 0 pending, 1 failed, 9 missing" in proc.stdout
    assert lines["office_home/ADU_vit_b16_ep50/forget_clipart/8shots/seed3"][0] == "missing"
    state, detail = lines["office_home/ADU_vit_b16_ep50/forget_art/8shots/seed2"]
    assert state == "failed" and "slurm job 1000_1 FAILED" in detail
    assert f"log: {run}/seed2/job.log" in detail
    assert "fails on purpose" in open(f"{run}/seed2/job.log").read()


def test_status_shows_pending_running_and_missing_runs_and_queued_runs_are_not_resubmitted(
        env):
    held = dict(env, SEEDS="1", FAKE_SLURM_HOLD="1")
    assert run_script("sweep.sh", "office_home", "1", env=held).returncode == 0
    table = os.path.join(env["FAKE_SLURM_DIR"], "jobs.json")
    jobs = json.load(open(table))
    jobs["1000"]["tasks"]["1000_1"] = "RUNNING"
    json.dump(jobs, open(table, "w"))
    group = os.path.join(env["OUTPUT"], "office_home", "ADU_vit_b16_ep50")
    os.rename(os.path.join(group, "forget_product"), os.path.join(env["FAKE_SLURM_DIR"], "gone"))
    proc, lines = status(env, env["OUTPUT"])
    assert proc.returncode == 1
    states = {run.split("/")[2]: state for run, (state, _) in lines.items()}
    assert states == {"forget_art": "pending", "forget_clipart": "running",
                      "forget_product": "missing", "forget_real_world": "pending"}
    # SEEDS names the seeds the design expects (default: those found).
    _, lines = status(env, env["OUTPUT"], SEEDS="1 2")
    assert sum(state == "missing" for state, _ in lines.values()) == 5

    again = run_script("sweep.sh", "office_home", "1", env=held)
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("is PENDING") == 2 and again.stdout.count("is RUNNING") == 1
    assert "1 submitted, 0 skipped (done), 3 skipped (queued), 0 failed" in again.stdout
    [_, second] = submitted_scripts(env)
    assert "array" not in sbatch_options(second)  # only forget_product: one job
    with open(os.path.join(group, "forget_product", "8shots", "seed1", "launch.json")) as f:
        assert json.load(f)["job_id"] == "1001"


def test_status_of_local_runs(env, tmp_path):
    local = dict(env, LAUNCHER="local", SEEDS="1 2", FAKE_FAIL_SEEDS="2", QUIET="1")
    assert run_script("main.sh", "office_home", "art", env=local).returncode == 1
    base = os.path.join(env["OUTPUT"], "office_home", "ADU_vit_b16_ep50", "forget_art", "8shots")
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        for seed, pid in ((3, alive.pid), (4, 999999999)):
            os.makedirs(f"{base}/seed{seed}")
            with open(f"{base}/seed{seed}/launch.json", "w") as f:
                json.dump({"launcher": "local", "host": socket.gethostname(), "pid": pid}, f)
        proc, lines = status(env, env["OUTPUT"])
    finally:
        alive.kill()
    states = {run.split("/")[-1]: (state, detail) for run, (state, detail) in lines.items()
              if "/forget_art/" in run}
    assert states["seed1"][0] == "done"
    assert states["seed2"][0] == "failed" and states["seed2"][1].startswith("exit 3; log: ")
    assert states["seed3"] == ("running", f"pid {alive.pid}; no job.log")
    assert states["seed4"][0] == "failed" and "ended before the run did" in states["seed4"][1]


@pytest.mark.parametrize("settings, message", [
    ({"LAUNCHER": "cluster"}, "LAUNCHER must be local or slurm, got 'cluster'"),
    ({"TIMEOUT_MIN": "2h"}, "TIMEOUT_MIN must be a positive integer, got '2h'"),
    ({"TIMEOUT_MIN": "0"}, "TIMEOUT_MIN must be a positive integer, got '0'"),
    ({"GPUS_PER_RUN": "one"}, "GPUS_PER_RUN must be a non-negative integer, got 'one'"),
    ({"MEM_GB": "lots"}, "MEM_GB must be a positive number of gigabytes"),
    ({"PARTITION": "gpu a100"}, "PARTITION must be one word"),
    ({"SBATCH_EXTRA": "-C a100"}, "long sbatch options like --constraint=a100, got '-C'"),
    ({"SBATCH_EXTRA": "--time=10"}, "SBATCH_EXTRA sets --time, which the launcher sets"),
    ({"DEVICES": "0,1"}, "with LAUNCHER=slurm the scheduler places them"),
    ({"PATH": os.environ["PATH"]}, "needs SLURM's sbatch and srun on PATH"),
])
def test_a_bad_setting_is_one_line_before_anything_runs(env, settings, message):
    proc = run_script("main.sh", "office_home", "art", env=dict(env, **settings))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("main.sh: error: ")
    assert message in proc.stderr
    assert slurm_calls(env) == [] and not os.path.exists(env["OUTPUT"])


def test_a_refused_submission_fails_the_script(env):
    proc = run_script("main.sh", "office_home", "art", env=dict(env, FAKE_SLURM_REFUSE="1"))
    assert proc.returncode == 1
    assert "sbatch refused the submission" in proc.stderr and "invalid partition" in proc.stderr
    assert "failed: the SLURM submission of 3 run(s)" in proc.stderr


# ------------------------------------------------------- requeue and resume
def test_checkpoint_requeues_the_same_command_and_unpickles_anywhere(tmp_path):
    task = launcher.make_task(["python", "train.py", "--output-dir", "run"], str(tmp_path),
                              str(tmp_path / "job.log"))
    delayed = task.checkpoint()
    assert delayed.function.command == task.command and delayed.function.log == task.log
    assert delayed.args == () and delayed.kwargs == {}
    assert hasattr(delayed.function, "checkpoint")  # requeued again on the next signal
    # the requeued attempt waits (bounded) for the previous attempt's run-folder lock
    assert delayed.function.requeued and not task.requeued
    assert "requeued" in (tmp_path / "job.log").read_text()
    # A compute node unpickles it without tools/ on its path.
    delayed.dump(tmp_path / "task.pkl")
    code = ("import pickle, sys; d = pickle.load(open(sys.argv[1], 'rb')); "
            "print(d.function.command)")
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / "task.pkl")], cwd="/",
                          capture_output=True, text=True,
                          env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(task.command)


def python_processes_with(text):
    found = []
    for cmdline in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            if text in open(cmdline, "rb").read().decode(errors="replace"):
                found.append(cmdline)
        except OSError:
            pass
    return found


def test_usr2_checkpoints_requeues_and_the_next_attempt_finishes(env, tmp_path):
    """What SLURM's preemption does to a task (TERM, then the warning signal
    USR2, to every process of the job, as submitit's own _interrupt sends
    them): train.py survives both, submitit's handler calls checkpoint(),
    requeues (scontrol) and exits, which stops train.py; the requeued task
    runs the same command to the end."""
    folder, run = tmp_path / "submitit", str(tmp_path / "run")
    folder.mkdir()
    command = [env["PYTHON"], os.path.join(REPO, "train.py"), "--seed", "1", "--trainer",
               "ADU", "--output-dir", run, "--forget-domains", "art"]
    delayed = launcher.import_submitit().helpers.DelayedSubmission(
        launcher.make_task(command, run, f"{run}/job.log"))
    delayed.set_timeout(60, 3)
    delayed.dump(folder / "77_submitted.pkl")
    task_env = dict(os.environ, **env, SUBMITIT_EXECUTOR="slurm", SLURM_JOB_ID="77",
                    SLURM_NTASKS="1", SLURM_PROCID="0", SLURM_LOCALID="0", SLURM_NODEID="0",
                    SLURM_JOB_NUM_NODES="1", FAKE_SLEEP="60")
    first = subprocess.Popen([sys.executable, "-m", "submitit.core._submit", str(folder)],
                             env=task_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             start_new_session=True)
    deadline = time.time() + 60
    while not os.path.exists(env["FAKE_LOG"]):  # train.py has started
        assert time.time() < deadline and first.poll() is None
        time.sleep(0.2)
    os.killpg(first.pid, signal.SIGTERM)
    time.sleep(1)
    assert first.poll() is None and python_processes_with(f"--output-dir\0{run}\0")
    os.killpg(first.pid, signal.SIGUSR2)
    output = first.communicate(timeout=60)[0].decode()
    assert first.returncode != 0, output
    assert [c["args"] for c in slurm_calls(env, "scontrol")] == [["requeue", "77"]]
    time.sleep(0.5)
    assert python_processes_with(f"--output-dir\0{run}\0") == []  # train.py was stopped
    assert not os.path.exists(f"{run}/results.json")
    requeued = launcher.import_submitit().helpers.DelayedSubmission.load(
        folder / "77_submitted.pkl")
    assert requeued.function.command == command

    second = subprocess.run([sys.executable, "-m", "submitit.core._submit", str(folder)],
                            env=dict(task_env, FAKE_SLEEP="0"), capture_output=True, text=True,
                            timeout=120)
    assert second.returncode == 0, second.stdout + second.stderr
    assert os.path.isfile(f"{run}/results.json")
    log = open(f"{run}/job.log").read()
    assert log.count("slurm job 77 on") == 2 and "requeued, train.py will resume" in log


# Runs train.py, hard-killed right after the checkpoint of epoch 1 is written,
# as a scheduler's time limit would (see tests/test_reproducibility.py).
KILLED_AFTER_EPOCH_1 = """
import os, sys
sys.path.insert(0, {repo!r})
import train
from trainers.engine.base import UnlearningTrainer
saved = UnlearningTrainer.after_epoch
def after_epoch(self):
    saved(self)
    if self.epoch + 1 == 1:
        sys.stdout.flush()
        os._exit(9)
UnlearningTrainer.after_epoch = after_epoch
train.run({args!r})
"""


def test_a_requeued_run_resumes_from_its_last_checkpoint(office_home_root, tiny_clip_file,
                                                         tmp_path):
    """The resume path of a requeued task, with the real train.py: the run
    killed after epoch 1 goes on from that epoch's checkpoint in its output
    folder when checkpoint()'s submission runs the same command."""
    pytest.importorskip("dassl", reason="Dassl not installed")
    run = str(tmp_path / "run")
    args = ["--root", str(office_home_root), "--seed", "1", "--trainer", "ADU",
            "--dataset-config-file", "configs/datasets/office_home.yaml",
            "--config-file", "configs/trainers/ADU/vit_b16_ep50.yaml", "--output-dir", run,
            "--forget-domains", "art", "MODEL.BACKBONE.NAME", tiny_clip_file, *TINY_OPTS,
            "OPTIM.MAX_EPOCH", "2", "TRAIN.CHECKPOINT_FREQ", "1"]
    train_py(code=KILLED_AFTER_EPOCH_1.format(repo=REPO, args=args), expect=9)
    assert os.path.isfile(f"{run}/learner/model.pth.tar-1")
    assert not os.path.exists(f"{run}/results.json")
    task = launcher.make_task([sys.executable, "train.py", *args], run, f"{run}/job.log")
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        assert task.checkpoint().result() == 0
    finally:
        os.chdir(cwd)
    log = open(f"{run}/job.log").read()
    assert "Resuming learner" in log and "(epoch 1)" in log
    assert "epoch [1/2]" not in log and "epoch [2/2]" in log
    with open(f"{run}/results.json") as f:
        record = json.load(f)
    assert record["epoch"] == 2 and record["forget_domains"] == ["art"]


def test_a_real_run_through_slurm_matches_the_local_run(env, office_home_root, tiny_clip_file,
                                                        tmp_path):
    """The real train.py (tiny CLIP, tiny Office-Home) through main.sh, once
    here and once as an array task: the same results.json."""
    pytest.importorskip("dassl", reason="Dassl not installed")
    real = {k: v for k, v in env.items() if k not in ("FAKE_TRAIN", "PYTHON")}
    real.update(DATA=str(office_home_root), SEEDS="1")
    # the shots come from main.sh's SHOTS argument ("2"), which refuses them after --
    tiny = [v for i, v in enumerate(TINY_OPTS) if "DATASET.NUM_SHOTS" not in TINY_OPTS[i - i % 2]]
    opts = ["--", "MODEL.BACKBONE.NAME", tiny_clip_file, *tiny]
    local = dict(real, LAUNCHER="local", OUTPUT=str(tmp_path / "local"))
    proc = run_script("main.sh", "office_home", "art", "vit_b16_ep50", "2", *opts, env=local)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    proc = run_script("main.sh", "office_home", "art", "vit_b16_ep50", "2", *opts, env=real)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    wait_for_jobs(env, timeout=400)
    expected = results(local["OUTPUT"])
    assert len(expected) == 1
    assert results(real["OUTPUT"]) == expected


def test_status_sh_needs_a_folder(env):
    proc = run_script("status.sh", "/no/such/folder", env=env)
    assert proc.returncode == 2 and "no folder /no/such/folder" in proc.stderr

