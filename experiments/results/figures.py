"""The figure of each table (--plot): the averaged numbers that
experiments/results/plots.py draws, in the tables' orders."""
from experiments.results.value_tags import value_text
from experiments.results import plots
from experiments.results.cells import domain_groups, mean_std
from experiments.results.order import by_dataset, by_method
from experiments.results.records import METRICS
from experiments.results.sweep import value_order


def plot_h(cells, path):
    """Bars of mean H (error bar: std) per method, grouped by dataset."""
    plots.plot_h(sorted({d for d, _, _ in cells}, key=by_dataset),
                 sorted({m for _, m, _ in cells}, key=by_method),
                 sorted({k for _, _, k in cells}),
                 {key: cell.stats("h") for key, cell in cells.items()}, path)


def domain_accuracies(group) -> dict:
    """{domain: (mean, std)} of the accuracies the runs of `group` recorded."""
    accs = {}
    for domain in group[0].domains:
        values = [r.details[f"acc:{domain}"] for r in group if f"acc:{domain}" in r.details]
        if values:
            accs[domain] = mean_std(values)
    return accs


def plot_domains(runs, path):
    """--table domains: each domain's accuracy per method, a panel per
    (dataset, forget set), the forgotten domains marked."""
    panels = {}
    for (dataset, forget, method), group in domain_groups(runs).items():
        panel = panels.setdefault((dataset, forget), (group[0].domains, {}))
        panel[1][method] = domain_accuracies(group)
    order = sorted(panels, key=lambda p: (by_dataset(p[0]), p[1]))
    plots.plot_domains(
        [(f"{d}, forget {','.join(f)}", panels[(d, f)][0], f,
          {m: panels[(d, f)][1][m] for m in sorted(panels[(d, f)][1], key=by_method)})
         for d, f in order], path)


def plot_sweep(points, key, path):
    """--sweep KEY: H, Mem and For against the value, a line per series."""
    values = list(dict.fromkeys(value_text(v) for v in value_order([p.value for p in points])))
    series = {}
    for p in points:
        label = f"{p.method} ({p.dataset}, forget {','.join(p.forget)})"
        by_metric = series.setdefault(label, {})
        for k, name in METRICS:
            by_metric.setdefault(name, {})[value_text(p.value)] = mean_std(
                [r.scores[k] for r in p.runs])
    plots.plot_sweep(key, values, series, path)
