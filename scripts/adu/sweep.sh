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

parse_run_args K "$@"
K=${POSITIONAL[1]}
MAX_K=$((${#DOMAINS[@]} - 1))
if ! [[ $K =~ ^[0-9]+$ ]] || ((K < 1 || K > MAX_K)); then
    die "K must be from 1 to $MAX_K for $DATASET (${#DOMAINS[@]} domains: ${DOMAINS[*]}), got '$K'"
fi

# K PREFIX DOMAIN...: every K-subset of the domains, comma-joined, one a line,
# in the order of itertools.combinations.
combinations() {
    local k=$1 prefix=$2
    shift 2
    if ((k == 0)); then
        echo "${prefix#,}"
        return
    fi
    while (($# >= k)); do
        combinations $((k - 1)) "$prefix,$1" "${@:2}"
        shift
    done
}

mapfile -t COMBOS < <(combinations "$K" "" "${DOMAINS[@]}")
echo "$DATASET: ${#COMBOS[@]} forget combination(s) of size $K: ${COMBOS[*]}"
for FORGET in "${COMBOS[@]}"; do
    set_forget "$FORGET"
    train_seeds
done
summarize
