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
# path parts (<dataset>/<trainer>_<cfg>[_<tag>]/forget_<a+b>/<shots>shots/seed<N>).
# EVAL_OUTPUT defaults to output/adu_eval, or output/adu_eval_epoch<EPOCH>
# when EPOCH is given, so that `tools/parse_results.py` never mixes them with
# the training runs. A done evaluation (results.json of the same config) is
# skipped. DATA, if set, replaces each run's dataset root; DEVICES, DRY_RUN
# and PYTHON as in common.sh.
set -uo pipefail
RUN_DATA=${DATA:-}
# shellcheck source=scripts/adu/common.sh
source "$(dirname "$0")/common.sh"

split_args "$@"
((${#POSITIONAL[@]} >= 1 && ${#POSITIONAL[@]} <= 2)) ||
    die "usage: bash scripts/adu/eval.sh RUN_ROOT [EPOCH] [-- KEY VALUE ...]"
check_settings
RUN_ROOT=${POSITIONAL[0]%/}
EPOCH=${POSITIONAL[1]:-}
[[ -d $RUN_ROOT ]] || die "no folder $RUN_ROOT"
[[ -z $EPOCH || $EPOCH =~ ^[1-9][0-9]*$ ]] || die "EPOCH must be a positive integer, got '$EPOCH'"
EVAL_OUTPUT=${EVAL_OUTPUT:-output/adu_eval${EPOCH:+_epoch$EPOCH}}

# RUN: the epochs of its saved weights, ascending, space-separated.
saved_epochs() {
    local f
    for f in "$1"/*/model.pth.tar-*; do
        [[ -f $f ]] && echo "${f##*-}"
    done | sort -nu | tr '\n' ' '
}

# RUN: where its evaluation goes (EVAL_OUTPUT + its last five path parts).
eval_dir() {
    local -a parts
    IFS=/ read -r -a parts <<<"$1"
    local first=$((${#parts[@]} > 5 ? ${#parts[@]} - 5 : 0))
    echo "$EVAL_OUTPUT/$(IFS=/; echo "${parts[*]:first}")"
}

mapfile -d '' -t CONFIGS < <(find "$RUN_ROOT" -name config.yaml -print0 | sort -z)
FOUND=0
for CONFIG in "${CONFIGS[@]}"; do
    RUN=${CONFIG%/config.yaml}
    read -r -a EPOCHS <<<"$(saved_epochs "$RUN")"
    if ((${#EPOCHS[@]} == 0)); then
        echo "skip: $RUN (no saved weights)"
        continue
    fi
    if ! "$PYTHON" "$REPO/tools/parse_results.py" --check "$RUN/results.json" 2>/dev/null; then
        echo "skip: $RUN (not finished: no complete results.json)"
        continue
    fi
    FOUND=$((FOUND + 1))
    LOAD=${EPOCH:-${EPOCHS[-1]}}
    if [[ " ${EPOCHS[*]} " != *" $LOAD "* ]]; then
        FAILED+=("$RUN (no weights of epoch $LOAD; saved: ${EPOCHS[*]})")
        echo "$RUN has no weights of epoch $LOAD (saved: ${EPOCHS[*]})"
        continue
    fi
    OUT=$(eval_dir "$RUN")
    CMD=("$PYTHON" "$REPO/train.py" --config-file "$RUN/config.yaml" --output-dir "$OUT"
        --eval-only --model-dir "$RUN" --load-epoch "$LOAD")
    [[ -z $RUN_DATA ]] || CMD+=(--root "$RUN_DATA")
    if results_exist "$OUT" "${CMD[@]}" "${OPTS[@]}"; then
        echo "skip: $OUT (done: results.json of the same config)"
        SKIPPED=$((SKIPPED + 1))
        continue
    fi
    submit "$OUT" "$OUT/job.log" "${CMD[@]}" "${OPTS[@]}"
done

((FOUND)) || die "no finished run (config.yaml, results.json and saved weights) under $RUN_ROOT"
summarize
