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
# so a second call only prints the table. SEEDS defaults to 1 and QUIET to 1
# here (experiments/launch/settings.py); other settings: common.sh.
set -uo pipefail
# shellcheck source=scripts/adu/common.sh
source "$(dirname "$0")/common.sh"
# One torch thread unless OMP_NUM_THREADS says otherwise: the tiny CLIP's
# operations are too small to gain from a second one, and on a busy 2-core
# machine two threads made a step 3.7x slower (docs/PERFORMANCE.md).
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
launch "$@"
