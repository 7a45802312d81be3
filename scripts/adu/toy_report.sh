#!/bin/bash
# The toy table of docs/TOY.md (three of its rows are in the README): every
# row of the paper's ablation, and ADU as the authors' release trains it, on
# the toy benchmark, for each forget domain.
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
# shellcheck source=scripts/adu/common.sh
source "$(dirname "$0")/common.sh"
# One torch thread unless OMP_NUM_THREADS says otherwise: the tiny CLIP's
# operations are too small to gain from a second one, and on a busy 2-core
# machine two threads made a step 3.7x slower (docs/PERFORMANCE.md).
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
launch "$@"
