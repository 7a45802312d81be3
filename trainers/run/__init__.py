"""The run folder: what a run writes there and reads back, files written atomically.

`resolve.py` (what a train.py command line resolves to: its config, shared by
train.py and the launcher's skip test), `files.py` (the repository root,
atomic writes, the leftovers of a killed write), `checkpoint.py`
(checkpoints under Dassl's names, loading, exact resume, setting aside a
checkpoint that does not load), `fingerprint.py` (the config fingerprint
that ties a folder to one config) and `run_info.py` (config.yaml and
run_info.json). Nothing here imports Dassl's engine or data, trainers.engine,
trainers.modules or a trainer (resolve.py reads Dassl's default config,
which is yacs only; tests/test_layout.py checks the rest), so train.py, the
engine, the tools and experiments/ may all import it. Importing this
package imports none of them.
"""
