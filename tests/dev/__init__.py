"""Development machinery, used only by the tests and two tools, never by the
product (train.py, trainers/, datasets/, configs/, experiments/):

    faults    fault injection: hooks installed from outside the production
              code around one train.py run, and the kill-and-rerun trials
              (tools/fault_inject.py, tests/test_fault_tolerance.py)
    mutants   mutation testing of the suite: the mutants as data, one applied
              to a copy of the tree, the fast tier run on it (tools/mutants.py,
              tests/test_mutants_list.py)

Imported as `tests.dev` with the repository root on sys.path (the tools put
it there; a fault trial runs `python -m tests.dev.faults.child` from it).
tests/test_layout.py checks that nothing outside tests/ and tools/ imports it.
"""
