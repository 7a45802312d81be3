"""The main() of tools/parse_results.py (whose docstring is the manual):
its command line parsed, then `summary.summarize`. The launcher's scripts
call `main` for the table they end with."""
import argparse

from experiments.results.summary import summarize

DESCRIPTION = "Average results.json files into the paper's tables (docs/METHOD.md section 5)."


def parse_seeds(text):
    try:
        seeds = sorted({int(s) for s in text.split(",") if s.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got '{text}'")
    if not seeds:
        raise argparse.ArgumentTypeError("no seed given")
    return seeds


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="parse_results.py", description=DESCRIPTION,
        epilog="Exit status: 0 fine, 1 missing runs, runs of different configs in one "
               "cell or no results, 2 bad usage or a damaged file (the others are "
               "tabulated).")
    parser.add_argument("roots", nargs="+", metavar="OUTPUT_ROOT",
                        help="folders searched for results.json (with --check: the files)")
    parser.add_argument("--format", choices=["table", "markdown", "csv"], default="table",
                        help="terminal table (default), Markdown, or CSV with one row per cell")
    parser.add_argument("--table", choices=["1", "2", "all", "domains"], default="all",
                        help="Table 1 (|D_forget| = 1), Table 2 (every |D_forget| per "
                             "dataset), all (Table 2 only where |D_forget| > 1 exists), "
                             "or domains: per-domain accuracy per (dataset, forget set, "
                             "method), averaged over the seeds found (no coverage check)")
    parser.add_argument("--seeds", type=parse_seeds, default=[1, 2, 3],
                        help="expected seeds, comma-separated (default: 1,2,3)")
    parser.add_argument("--allow-missing", action="store_true",
                        help="report missing runs but exit 0")
    parser.add_argument("--plot", metavar="PNG",
                        help="also save a figure: bars of H per method; with --table "
                             "domains, every domain's accuracy per method (forgotten "
                             "domains marked); with --sweep, H / Mem / For against the value")
    parser.add_argument("--sweep", metavar="KEY",
                        help="the runs of scripts/adu/sensitivity.sh over config key KEY: "
                             "H / Mem / For (mean ± std over seeds) per method and value "
                             "(read from each results.json's config; no coverage check)")
    parser.add_argument("--evaluations", action="store_true",
                        help="tabulate the records of train.py --eval-only "
                             "(results_eval_epoch<E>.json, e.g. eval.sh's) instead of the "
                             "training runs' results.json")
    parser.add_argument("--check", action="store_true",
                        help="only check that the given results.json files are complete")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    """The exit status of `parse_results.py ARGV` (a usage error: 2, argparse's)."""
    try:
        args = parse_args(argv)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 2
    return summarize(args)
