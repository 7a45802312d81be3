#!/bin/bash
# Train and evaluate one forget setting over the seeds (1 2 3).
#
#   bash scripts/adu/main.sh DATASET FORGET [CFG] [SHOTS] [-- KEY VALUE ...]
#
#   DATASET  office_home, mini_domainnet, domainnet, imagenet, pacs, ...
#   FORGET   one domain or a comma-separated set, e.g. art or art,clipart
#   CFG      configs/trainers/$TRAINER/$CFG.yaml         (default: toy_tiny for
#            toy_domains, vit_b16_ep50 otherwise)
#   SHOTS    shots per (class, domain), DATASET.NUM_SHOTS (default: 8)
#   -- ...   config options appended to train.py's command line
#
# Runs go to $OUTPUT/DATASET/<trainer>_<cfg>[_<tag>]/forget_<a+b>/<shots>shots/seed<N>
# (<cfg> gains _<backbone> and _<size>px when options after -- change them,
# and _pseudo / _soft with DATASET.DOMAIN_LABELS pseudo / soft);
# a run whose results.json is complete and of the same config is skipped (a
# folder of another config makes train.py stop, naming the keys that differ).
# Environment settings (DATA, TRAINER, OUTPUT, SEEDS, TAG, DEVICES, LAUNCHER,
# DRY_RUN, PYTHON): common.sh.
set -uo pipefail
# shellcheck source=scripts/adu/common.sh
source "$(dirname "$0")/common.sh"
launch "$@"
