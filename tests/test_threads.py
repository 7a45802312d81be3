"""trainers/run/threads.py: torch's CPU threads are at most the CPUs this
process may run on, and OMP_NUM_THREADS, when set, is kept."""
from trainers.run import resolve, threads


def test_threads_are_capped_at_the_cpus_this_process_may_use(monkeypatch):
    monkeypatch.setattr(resolve.os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert threads.chosen_threads(8, environ={}) == 1
    monkeypatch.setattr(resolve.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    assert threads.chosen_threads(2, environ={}) == 2


def test_omp_num_threads_is_the_users_choice_and_kept():
    assert threads.chosen_threads(8, environ={"OMP_NUM_THREADS": "3"}) is None
