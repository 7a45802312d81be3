"""Time the scripts on the toy benchmark beside the demo, per run.

    python tools/toy_scripts_bench.py [--data DATA] [--out FOLDER] [--busy]
        [--scripts demo,main,compare,ablation] [--seed 1] [--epochs N]

Runs, one after the other and each into a fresh folder of its own under
--out (so that nothing is skipped as done), the cheap toy commands of
docs/TOY.md with one seed: demo.sh (zero-shot, Baseline, ADU), main.sh
toy_domains sketch (ADU), compare.sh with METHODS="CoOpADU ADU" and
ablation.sh toy_domains sketch (6 runs). Prints each script's wall time, its
runs (counted by a DRY_RUN call first), the time per run and its ratio to
the demo's time per run (the demo's three runs include the zero-shot one,
which trains nothing: the ratios are upper bounds). Issue 38's target:
compare.sh and ablation.sh at most 1.5x the demo per run, beside one busy
process (--busy starts one Python that keeps a core busy for the whole
measurement). The scripts' own defaults apply (OMP_NUM_THREADS is left out
of their environment unless set for this tool).
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from experiments.bench.toy_scripts import measure_main, parse_args  # noqa: E402,F401


def main(argv=None) -> int:
    return measure_main(argv)


if __name__ == "__main__":
    sys.exit(main())
