"""Average results.json files into the paper's tables (docs/METHOD.md section 5).

    python tools/parse_results.py output/adu [more roots] [--format markdown]
    python tools/parse_results.py output/adu --seeds 1,2,3 --allow-missing --plot h.png
    python tools/parse_results.py output/demo/toy_domains --table domains --plot domains.png
    python tools/parse_results.py output/adu/toy_domains --sweep TRAINER.ADU.DDL_GAMMA --plot g.png
    python tools/parse_results.py --check output/adu/.../seed1/results.json
    python tools/parse_results.py output/adu_eval --evaluations   # eval.sh's records

Every results.json under the roots is one run. Runs are grouped into cells
(dataset, method, |D_forget|); a cell's H, Mem and For are the mean and the
sample standard deviation over its runs, i.e. over seeds and forget-domain
combinations. H is averaged per run, never recomputed from the averaged Mem
and For. Table 1 holds |D_forget| = 1 (rows: methods, column groups:
datasets); Table 2 holds every |D_forget| of a dataset.

A cell is complete when every combination of |D_forget| of the dataset's
domains (from results.json) has a run for every expected seed (--seeds).
The coverage table gives, per cell, the combinations and runs found and
"k/N seeds found" (the fewest expected seeds found in a combination that
has runs); missing runs are named and make the exit status 1 unless
--allow-missing. `--format csv` writes one row per cell, numbers only.
A corrupt, partial or inconsistent results.json (edited by hand: its
record_sha256, or an H that is not the harmonic mean of its Mem and For;
trainers/run/provenance.py) is named in a warning with what makes it right
and left out; the others are tabulated and the exit status is 2.
`--evaluations` tabulates the records of train.py --eval-only
(results_eval_epoch<E>.json, eval.sh's) instead of results.json.

Runs are averaged only when they ran the same config: each results.json
records the keys of its config that change results (`fingerprint_keys`,
trainers/run/fingerprint.py), and the runs of a cell (or of a row of
--table domains) must agree on all of them but the seed and the forget
domains, which a cell averages over. Otherwise nothing is tabulated: the
differing keys and runs are named and the exit status is 1. Runs written
before fingerprints (no `fingerprint_keys`) are averaged among themselves
as before, with a warning, and never with runs that record a config.
`--sweep KEY` tabulates the runs of scripts/adu/sensitivity.sh instead
(experiments/results/sweep.py); `--plot` draws the figure of the table
asked for (experiments/results/figures.py). The logic lives in
experiments/results/.
Exit status: 0 fine, 1 missing runs, runs of different configs in one cell
or no results, 2 bad usage or a damaged file.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from experiments.results import cli  # noqa: E402


def parse_args(argv=None):
    return cli.parse_args(argv)


def main(argv=None) -> int:
    return cli.main(argv)


if __name__ == "__main__":
    sys.exit(main())
