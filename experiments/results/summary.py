"""What tools/parse_results.py does with its parsed arguments: check files,
or load the runs under the roots, refuse to average runs of different
configs, and print the table asked for (its figure with --plot); the exit
status is the tool's. A damaged or inconsistent record is named in one line
and left out; the table of the others is printed, and the exit status is 2."""
import os
import sys

from experiments.results import figures
from experiments.results.cells import (build_cells, cell_groups, domain_row_groups,
                                       missing_runs)
from experiments.results.configs import config_conflicts, report_conflicts
from experiments.results.records import RESULTS_FILE, check_files, find_results, load_runs
from experiments.results.sweep import SweepError, sweep_points
from experiments.results.tables import render_csv, render_domains, render_sweep, render_text


def warn(message):
    print(f"warning: {message}", file=sys.stderr)


def plotted(draw, path, *data):
    """--plot: draw the figure into `path` and say so."""
    if path:
        draw(*data, path)
        print(f"plot written to {path}", file=sys.stderr)


def read_roots(roots, evaluations=False, damaged=None):
    """(runs under `roots`, exit status): 2 for a root that is no folder, 1
    when no run is readable (2 when every file found was damaged); the
    damaged files' paths go to `damaged`."""
    for root in roots:
        if not os.path.isdir(root):
            print(f"parse_results.py: error: {root} is not a folder", file=sys.stderr)
            return [], 2
    paths = find_results(roots, evaluations)
    damaged = [] if damaged is None else damaged
    runs = load_runs(paths, warn, evaluations, damaged)
    name = "results_eval_epoch*.json" if evaluations else RESULTS_FILE
    if not runs:
        what = (f"no readable {name} among the {len(paths)} found" if paths
                else f"no {name} found")
        print(f"parse_results.py: {what} under {', '.join(roots)}; nothing to "
              "tabulate (have the runs finished?)", file=sys.stderr)
        return [], 2 if damaged else 1
    unrecorded = sum(r.config is None for r in runs)
    if unrecorded:
        warn(f"{unrecorded} of {len(runs)} runs record no config fingerprint (results.json "
             "written by older code): those are averaged together unchecked")
    return runs, 0


def sweep_summary(runs, args) -> int:
    """--sweep KEY: the sweep table."""
    try:
        points, groups = sweep_points(runs, args.sweep, warn)
    except SweepError as err:
        print(f"parse_results.py: {err}", file=sys.stderr)
        return 1
    if report_conflicts(config_conflicts(groups)):
        return 1
    print(render_sweep(points, args.sweep, args.format))
    plotted(figures.plot_sweep, args.plot, points, args.sweep)
    return 0


def domains_summary(runs, args) -> int:
    """--table domains: the per-domain table."""
    if report_conflicts(config_conflicts(domain_row_groups(runs))):
        return 1
    print(render_domains(runs, args.format))
    plotted(figures.plot_domains, args.plot, runs)
    return 0


def report_missing(missing, allow_missing) -> int:
    """Name the incomplete forget combinations on stderr; 1 unless allowed."""
    verdict = ("accepted with --allow-missing" if allow_missing
               else "pass --allow-missing to accept")
    print(f"\n{len(missing)} incomplete forget combination(s) ({verdict}):", file=sys.stderr)
    for (dataset, method, k), text in missing:
        print(f"  {dataset} / {method} / |D_forget|={k}: {text}", file=sys.stderr)
    return 0 if allow_missing else 1


def tables_summary(runs, args) -> int:
    """Table 1 / Table 2 and the coverage (or the per-cell CSV)."""
    cells = build_cells(runs, warn)
    if report_conflicts(config_conflicts(cell_groups(cells))):
        return 1
    if args.format == "csv":
        print(render_csv(cells, args.seeds))
    else:
        print(render_text(cells, args.seeds, args.format, args.table))
    plotted(figures.plot_h, args.plot, cells)
    missing = missing_runs(cells, args.seeds)
    return report_missing(missing, args.allow_missing) if missing else 0


def summarize(args) -> int:
    """The exit status of tools/parse_results.py for its parsed `args`."""
    if args.check:
        return check_files(args.roots)
    damaged = []
    runs, status = read_roots(args.roots, getattr(args, "evaluations", False), damaged)
    if status:
        return status
    if args.sweep:
        status = sweep_summary(runs, args)
    elif args.table == "domains":
        status = domains_summary(runs, args)
    else:
        status = tables_summary(runs, args)
    if damaged:
        print(f"parse_results.py: {len(damaged)} damaged or inconsistent file(s) left out "
              "(named above); the table holds the others", file=sys.stderr)
        return 2
    return status
