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

USAGE="usage: bash scripts/adu/$SCRIPT DATASET FORGET KEY V1 [V2 ...] [-- KEY VALUE ...]"
split_args "$@"
((${#POSITIONAL[@]} >= 4)) || die "$USAGE"
check_settings
KEY=${POSITIONAL[2]}
VALUES=("${POSITIONAL[@]:3}")
# One "TAG<TAB>VALUE" line per value, or the one line naming a bad key or value.
OUT=$(OUTDATED_IGNORE=1 PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" -m experiments.launch.sweep_values "$KEY" "${VALUES[@]}" 2>&1) ||
    die "${OUT##*"sweep_tags.py: error: "}"
mapfile -t SWEEP < <(grep $'\t' <<<"$OUT")
for ((i = 0; i < ${#OPTS[@]}; i += 2)); do
    [[ ${OPTS[i]} != "$KEY" ]] || die "$KEY is the swept key; leave it out of the options after --"
done
load_dataset "${POSITIONAL[0]}"
set_forget "${POSITIONAL[1]}"
DEFAULT_CFG=vit_b16_ep50
[[ $DATASET != toy_domains ]] || DEFAULT_CFG=toy_tiny
CFG_NAME=${CFG:-$DEFAULT_CFG}
BASE_SHOTS=${SHOTS:-8}
[[ $BASE_SHOTS =~ ^[1-9][0-9]*$ ]] || die "SHOTS must be a positive integer, got '$BASE_SHOTS'"
load_trainer_config "$CFG_NAME"

START=$SECONDS
USER_TAG=$TAG
USER_OPTS=("${OPTS[@]}")
for LINE in "${SWEEP[@]}"; do
    VALUE_TAG=${LINE%%$'\t'*}
    VALUE=${LINE#*$'\t'}
    TAG=${USER_TAG:+$USER_TAG-}$VALUE_TAG
    SHOTS=$BASE_SHOTS
    OPTS=("${USER_OPTS[@]}")
    if [[ $KEY == DATASET.NUM_SHOTS ]]; then
        SHOTS=$VALUE
    else
        OPTS+=("$KEY" "$VALUE")
    fi
    load_trainer_config "$CFG_NAME"
    echo "== $KEY = $VALUE"
    train_seeds
done

summarize_before_table "in $((SECONDS - START)) s"
echo
"$PYTHON" "$REPO/tools/parse_results.py" "$OUTPUT/$DATASET" --sweep "$KEY"
