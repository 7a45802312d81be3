#!/bin/bash
# The paper's comparison (Table 1) for one forget setting: every method over
# the seeds (1 2 3), then the table.
#
#   bash scripts/adu/compare.sh DATASET FORGET [CFG] [SHOTS] [-- KEY VALUE ...]
#
#   CFG      the config name every trainer runs, configs/trainers/<T>/$CFG.yaml
#            (default: toy_tiny for toy_domains, vit_b16_ep50 otherwise)
#   FORGET, SHOTS and the options after -- as in main.sh; the options go to
#            every trainer (a TRAINER.ADU key is recorded but unused by the others)
#
# Methods, in the table's order: ZeroshotCLIP, LPPlusPlusADU, CLIPFitADU,
# BBFADU, CoOpADU, MaPLeADU, the Baseline (ADU without InstaPG and DDL, the
# folder ADU_<cfg>_Baseline as ablation.sh and demo.sh name it) and ADU.
# METHODS (environment) runs a subset, e.g. METHODS="CoOpADU ADU" (names as
# above, the Baseline as ADU-Baseline). Every config is checked before the first run. Finished runs are
# skipped; the first exit 2 of train.py (a setting to fix) stops the script.
# The table is tools/parse_results.py --table 1 over $OUTPUT/DATASET: Table 1
# averages every forget domain, so run this once per domain (the coverage
# table names the ones still missing). Environment settings: common.sh.
set -uo pipefail
# shellcheck source=scripts/adu/common.sh
source "$(dirname "$0")/common.sh"
launch "$@"
