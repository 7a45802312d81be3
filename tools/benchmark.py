"""What an ADU training step and ADU evaluation cost, side by side.

    python tools/benchmark.py            # CLIP ViT-B/16, random weights; GPU if present
    python tools/benchmark.py --tiny     # the tiny CLIP, a smoke run of a few seconds
    python tools/benchmark.py --backbone open_clip:ViT-B-16   # open_clip's ViT-B/16
    python tools/benchmark.py --backbone open_clip:ViT-B-16-SigLIP2   # a timm tower
        # (also EVA02-B-16, PE-Core-B-16; row 7 is skipped: no CoOp text prompts there)

ADU trains prompts on a frozen CLIP whose class text features are cached, so
a step should cost a frozen image-encoder forward + a backward to the
prompts, and evaluation should run at stock CLIP speed. This script measures
that claim and prints one table:

 1  floor: stock `encode_image` forward + backward to the input (frozen CLIP)
 2  Baseline step: deep vision prompts, L_memorize + L_forget
 3  ADU step: prompts + InstaPG + Domain Disentangling Loss; plus the number of
    text-encoder calls inside the training steps of 2 and 3 (must be 0), and
    (3s) the host syncs per ADU step at the config's TRAIN.PRINT_FREQ
    (experiments/bench/syncs.py counts `.item()`, `.cpu()`, bool and the like)
 4  evaluation throughput of the ADU model vs stock `encode_image` (no_grad)
 5  all-pairs MMD^2 from one kernel matrix vs per-domain-pair loops
 6  peak memory of 1-3 (CPU: resident set of a forked process; GPU:
    max_memory_allocated), above what the built model already holds
 7  the ADU step if the class text features were recomputed through the text
    encoder every step, as trainers that learn text prompts (CoOp) must do
 8  training images/s of Dassl's loader, persistent workers and the shot cache
    (2 workers, 224 px from 512 x 384 JPEGs), beside what a GPU step consumes
 9  the two linear probes of results.json fitted to their gradient tolerance on
    synthetic features of Office-Home's and ImageNet's sizes: seconds, peak
    memory, iterations, converged

Every time is the median of timed runs after --warmup untimed ones. The
training steps (and the two evaluations) are timed in turn, round by round,
and their ratios are medians of per-round ratios, so that changes in the
machine's load between rounds cancel. Weights are random: timing does not
depend on their values. On CPU the default run takes a quarter of an hour on
2 cores (one ViT-B/16 step at batch 32 takes ~20-40 s there); --tiny takes
seconds. The logic lives in experiments/bench/.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from experiments.bench.settings import Settings  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tiny", action="store_true",
                   help="the tiny CLIP, batch 4, one repetition: a smoke run")
    p.add_argument("--device", default="", help="cpu or cuda (default: cuda if present)")
    p.add_argument("--prec", default="",
                   help="fp32, fp16 or amp (default: fp16 on GPU, fp32 on CPU)")
    p.add_argument("--batch", type=int, default=None, help="training batch (32)")
    p.add_argument("--eval-batch", type=int, default=None, help="default: --batch")
    p.add_argument("--reps", type=int, default=None,
                   help="timed repetitions of each training step (3)")
    p.add_argument("--eval-reps", type=int, default=None,
                   help="timed repetitions of each evaluation batch (5)")
    p.add_argument("--warmup", type=int, default=None, help="untimed runs first (1)")
    p.add_argument("--classes", type=int, default=65, help="classes of the ADU model")
    p.add_argument("--coop-classes", default="65,1000",
                   help="class counts of the text-recompute contrast (row 7)")
    p.add_argument("--text-chunk", type=int, default=0,
                   help="most classes per text-encoder pass in row 7 (default: 125 "
                        "on CPU, all on GPU); the cost is summed over the chunks")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default: the CPUs this process may use)")
    p.add_argument("--mmd-batch", type=int, default=128)
    p.add_argument("--mmd-domains", type=int, default=6)
    p.add_argument("--grad-checkpointing", action="store_true",
                   help="also run the ADU step with gradient checkpointing (3c, 6d)")
    p.add_argument("--skip", default="",
                   help="rows to leave out, comma-separated: 5 (MMD), 7 (text recompute), "
                        "8 (data loaders), 9 (probes)")
    p.add_argument("--backbone", default="openai",
                   help="openai (clip's model code, default) or open_clip:ARCH: open_clip's "
                        "ARCH (e.g. ViT-B-16, or a model-config JSON), random weights")
    p.add_argument("--probe-sizes", type=lambda v: v.split(","), default=None,
                   help="row 9's sizes, comma-separated: office_home, imagenet, tiny "
                        "(default office_home,imagenet; --tiny: tiny)")
    p.add_argument("--json", default="", metavar="PATH",
                   help="also write the measurements (seconds, images/s, MiB) to PATH")
    args = p.parse_args(argv)
    args.skip = {r.strip() for r in args.skip.split(",") if r.strip()}
    if not args.skip <= {"5", "7", "8", "9"}:
        p.error(f"--skip takes rows 5, 7, 8 and 9 only, got {','.join(sorted(args.skip))}")
    args.coop_classes = [int(c) for c in args.coop_classes.split(",") if c]
    if args.backbone != "openai" and not args.backbone.startswith("open_clip:"):
        p.error(f"--backbone takes openai or open_clip:ARCH, got {args.backbone}")
    return Settings(**vars(args))


def main(argv=None):
    settings = parse_args(argv)
    from experiments.bench.benchmark import run_benchmark  # torch: after --help
    return run_benchmark(settings)


if __name__ == "__main__":
    main()
