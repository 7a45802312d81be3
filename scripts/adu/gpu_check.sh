#!/bin/bash
# Measure this machine's GPU for ADU in one call (a few minutes).
#
#   bash scripts/adu/gpu_check.sh [OUT]        (default OUT: output/gpu_check)
#
# The ADU step in PREC fp16, amp and fp32 at batch 32 and 128 against the
# frozen encoder's floor, peak GPU memory, evaluation throughput, the data
# loader's images/s at 224 px from JPEG files beside what a step consumes, a
# 2-epoch toy run through train.py with its H, and an fp16 non-finite check
# over its steps: one Markdown table (printed, and OUT/gpu_check.md) and
# OUT/gpu_check.json (tools/gpu_check.py says what each row is). Without a
# CUDA GPU it says so in one line and exits 0. DATA (where the toy benchmark
# is generated on first use) and PYTHON as in common.sh.
set -uo pipefail
# shellcheck source=scripts/adu/common.sh
source "$(dirname "$0")/common.sh"
launch "$@"
