#!/bin/bash
# Where the runs of a sweep stand, whichever launcher made them.
#
#   bash scripts/adu/status.sh OUTPUT
#   SEEDS="1 2 3" bash scripts/adu/status.sh output/adu/office_home
#
# One line per run folder under OUTPUT (its path below OUTPUT): done (a
# complete results.json), running or pending (a SLURM job squeue lists, or a
# local run whose script is alive), failed (the job ended without a complete
# result: SLURM's state or the exit status, and the log to read), or missing
# (the sweep's design asks for it and there is no folder: every forget
# combination of each size found, for every seed in SEEDS, else the seeds
# found). Then a count per state; exit status 0 when every run is done, else 1.
set -uo pipefail
# shellcheck source=scripts/adu/common.sh
source "$(dirname "$0")/common.sh"
launch "$@"
