"""Run folder infrastructure: what a run's command line resolves to
(`resolve.py`). Plain Python and yacs (no torch, no Dassl engine), so that
the launcher (experiments/launch/) can use it as train.py does. Importing
this package imports none of its modules.
"""
