#!/bin/bash
# The paper's ablation for one forget setting: Baseline (no InstaPG, no DDL),
# InstaPG only, DDL only, DDL with its CE term only, DDL with its MMD term
# only, and full ADU, each over the seeds (1 2 3).
#
#   bash scripts/adu/ablation.sh DATASET FORGET [CFG] [SHOTS] [-- KEY VALUE ...]
#
# Arguments as in main.sh. Each variant is a TAG (the folder ADU_<cfg>_<tag>,
# the method ADU-<tag> in results.json and the tables) plus its TRAINER.ADU
# switches; full ADU is the untagged ADU_<cfg> run that main.sh and sweep.sh
# make, so it is trained once. The paper averages the ablation over every
# forget domain: run this once per domain (or the parser reports the other
# combinations as missing). Environment settings: common.sh.
set -uo pipefail
# shellcheck source=scripts/adu/common.sh
source "$(dirname "$0")/common.sh"
launch "$@"
