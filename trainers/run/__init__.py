"""The run folder: what a run writes there and reads back, files written atomically.

`files.py` (the repository root, atomic writes, the leftovers of a killed
write), `checkpoint.py` (checkpoints under Dassl's names, loading, exact
resume, setting aside a checkpoint that does not load), `checkpoint_digest.py`,
`fingerprint.py` (the config fingerprint that ties a folder to one config;
it reads the project's keys from trainers/config.py), `config_summary.py`,
`lock.py` and `run_folder.py` (one run per folder), `os_errors.py`,
`threads.py` and `run_info.py` (config.yaml and run_info.json). Nothing here
imports Dassl, trainers.engine, trainers.modules or a trainer
(tests/test_layout.py checks it), so train.py, the engine, the tools and
experiments/ may all import it. Importing this package imports none of them.
"""
