#!/bin/bash
# The demo: approximate domain unlearning on the toy benchmark, on a CPU.
#
#   bash scripts/adu/demo.sh
#   FORGET=clipart SEEDS="1 2 3" bash scripts/adu/demo.sh
#
# With the tiny CLIP shipped in assets/ (pretrained on the toy benchmark's
# training images by tools/pretrain_tiny_clip.py), it runs through train.py
#   1. zero-shot CLIP (before unlearning),
#   2. the paper's Baseline: deep vision prompts, L_memorize + L_forget
#      (TRAINER.ADU.INSTAPG False, TRAINER.ADU.DDL False),
#   3. full ADU (prompts + InstaPG + Domain Disentangling Loss),
# with FORGET (default: sketch) forgotten, and ends with one table: per-domain
# accuracy, Mem, For, H, and the domain classifier / linear-probe accuracies.
# The toy benchmark is generated under DATA on first use. Runs go to
# $OUTPUT/toy_domains/... (default output/demo); finished runs are skipped,
# so a second call only prints the table. Other settings: common.sh.
set -uo pipefail
OUTPUT=${OUTPUT:-output/demo}
SEEDS=${SEEDS:-1}
QUIET=${QUIET:-1}
FORGET=${FORGET:-sketch}
# shellcheck source=scripts/adu/common.sh
source "$(dirname "$0")/common.sh"

split_args "$@"
((${#POSITIONAL[@]} == 0)) || die "usage: [FORGET=domain] [SEEDS=\"1 2 3\"] bash scripts/adu/demo.sh [-- KEY VALUE ...]"
[[ -z $DEVICES ]] || die "the demo runs on the CPU one run at a time; unset DEVICES"
check_settings
SHOTS=8
load_dataset toy_domains
set_forget "$FORGET"
START=$SECONDS
USER_OPTS=("${OPTS[@]}")

echo "== 1/3 zero-shot CLIP"
TRAINER=ZeroshotCLIP TAG= OPTS=("${USER_OPTS[@]}")
load_trainer_config toy_tiny
train_seeds

echo "== 2/3 Baseline (deep vision prompts, no InstaPG, no DDL)"
TRAINER=ADU TAG=Baseline OPTS=("${USER_OPTS[@]}" "${BASELINE_SWITCHES[@]}")
load_trainer_config toy_tiny
train_seeds

echo "== 3/3 ADU (prompts + InstaPG + Domain Disentangling Loss)"
TRAINER=ADU TAG= OPTS=("${USER_OPTS[@]}")
train_seeds

summarize_before_table "in $((SECONDS - START)) s"
echo
"$PYTHON" "$REPO/tools/parse_results.py" "$OUTPUT/toy_domains" --table domains
