#!/bin/bash
# The README's toy table: every row of the paper's ablation, and ADU as the
# authors' release trains it, on the toy benchmark, for each forget domain.
#
#   bash scripts/adu/toy_report.sh                  # FORGETS="sketch clipart" SEEDS="1 2 3"
#   FORGETS=sketch SEEDS=1 bash scripts/adu/toy_report.sh
#
# Per forget domain: demo.sh (zero-shot CLIP, Baseline, ADU), ablation.sh
# (InstaPG-only, DDL-only, DDL-CE-only, DDL-MMD-only; its Baseline and ADU
# are the demo's runs, skipped) and the release config (toy_tiny_release,
# method ADU-release). Then the per-domain table of every run under
# $OUTPUT/toy_domains and the tiny CLIP's regime (tools/toy_regime.py), the
# properties the table should be read with. Finished runs are skipped, so a
# second call only prints. Settings: common.sh (OUTPUT default output/demo).
set -uo pipefail
OUTPUT=${OUTPUT:-output/demo}
SEEDS=${SEEDS:-1 2 3}
FORGETS=${FORGETS:-sketch clipart}
HERE=$(dirname "$0")
# shellcheck source=scripts/adu/common.sh
source "$HERE/common.sh"
(($# == 0)) || die "usage: [FORGETS=\"sketch clipart\"] [SEEDS=\"1 2 3\"] bash scripts/adu/toy_report.sh"
export OUTPUT SEEDS
START=$SECONDS
for FORGET in $FORGETS; do
    echo "=== forget $FORGET"
    FORGET=$FORGET bash "$HERE/demo.sh" || die "demo.sh failed (forget $FORGET)"
    TRAINER=ADU bash "$HERE/ablation.sh" toy_domains "$FORGET" toy_tiny \
        || die "ablation.sh failed (forget $FORGET)"
    TRAINER=ADU TAG=release bash "$HERE/main.sh" toy_domains "$FORGET" toy_tiny_release \
        || die "main.sh with toy_tiny_release failed (forget $FORGET)"
done
dry_run && exit 0
echo "All runs done in $((SECONDS - START)) s"
"$PYTHON" "$REPO/tools/parse_results.py" "$OUTPUT/toy_domains" --table domains --allow-missing
echo
"$PYTHON" "$REPO/tools/toy_regime.py" "$REPO/assets/tiny_clip_toy.pt" --root "$DATA"
