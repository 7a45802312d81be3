"""Average results.json files into the paper's tables (docs/METHOD.md section 5).

    python tools/parse_results.py output/adu [more roots] [--format markdown]
    python tools/parse_results.py output/adu --seeds 1,2,3 --allow-missing --plot h.png
    python tools/parse_results.py output/demo/toy_domains --table domains --plot domains.png
    python tools/parse_results.py output/adu/toy_domains --sweep TRAINER.ADU.DDL_GAMMA --plot g.png
    python tools/parse_results.py --check output/adu/.../seed1/results.json

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
A corrupt or partial results.json is named in a warning and left out.

Runs are averaged only when they ran the same config: each results.json
records the keys of its config that change results (`fingerprint_keys`,
trainers/engine/fingerprint.py), and the runs of a cell (or of a row of
--table domains) must agree on all of them but the seed and the forget
domains, which a cell averages over. Otherwise nothing is tabulated: the
differing keys and runs are named and the exit status is 1. Runs written
before fingerprints (no `fingerprint_keys`) are averaged among themselves
as before, with a warning, and never with runs that record a config.
`--sweep KEY` tabulates the runs of scripts/adu/sensitivity.sh instead
(tools/sweep_table.py); `--plot` draws the figure of the table asked for
(tools/plots.py).
Exit status: 0 fine, 1 missing runs, runs of different configs in one cell
or no results, 2 bad usage.
"""
import argparse
import csv
import io
import json
import math
import os
import statistics
import sys
from dataclasses import dataclass, field
from itertools import combinations

# The sibling modules of tools/, also when this file is imported from elsewhere.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import plots  # noqa: E402
from sweep_table import SweepError, sweep_points, value_order  # noqa: E402
from experiments.launch.sweep_values import value_text  # noqa: E402

sys.path.pop(0)

RESULTS_FILE = "results.json"
METRICS = (("h", "H"), ("mem", "Mem"), ("for", "For"))
# Shown by --table domains where the runs have them.
OPTIONAL_METRICS = (("domain_accuracy", "domain clf"), ("domain_probe_accuracy", "domain probe"),
                    ("forget_class_probe_accuracy", "forget-class probe"),
                    ("rec_at_8", "Rec@8"))
# tools/robustness.py's file beside a results.json: "Rec@8" is its probe at
# k = 8 shots per class on the run's embeddings (forget-domain test accuracy).
ROBUSTNESS_FILE = "robustness.json"
# The paper's row and column order; other names follow alphabetically.
METHOD_ORDER = ["ZeroshotCLIP", "LPPlusPlusADU", "CLIPFitADU", "BBFADU", "CoOpADU",
                "MaPLeADU", "ADU-Baseline", "ADU-InstaPG-only", "ADU-DDL-only",
                "ADU-DDL-CE-only", "ADU-DDL-MMD-only", "ADU", "ADU-pseudo", "ADU-soft"]
DATASET_ORDER = ["imagenet", "office_home", "mini_domainnet", "domainnet", "pacs"]
# Config keys the runs of one cell differ in by design: it averages over them.
AVERAGED_KEYS = ("SEED", "DATASET.FORGET_DOMAINS")
# Differing keys named per conflict; the rest are counted.
MAX_NAMED_KEYS = 6


class ResultError(Exception):
    """A results.json that cannot be used, with the reason."""


@dataclass(frozen=True)
class Run:
    path: str
    dataset: str
    method: str
    num_shots: object
    domains: tuple
    forget: tuple
    seed: int
    scores: dict  # {"h", "mem", "for"} in percent
    # per-domain accuracy and the optional accuracies (domain classifier,
    # probes) in percent, where the run has them: for --table domains
    details: dict = field(default_factory=dict, compare=False)
    # its config's keys that change results, but AVERAGED_KEYS; None for a
    # results.json written before fingerprints
    config: object = field(default=None, compare=False)


def require(record: dict, key: str, kind, what: str):
    value = record.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ResultError(f"'{key}' is missing or not {what}")
    return value


def robustness_details(results_path: str, fingerprint) -> dict:
    """{"rec_at_8": ...} from the run's robustness.json when it is there, readable
    and of the same run (fingerprint); else nothing."""
    try:
        with open(os.path.join(os.path.dirname(results_path), ROBUSTNESS_FILE)) as f:
            record = json.load(f)
        value = record["probe"]["unlearned"]["8"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    if record.get("fingerprint") != fingerprint or not isinstance(value, (int, float)):
        return {}
    return {"rec_at_8": float(value)}


def read_result(path: str) -> Run:
    """One results.json (as written by trainers/engine/evaluation.py) -> Run."""
    try:
        with open(path) as f:
            record = json.load(f)
    except json.JSONDecodeError as err:
        raise ResultError(f"not valid JSON ({err})") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ResultError(f"cannot be read ({err})") from None
    if not isinstance(record, dict):
        raise ResultError("not a JSON object")
    dataset = require(record, "dataset", str, "a name")
    method = require(record, "method", str, "a name")
    seed = require(record, "seed", int, "an integer")
    domains = tuple(require(record, "domains", list, "a list"))
    forget = tuple(require(record, "forget_domains", list, "a list"))
    if not forget or not set(forget) < set(domains):
        raise ResultError(f"forget_domains {list(forget)} is not a proper, non-empty "
                          f"subset of domains {list(domains)}")
    scores = {}
    for key, _ in METRICS:
        value = require(record, key, (int, float), "a number")
        if not math.isfinite(value):
            raise ResultError(f"'{key}' is {value}")
        scores[key] = float(value)
    forget = tuple(d for d in domains if d in forget)  # the dataset's domain order
    details = {key: record[key] for key, _ in OPTIONAL_METRICS
               if isinstance(record.get(key), (int, float))}
    for name, row in (record.get("per_domain") or {}).items():
        if isinstance(row, dict) and isinstance(row.get("accuracy"), (int, float)):
            details[f"acc:{name}"] = row["accuracy"]
    details.update(robustness_details(path, record.get("fingerprint")))
    keys = record.get("fingerprint_keys")
    config = ({k: v for k, v in keys.items() if k not in AVERAGED_KEYS}
              if isinstance(keys, dict) else None)
    return Run(path, dataset, method, record.get("num_shots"), domains, forget, seed,
               scores, details, config)


def find_results(roots):
    """Paths of every results.json under the roots, sorted."""
    found = []
    for root in roots:
        for folder, _, files in os.walk(root):
            if RESULTS_FILE in files:
                found.append(os.path.join(folder, RESULTS_FILE))
    return sorted(found)


def load_runs(paths, warn):
    """Readable runs of `paths`; every other file is named through `warn`."""
    runs, seen = [], {}
    for path in paths:
        try:
            run = read_result(path)
        except ResultError as err:
            warn(f"skipping {path}: {err}")
            continue
        key = (run.dataset, run.method, run.num_shots, run.forget, run.seed)
        if key in seen:
            warn(f"skipping {path}: the same run (dataset {run.dataset}, method "
                 f"{run.method}, forget {','.join(run.forget)}, seed {run.seed}) is "
                 f"already in {seen[key]}")
            continue
        seen[key] = path
        runs.append(run)
    return runs


def config_conflict(label, runs):
    """A line naming the configs of `runs` (one cell or row) when they do not
    all agree (a run without a recorded config agrees with none); else None."""
    unrecorded = [r for r in runs if r.config is None]
    if not unrecorded or len(unrecorded) == len(runs):
        variants = {}
        for run in runs:
            variants.setdefault(json.dumps(run.config, sort_keys=True), []).append(run)
        if len(variants) < 2:
            return None
        configs = [group[0].config for group in variants.values()]
        keys = sorted(k for k in set().union(*configs)
                      if len({json.dumps(c.get(k, "(absent)")) for c in configs}) > 1)
        named = keys[:MAX_NAMED_KEYS]
        more = f" and {len(keys) - len(named)} more" if len(keys) > len(named) else ""
        parts = []
        for group in variants.values():
            values = ", ".join(f"{k}={group[0].config.get(k, '(absent)')}" for k in named)
            parts.append(f"[{values}] in {len(group)} run(s), e.g. {group[0].path}")
        return (f"{label}: runs of {len(variants)} different configs (they differ in "
                f"{', '.join(named)}{more}): " + "; ".join(parts))
    return (f"{label}: {len(unrecorded)} of {len(runs)} runs record no config fingerprint "
            f"(written by older code), e.g. {unrecorded[0].path}; the others do")


def config_conflicts(groups) -> list:
    """config_conflict of every (label, runs) that has one."""
    return [line for label, runs in groups if (line := config_conflict(label, runs))]


def report_conflicts(conflicts) -> int:
    """Name the conflicts on stderr; 1 when there are any (nothing is averaged)."""
    if not conflicts:
        return 0
    print("parse_results.py: error: runs of different configs would be averaged into "
          "one number; rerun them with one config, or keep them under separate output "
          "roots (OUTPUT) or TAGs:", file=sys.stderr)
    for line in conflicts:
        print(f"  {line}", file=sys.stderr)
    return 1


def mean_std(values):
    """Mean and sample standard deviation (None for a single value)."""
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)


@dataclass
class Cell:
    """The runs of one (dataset, method, |D_forget|) and what is missing."""
    dataset: str
    method: str
    k: int
    domains: tuple
    runs: list = field(default_factory=list)

    def stats(self, key):
        return mean_std([r.scores[key] for r in self.runs])

    def seeds_by_combination(self):
        """{forget combination: set of seeds found}, every expected combination included."""
        found = {combo: set() for combo in combinations(self.domains, self.k)}
        for run in self.runs:
            found.setdefault(run.forget, set()).add(run.seed)
        return found

    def coverage(self, seeds):
        """(combinations found, expected; k of N seeds found; missing runs named)."""
        expected = set(seeds)
        by_combo = self.seeds_by_combination()
        n_expected = math.comb(len(self.domains), self.k)
        present = {c: s for c, s in by_combo.items() if s}
        fewest = min((len(s & expected) for s in present.values()), default=0)
        missing = []
        for combo, found in by_combo.items():
            lacking = sorted(expected - found)
            if lacking and not found:
                missing.append(f"forget {','.join(combo)}: no run (0/{len(expected)} "
                               "seeds found)")
            elif lacking:
                missing.append(f"forget {','.join(combo)}: {len(expected & found)}/"
                               f"{len(expected)} seeds found (missing seed "
                               f"{', '.join(map(str, lacking))})")
        extra = sorted({r.seed for r in self.runs} - expected)
        return {
            "combinations": f"{len(present)}/{n_expected}",
            "seeds": f"{fewest}/{len(expected)}",
            "runs": len(self.runs),
            "expected_runs": n_expected * len(expected),
            "missing": missing,
            "extra_seeds": extra,
        }


def order_key(order):
    return lambda name: (order.index(name) if name in order else len(order), name)


def build_cells(runs, warn):
    """{(dataset, method, k): Cell}; a method shows its shots if they differ."""
    shots = {r.num_shots for r in runs}
    cells, domains_of = {}, {}
    for run in runs:
        known = domains_of.setdefault(run.dataset, run.domains)
        if run.domains != known:
            warn(f"{run.path} lists the domains of {run.dataset} as {list(run.domains)}, "
                 f"other runs as {list(known)}; expected combinations use the latter")
        method = run.method if len(shots) == 1 else f"{run.method} ({run.num_shots} shots)"
        key = (run.dataset, method, len(run.forget))
        cell = cells.setdefault(key, Cell(run.dataset, method, len(run.forget), known))
        cell.runs.append(run)
    return cells


def format_stat(mean, std):
    return f"{mean:.2f}" if std is None else f"{mean:.2f} ± {std:.2f}"


def layout_rows(cells, groups, multiline):
    """Rows = methods, column groups = (dataset, k) pairs, each H / Mem / For / runs."""
    methods = sorted({m for (_, m, _) in cells}, key=order_key(METHOD_ORDER))
    headers = ["method"]
    for dataset, k, label in groups:
        for i, (_, name) in enumerate(METRICS + (("runs", "runs"),)):
            if multiline:
                headers.append(f"{label}\n{name}" if i == 0 else f"\n{name}")
            else:
                headers.append(f"{label} {name}")
    rows = []
    for method in methods:
        if not any((d, method, k) in cells for d, k, _ in groups):
            continue
        row = [method]
        for dataset, k, _ in groups:
            cell = cells.get((dataset, method, k))
            if cell is None:
                row += ["-"] * (len(METRICS) + 1)
                continue
            row += [format_stat(*cell.stats(key)) for key, _ in METRICS]
            row.append(str(len(cell.runs)))
        rows.append(row)
    return headers, rows


def table_layouts(cells, which):
    """[(title, groups)] of Table 1 and the Table 2 of each dataset."""
    datasets = sorted({d for d, _, _ in cells}, key=order_key(DATASET_ORDER))
    ks = {d: sorted({k for dd, _, k in cells if dd == d}) for d in datasets}
    layouts = []
    if which in ("1", "all") and any(1 in ks[d] for d in datasets):
        layouts.append(("Table 1: H / Mem / For (%), |D_forget| = 1",
                        [(d, 1, d) for d in datasets if 1 in ks[d]]))
    for d in datasets:
        if which == "2" or (which == "all" and ks[d] != [1]):
            layouts.append((f"Table 2: {d}, H / Mem / For (%) by |D_forget|",
                            [(d, k, f"|D_forget|={k}") for k in ks[d]]))
    return layouts


def cell_order(cells):
    """Cell keys by dataset, method (the paper's orders) and |D_forget|."""
    return sorted(cells, key=lambda c: (order_key(DATASET_ORDER)(c[0]),
                                        order_key(METHOD_ORDER)(c[1]), c[2]))


def coverage_rows(cells, seeds):
    rows = []
    for key in cell_order(cells):
        cov = cells[key].coverage(seeds)
        note = f"{len(cov['missing'])} combination(s) incomplete" if cov["missing"] else ""
        if cov["extra_seeds"]:
            note += ("; " if note else "") + "also seed " + ", ".join(
                map(str, cov["extra_seeds"]))
        rows.append([key[0], key[1], key[2], cov["combinations"],
                     f"{cov['runs']}/{cov['expected_runs']}", cov["seeds"] + " seeds found",
                     note])
    return rows


def domain_groups(runs):
    """{(dataset, forget set, method): runs}, the rows of --table domains."""
    groups = {}
    for run in runs:
        groups.setdefault((run.dataset, run.forget, run.method), []).append(run)
    return groups


def domain_table(runs):
    """(headers, rows) of --table domains: one row per (dataset, forget set,
    method), each domain's accuracy (forgotten ones marked *), Mem, For, H
    and the optional accuracies, averaged over the seeds found."""
    groups = domain_groups(runs)
    domains = []  # every domain column, in each dataset's order
    for run in sorted(runs, key=lambda r: order_key(DATASET_ORDER)(r.dataset)):
        domains += [d for d in run.domains if d not in domains]
    optional = [(k, n) for k, n in OPTIONAL_METRICS if any(k in r.details for r in runs)]
    headers = (["dataset", "forget", "method"] + domains + [n for _, n in METRICS[::-1]]
               + [n for _, n in optional] + ["seeds"])
    rows = []
    for key in sorted(groups, key=lambda g: (order_key(DATASET_ORDER)(g[0]), g[1],
                                             order_key(METHOD_ORDER)(g[2]))):
        group = groups[key]

        def mean_of(pick):
            values = [v for v in map(pick, group) if v is not None]
            return format_stat(*mean_std(values)) if values else "-"

        row = [key[0], ",".join(key[1]), key[2]]
        for d in domains:
            acc = mean_of(lambda r: r.details.get(f"acc:{d}"))
            row.append(acc + "*" if d in key[1] and acc != "-" else acc)
        row += [mean_of(lambda r, k=k: r.scores[k]) for k, _ in METRICS[::-1]]
        row += [mean_of(lambda r, k=k: r.details.get(k)) for k, _ in optional]
        row.append(",".join(str(r.seed) for r in sorted(group, key=lambda r: r.seed)))
        rows.append(row)
    return headers, rows


def text_table(rows, headers, fmt):
    """A terminal ("table") or Markdown ("markdown") table of string cells."""
    from tabulate import tabulate  # imported here: the scripts' --check calls stay quick
    if fmt == "markdown":  # a bare '|' in |D_forget| would split a Markdown cell
        headers = [h.replace("|", "\\|") for h in headers]
        rows = [[str(v).replace("|", "\\|") for v in row] for row in rows]
    return tabulate(rows, headers=headers, disable_numparse=True,
                    tablefmt="github" if fmt == "markdown" else "simple")


def csv_text(rows) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue().rstrip("\n")


def render_domains(runs, fmt):
    headers, rows = domain_table(runs)
    if fmt == "csv":
        return csv_text([headers] + rows)
    title = "Per-domain accuracy (%), * = forgotten domain; mean ± std over seeds"
    return f"{title}\n" + text_table(rows, headers, fmt)


def render_text(cells, seeds, fmt, which):
    out = []
    for title, groups in table_layouts(cells, which):
        headers, rows = layout_rows(cells, groups, multiline=fmt == "table")
        out.append(f"## {title}" if fmt == "markdown" else title)
        out.append(text_table(rows, headers, fmt))
        out.append("")
    out.append("## Coverage" if fmt == "markdown" else "Coverage")
    out.append(text_table(coverage_rows(cells, seeds),
                          ["dataset", "method", "|D_forget|", "combinations", "runs", "seeds",
                           "note"], fmt))
    return "\n".join(out)


def render_csv(cells, seeds):
    """One row per cell (tidy: numbers, not 'mean ± std' strings)."""
    rows = [["dataset", "method", "forget_size", "runs", "expected_runs",
             "combinations", "seeds_found"]
            + [f"{key}_{s}" for key, _ in METRICS for s in ("mean", "std")]
            + ["missing"]]
    for key in cell_order(cells):
        cell = cells[key]
        cov = cell.coverage(seeds)
        row = [*key, cov["runs"], cov["expected_runs"], cov["combinations"], cov["seeds"]]
        for metric, _ in METRICS:
            mean, std = cell.stats(metric)
            row += [f"{mean:.4f}", "" if std is None else f"{std:.4f}"]
        rows.append(row + ["; ".join(cov["missing"])])
    return csv_text(rows)


def plot_h(cells, path):
    """--plot: bars of mean H (error bar: std) per method, grouped by dataset."""
    plots.plot_h(sorted({d for d, _, _ in cells}, key=order_key(DATASET_ORDER)),
                 sorted({m for _, m, _ in cells}, key=order_key(METHOD_ORDER)),
                 sorted({k for _, _, k in cells}),
                 {key: cell.stats("h") for key, cell in cells.items()}, path)


def plot_domains(runs, path):
    """--table domains --plot: each domain's accuracy per method, a panel per
    (dataset, forget set), the forgotten domains marked."""
    panels = {}
    for (dataset, forget, method), group in domain_groups(runs).items():
        accs = {}
        for domain in group[0].domains:
            values = [r.details[f"acc:{domain}"] for r in group
                      if f"acc:{domain}" in r.details]
            if values:
                accs[domain] = mean_std(values)
        panel = panels.setdefault((dataset, forget), (group[0].domains, {}))
        panel[1][method] = accs
    order = sorted(panels, key=lambda p: (order_key(DATASET_ORDER)(p[0]), p[1]))
    plots.plot_domains(
        [(f"{d}, forget {','.join(f)}", panels[(d, f)][0], f,
          {m: panels[(d, f)][1][m] for m in sorted(panels[(d, f)][1],
                                                   key=order_key(METHOD_ORDER))})
         for d, f in order], path)


def sweep_table(points, key, fmt):
    """--sweep KEY: H / Mem / For (mean ± std over seeds) per series and value."""
    headers = ["dataset", "forget", "method", key] + [n for _, n in METRICS] + ["seeds"]
    rows = []
    for p in points:
        stats = [mean_std([r.scores[k] for r in p.runs]) for k, _ in METRICS]
        seeds = ",".join(str(r.seed) for r in sorted(p.runs, key=lambda r: r.seed))
        row = [p.dataset, ",".join(p.forget), p.method, value_text(p.value)]
        if fmt == "csv":
            row += [f"{v:.4f}" if v is not None else "" for s in stats for v in s]
        else:
            row += [format_stat(*s) for s in stats]
        rows.append(row + [seeds])
    if fmt == "csv":
        headers = headers[:4] + [f"{k}_{s}" for k, _ in METRICS for s in ("mean", "std")] + [
            "seeds"]
        return csv_text([headers] + rows)
    title = f"Sensitivity to {key}: H / Mem / For (%), mean ± std over seeds"
    return f"{title}\n" + text_table(rows, headers, fmt)


def plot_sweep(points, key, path):
    values = list(dict.fromkeys(value_text(v) for v in value_order([p.value for p in points])))
    series = {}
    for p in points:
        label = f"{p.method} ({p.dataset}, forget {','.join(p.forget)})"
        by_metric = series.setdefault(label, {})
        for k, name in METRICS:
            by_metric.setdefault(name, {})[value_text(p.value)] = mean_std(
                [r.scores[k] for r in p.runs])
    plots.plot_sweep(key, values, series, path)


def parse_seeds(text):
    try:
        seeds = sorted({int(s) for s in text.split(",") if s.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got '{text}'")
    if not seeds:
        raise argparse.ArgumentTypeError("no seed given")
    return seeds


def check_files(paths) -> int:
    """--check: 0 when every file is a complete results.json, else 1 (reasons on stderr)."""
    bad = 0
    for path in paths:
        try:
            read_result(path)
        except ResultError as err:
            print(f"{path}: {err}", file=sys.stderr)
            bad += 1
    return 1 if bad else 0


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        epilog="Exit status: 0 fine, 1 missing runs, runs of different configs in one "
               "cell or no results, 2 bad usage.")
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
    parser.add_argument("--check", action="store_true",
                        help="only check that the given results.json files are complete")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.check:
        return check_files(args.roots)

    def warn(message):
        print(f"warning: {message}", file=sys.stderr)

    for root in args.roots:
        if not os.path.isdir(root):
            print(f"parse_results.py: error: {root} is not a folder", file=sys.stderr)
            return 2
    paths = find_results(args.roots)
    runs = load_runs(paths, warn)
    if not runs:
        what = (f"no readable results.json among the {len(paths)} found" if paths
                else f"no {RESULTS_FILE} found")
        print(f"parse_results.py: {what} under {', '.join(args.roots)}; nothing to "
              "tabulate (have the runs finished?)", file=sys.stderr)
        return 1
    unrecorded = sum(r.config is None for r in runs)
    if unrecorded:
        warn(f"{unrecorded} of {len(runs)} runs record no config fingerprint (results.json "
             "written by older code): those are averaged together unchecked")
    if args.sweep:
        try:
            points, groups = sweep_points(runs, args.sweep, warn)
        except SweepError as err:
            print(f"parse_results.py: {err}", file=sys.stderr)
            return 1
        if report_conflicts(config_conflicts(groups)):
            return 1
        print(sweep_table(points, args.sweep, args.format))
        if args.plot:
            plot_sweep(points, args.sweep, args.plot)
            print(f"plot written to {args.plot}", file=sys.stderr)
        return 0
    if args.table == "domains":
        groups = [(f"{d} / forget {','.join(f)} / {m}", group)
                  for (d, f, m), group in domain_groups(runs).items()]
        if report_conflicts(config_conflicts(groups)):
            return 1
        print(render_domains(runs, args.format))
        if args.plot:
            plot_domains(runs, args.plot)
            print(f"plot written to {args.plot}", file=sys.stderr)
        return 0
    cells = build_cells(runs, warn)
    groups = [(f"{d} / {m} / |D_forget|={k}", cells[(d, m, k)].runs)
              for d, m, k in cell_order(cells)]
    if report_conflicts(config_conflicts(groups)):
        return 1
    if args.format == "csv":
        print(render_csv(cells, args.seeds))
    else:
        print(render_text(cells, args.seeds, args.format, args.table))
    if args.plot:
        plot_h(cells, args.plot)
        print(f"plot written to {args.plot}", file=sys.stderr)

    missing = [(key, m) for key in cell_order(cells)
               for m in cells[key].coverage(args.seeds)["missing"]]
    if missing:
        verdict = ("accepted with --allow-missing" if args.allow_missing
                   else "pass --allow-missing to accept")
        print(f"\n{len(missing)} incomplete forget combination(s) ({verdict}):",
              file=sys.stderr)
        for (dataset, method, k), text in missing:
            print(f"  {dataset} / {method} / |D_forget|={k}: {text}", file=sys.stderr)
        return 0 if args.allow_missing else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
