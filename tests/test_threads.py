"""torch's CPU threads: at most the CPUs this process may run on
(trainers/run/threads.py), OMP_NUM_THREADS kept when set, and one thread
for the demo's tiny runs when OMP_NUM_THREADS is unset."""
from script_harness import train_calls
from train_harness import run_script
from trainers.run import threads


def test_threads_are_capped_at_the_cpus_this_process_may_use(monkeypatch):
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert threads.chosen_threads(8, environ={}) == 1
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    assert threads.chosen_threads(2, environ={}) == 2


def test_omp_num_threads_is_the_users_choice_and_kept():
    assert threads.chosen_threads(8, environ={"OMP_NUM_THREADS": "3"}) is None


def test_the_demo_trains_with_one_thread_when_omp_num_threads_is_unset(fake_env, monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    proc = run_script("demo.sh", env=fake_env)
    assert proc.returncode == 0, proc.stderr
    calls = train_calls(fake_env)
    assert len(calls) == 3 and {c["threads"] for c in calls} == {"1"}


def test_the_test_workers_threads_fit_the_cpus(monkeypatch):
    """`make test`'s workers (tests/conftest.py): workers x threads stays
    within the usable CPUs, one thread at least, two at most."""
    import conftest
    for cpus, workers, expected in [(2, 2, 1), (2, 1, 2), (16, 8, 2), (12, 8, 1), (1, 1, 1)]:
        monkeypatch.setattr(conftest, "cpu_count", lambda: cpus)
        monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", str(workers))
        assert conftest.threads_per_process() == expected, (cpus, workers)
        assert conftest.pytest_xdist_auto_num_workers(None) == min(cpus, 8)
