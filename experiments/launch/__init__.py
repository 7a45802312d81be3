"""Launching the runs of scripts/adu/: what a script call plans, which runs
are already done, where each runs (the local GPU queue or SLURM), and how
the run folders are named. Imports no torch and no Dassl engine."""
