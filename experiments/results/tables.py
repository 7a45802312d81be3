"""The tables of tools/parse_results.py: Table 1 and Table 2 (methods by
dataset and |D_forget|), the coverage table, the per-cell CSV, the
per-domain table (--table domains) and the sweep table (--sweep)."""
from experiments.results.value_tags import value_text
from experiments.results.cells import cell_order, domain_groups, mean_std
from experiments.results.formatting import csv_text, format_stat, seed_list, text_table
from experiments.results.order import by_dataset, by_method
from experiments.results.records import METRICS, OPTIONAL_METRICS


def layout_headers(groups, multiline):
    """The header of each column: a (dataset, k) group's H / Mem / For / runs."""
    headers = ["method"]
    for _, _, label in groups:
        for i, (_, name) in enumerate(METRICS + (("runs", "runs"),)):
            if multiline:
                headers.append(f"{label}\n{name}" if i == 0 else f"\n{name}")
            else:
                headers.append(f"{label} {name}")
    return headers


def layout_rows(cells, groups, multiline):
    """Rows = methods, column groups = (dataset, k) pairs, each H / Mem / For / runs."""
    methods = sorted({m for (_, m, _) in cells}, key=by_method)
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
    return layout_headers(groups, multiline), rows


def table_layouts(cells, which):
    """[(title, groups)] of Table 1 and the Table 2 of each dataset."""
    datasets = sorted({d for d, _, _ in cells}, key=by_dataset)
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


def domain_columns(runs):
    """Every domain column, in each dataset's order, and the optional metrics shown."""
    domains = []
    for run in sorted(runs, key=lambda r: by_dataset(r.dataset)):
        domains += [d for d in run.domains if d not in domains]
    optional = [(k, n) for k, n in OPTIONAL_METRICS if any(k in r.details for r in runs)]
    return domains, optional


def domain_row(key, group, domains, optional):
    """One row of --table domains: the means over the seeds of `group`."""
    def mean_of(pick):
        values = [v for v in map(pick, group) if v is not None]
        return format_stat(*mean_std(values)) if values else "-"

    row = [key[0], ",".join(key[1]), key[2]]
    for d in domains:
        acc = mean_of(lambda r: r.details.get(f"acc:{d}"))
        row.append(acc + "*" if d in key[1] and acc != "-" else acc)
    row += [mean_of(lambda r, k=k: r.scores[k]) for k, _ in METRICS[::-1]]
    row += [mean_of(lambda r, k=k: r.details.get(k)) for k, _ in optional]
    return row + [seed_list(group)]


def domain_table(runs):
    """(headers, rows) of --table domains: one row per (dataset, forget set,
    method), each domain's accuracy (forgotten ones marked *), Mem, For, H
    and the optional accuracies, averaged over the seeds found."""
    groups = domain_groups(runs)
    domains, optional = domain_columns(runs)
    headers = (["dataset", "forget", "method"] + domains + [n for _, n in METRICS[::-1]]
               + [n for _, n in optional] + ["seeds"])
    order = sorted(groups, key=lambda g: (by_dataset(g[0]), g[1], by_method(g[2])))
    return headers, [domain_row(key, groups[key], domains, optional) for key in order]


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


def render_sweep(points, key, fmt):
    """--sweep KEY: H / Mem / For (mean ± std over seeds) per series and value."""
    headers = ["dataset", "forget", "method", key] + [n for _, n in METRICS] + ["seeds"]
    rows = []
    for p in points:
        stats = [mean_std([r.scores[k] for r in p.runs]) for k, _ in METRICS]
        row = [p.dataset, ",".join(p.forget), p.method, value_text(p.value)]
        if fmt == "csv":
            row += [f"{v:.4f}" if v is not None else "" for s in stats for v in s]
        else:
            row += [format_stat(*s) for s in stats]
        rows.append(row + [seed_list(p.runs)])
    if fmt == "csv":
        headers = headers[:4] + [f"{k}_{s}" for k, _ in METRICS for s in ("mean", "std")] + [
            "seeds"]
        return csv_text([headers] + rows)
    title = f"Sensitivity to {key}: H / Mem / For (%), mean ± std over seeds"
    return f"{title}\n" + text_table(rows, headers, fmt)
