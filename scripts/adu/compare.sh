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

# TRAINER|TAG of each method ("" TAG: the plain trainer).
ALL_METHODS=(ZeroshotCLIP LPPlusPlusADU CLIPFitADU BBFADU CoOpADU MaPLeADU "ADU|Baseline" ADU)
METHODS_WANTED=${METHODS:-}

[[ -z $TAG ]] || die "the comparison sets TAG itself (the Baseline); unset TAG"
split_args "$@"
((${#POSITIONAL[@]} >= 2 && ${#POSITIONAL[@]} <= 4)) ||
    die "usage: bash scripts/adu/$SCRIPT DATASET FORGET [CFG] [SHOTS] [-- KEY VALUE ...]"
check_settings
load_dataset "${POSITIONAL[0]}"
set_forget "${POSITIONAL[1]}"
DEFAULT_CFG=vit_b16_ep50
[[ $DATASET != toy_domains ]] || DEFAULT_CFG=toy_tiny
CFG_NAME=${POSITIONAL[2]:-$DEFAULT_CFG}
SHOTS=${POSITIONAL[3]:-8}
[[ $SHOTS =~ ^[1-9][0-9]*$ ]] || die "SHOTS must be a positive integer, got '$SHOTS'"

# METHODS_WANTED -> METHODS, in the table's order; an unknown name is an error.
METHODS=()
if [[ -z $METHODS_WANTED ]]; then
    METHODS=("${ALL_METHODS[@]}")
else
    read -r -a WANTED <<<"$METHODS_WANTED"
    for NAME in "${WANTED[@]}"; do
        [[ " ${ALL_METHODS[*]/|/-} " == *" $NAME "* ]] ||
            die "unknown method '$NAME' in METHODS; methods: ${ALL_METHODS[*]/|/-}"
    done
    for METHOD in "${ALL_METHODS[@]}"; do
        [[ " ${WANTED[*]} " != *" ${METHOD/|/-} "* ]] || METHODS+=("$METHOD")
    done
fi

# METHOD -> TRAINER and TAG.
select_method() {
    TRAINER=${1%%|*}
    TAG=
    [[ $1 != *"|"* ]] || TAG=${1#*|}
}

# A missing config would otherwise stop the script hours in.
for METHOD in "${METHODS[@]}"; do
    select_method "$METHOD"
    load_trainer_config "$CFG_NAME"
done

START=$SECONDS
USER_OPTS=("${OPTS[@]}")
for METHOD in "${METHODS[@]}"; do
    select_method "$METHOD"
    OPTS=("${USER_OPTS[@]}")
    [[ $TAG != Baseline ]] || OPTS+=("${BASELINE_SWITCHES[@]}")
    load_trainer_config "$CFG_NAME"
    echo "== $TRAINER${TAG:+-$TAG}"
    train_seeds
done

summarize_before_table "in $((SECONDS - START)) s"
read -r -a SEED_ARRAY <<<"$SEEDS"
echo
"$PYTHON" "$REPO/tools/parse_results.py" "$OUTPUT/$DATASET" --table 1 \
    --seeds "$(IFS=,; echo "${SEED_ARRAY[*]}")" --allow-missing
