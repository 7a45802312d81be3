"""One call that measures a GPU for ADU (scripts/adu/gpu_check.sh), in a few minutes.

    python tools/gpu_check.py --out output/gpu_check [--data data]

What it measures, into OUT/gpu_check.md (one Markdown table, also printed)
and OUT/gpu_check.json:
- the device, torch, CUDA, cuDNN and driver versions;
- the ADU training step against the frozen encoder's floor (a forward and a
  backward of stock encode_image) in PREC fp16, amp and fp32 at batch 32
  and 128, with the peak GPU memory of the step (max_memory_allocated) and
  the evaluation throughput: tools/benchmark.py's rows 1-4 and 6, one
  benchmark call per setting (its output in OUT/benchmark.log), and its row
  3s, the host syncs per step (0 a step, 1 a log read in PREC fp16/fp32;
  amp's GradScaler adds its own);
- the data loader at 224 px from JPEG files, with the configs' workers and
  train transform: Dassl's loader as train.py builds it, with
  DATALOADER.PERSISTENT_WORKERS, and with DATALOADER.CACHE_SHOTS; each beside
  the images per second the fp16 step at batch 128 consumes: a loader slower
  than the step means the GPU waits for data;
- a 2-epoch run of ADU on the toy benchmark through train.py in PREC fp16,
  with its H, and the non-finite check over its steps: train.py stops on a
  non-finite loss (loss_log.LossLog.read), every logged loss must be finite
  and so must every trained weight.

On a machine without a CUDA GPU it says so in one line and exits 0.
--smoke runs the same code on the CPU at toy sizes (tiny CLIP, a few
images, one epoch), to test this program where there is no GPU. The logic
lives in experiments/bench/.
"""
import os
import sys
import warnings

os.environ.setdefault("OUTDATED_IGNORE", "1")  # Dassl -> wilds: no network check
if __name__ == "__main__":
    # Dassl -> wilds -> outdated imports pkg_resources in a thread: a warning
    # no user can act on (as in tools/check_data.py), filtered in this program only.
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from experiments.bench import gpu_check  # noqa: E402


def parse_args(argv=None):
    return gpu_check.parse_args(argv)


def main(argv=None) -> int:
    return gpu_check.main(argv)


if __name__ == "__main__":
    sys.exit(main())
