"""The experiments around the method: launching runs, reading their results,
studying and benchmarking them. Library code for `tools/` and `scripts/adu/`.

Subpackages (each says what it holds):
    launch    the runs a script call plans, the skip test, the local GPU queue
              and SLURM submission, run folder names
Nothing here is imported by `trainers/` or `datasets/`: the method and the
data know nothing of the experiments built on them.
"""
