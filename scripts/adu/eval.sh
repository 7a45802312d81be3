#!/bin/bash
# Evaluate the saved models of finished runs again, without training.
#
#   bash scripts/adu/eval.sh RUN_ROOT [EPOCH] [-- KEY VALUE ...]
#
#   RUN_ROOT  runs made by main.sh, sweep.sh or ablation.sh, at any level
#             (output/adu, output/adu/office_home/ADU_vit_b16_ep50, one seed...)
#   EPOCH     the checkpoint to load (default: each run's last saved epoch)
#   -- ...    config options appended to train.py's command line
#
# Each run folder under RUN_ROOT with a complete results.json and saved
# weights is evaluated with its own config.yaml (train.py --eval-only
# --model-dir RUN --load-epoch E) into $EVAL_OUTPUT/ + the run's last five
# path parts (<dataset>/<trainer>_<cfg>[_<tag>]/forget_<a+b>/<shots>shots/seed<N>),
# the last followed by _ and 8 hex digits of the run's path (one folder per
# source run), as results_eval_epoch<E>.json: never the run's results.json.
# EVAL_OUTPUT defaults to output/adu_eval, or output/adu_eval_epoch<EPOCH>
# when EPOCH is given; `tools/parse_results.py EVAL_OUTPUT --evaluations`
# tabulates them, never mixed with the training runs. A done evaluation (its
# record, of the same config and source run) is skipped. DATA, if set, replaces each run's dataset root; DEVICES, DRY_RUN
# and PYTHON as in common.sh.
set -uo pipefail
# shellcheck source=scripts/adu/common.sh
source "$(dirname "$0")/common.sh"
launch "$@"
