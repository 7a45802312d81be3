#!/bin/bash
# A sensitivity sweep: one config key over values, each over the seeds (1 2 3),
# for one forget setting, then the table of H / Mem / For against the value.
#
#   bash scripts/adu/sensitivity.sh DATASET FORGET KEY V1 [V2 ...] [-- KEY VALUE ...]
#   e.g. bash scripts/adu/sensitivity.sh toy_domains sketch TRAINER.ADU.DDL_GAMMA 0 10 30 100
#
#   KEY      a config key that changes results (TRAINER.ADU.DDL_GAMMA,
#            TRAINER.ADU.DDL_LAMBDA, DATASET.NUM_SHOTS, OPTIM.MAX_EPOCH, ...)
#   V1 ...   its values, as on train.py's command line (30 for a float key is fine)
#   FORGET and the options after -- as in main.sh (they must not set KEY)
#   CFG      (environment) the config name (default: toy_tiny for toy_domains,
#            vit_b16_ep50 otherwise); SHOTS (environment) shots (default: 8)
#
# Each value runs under its own tag, <last part of KEY>-<value>: the folder
# <trainer>_<cfg>_DDL_GAMMA-30 and the method <trainer>-DDL_GAMMA-30 (with
# TAG=Baseline: ..._Baseline-DDL_GAMMA-30), so runs of different values never
# share a folder (TAG names a variant only: its switches go after --, e.g.
# TAG=Baseline ... -- TRAINER.ADU.INSTAPG False TRAINER.ADU.DDL False).
# DATASET.NUM_SHOTS sets the shots (folder <N>shots) instead.
# Keys whose valid values depend on each other (PROMPT_DEPTH_VISION and
# INSTAPG_LAYERS) need the other key after -- (e.g. -- TRAINER.ADU.INSTAPG_LAYERS
# "[4]"); train.py names the clash. The table at the end is
# tools/parse_results.py $OUTPUT/DATASET --sweep KEY (add --plot FILE for a
# figure). Other environment settings: common.sh.
set -uo pipefail
# shellcheck source=scripts/adu/common.sh
source "$(dirname "$0")/common.sh"
launch "$@"
