#!/bin/bash
# Every forget-domain combination of size K, each over the seeds (1 2 3):
# the runs the paper averages for one |D_forget|.
#
#   bash scripts/adu/sweep.sh DATASET K [CFG] [SHOTS] [-- KEY VALUE ...]
#
#   K        |D_forget|, from 1 to (number of domains - 1)
#   CFG, SHOTS and the options after -- as in main.sh
#
# With DEVICES="0,1,2" the runs are spread over the GPUs, one per GPU at a
# time; a failed run is reported at the end (exit 1) and does not stop the
# others. Environment settings: common.sh.
set -uo pipefail
# shellcheck source=scripts/adu/common.sh
source "$(dirname "$0")/common.sh"
launch "$@"
