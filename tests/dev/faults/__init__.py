"""Fault injection: training runs that kill themselves at a chosen moment,
and the trials that check a rerun ends exactly like an uninterrupted run.

    hooks.py   the phases, the event counter that SIGKILLs the process at
               the K-th event of one, and `install`, which wraps the seams of
               the engine from outside (the step, a checkpoint's bytes, a
               test batch, results.json between write and rename)
    child.py   the entry a trial runs instead of train.py: installs the
               hooks, then calls train.py's run()
    trials.py  the reference run, the seeded trial plan, the reruns and the
               table (tools/fault_inject.py is its command line)
The production code (train.py, trainers/) knows nothing of this package:
without the child entry no hook exists. Only tools/ and the tests import it.
"""
