"""The figures of tools/parse_results.py --plot (matplotlib, Agg backend).

Each takes numbers experiments.results.figures has already averaged (mean, std or
None) and writes one PNG:
- plot_h: mean H per method, grouped by dataset, a panel per |D_forget|;
- plot_domains (--table domains): every domain's accuracy per method, a
  panel per (dataset, forget set), the forgotten domains hatched and named
  so: the figure that shows what unlearning did at a glance;
- plot_sweep (--sweep KEY): H, Mem and For against the swept value, a line
  per series.
"""
import os


def pyplot():
    try:
        import matplotlib
    except ImportError:
        raise SystemExit("parse_results.py: error: --plot needs matplotlib "
                         "(pip install matplotlib)") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def save(fig, plt, path):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=150)
    plt.close(fig)


def save_with_legend(fig, plt, color, methods, right, path):
    """A colour swatch per method at the right (the panels end at `right`), then save."""
    handles = [plt.Rectangle((0, 0), 1, 1, color=color[m]) for m in methods]
    fig.legend(handles, methods, fontsize="small", loc="center right")
    fig.tight_layout(rect=(0, 0, right, 1))
    save(fig, plt, path)


def colors(names):
    return {name: f"C{i % 10}" for i, name in enumerate(names)}


def plot_h(datasets, methods, ks, stats, path):
    """stats: {(dataset, method, k): (mean H, std)}; bars per method, grouped by dataset."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(ks), figsize=(max(6, 2.2 * len(datasets)) * len(ks), 4.5),
                             squeeze=False, sharey=True)
    color = colors(methods)
    for ax, k in zip(axes[0], ks):
        shown = [m for m in methods if any((d, m, k) in stats for d in datasets)]
        width = 0.8 / max(len(shown), 2)
        for i, method in enumerate(shown):
            for j, dataset in enumerate(datasets):
                if (dataset, method, k) in stats:
                    mean, std = stats[(dataset, method, k)]
                    ax.bar(j - 0.4 + width * (i + 0.5), mean, width, yerr=std or 0.0,
                           capsize=2, color=color[method])
        ax.set_xticks(range(len(datasets)), datasets)
        ax.set_title(f"|D_forget| = {k}")
        ax.set_ylim(0, 100)
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel("H (%)")
    save_with_legend(fig, plt, color, methods, 0.88, path)


def plot_domains(panels, path):
    """panels: [(title, domains, forget, {method: {domain: (mean, std)}})];
    bars of each method's accuracy per domain, forgotten domains hatched."""
    plt = pyplot()
    methods = list(dict.fromkeys(m for *_, accs in panels for m in accs))
    color = colors(methods)
    widest = max(len(domains) for _, domains, _, _ in panels)
    fig, axes = plt.subplots(len(panels), 1, figsize=(max(6, 1.6 * widest + 2), 3.8 * len(panels)),
                             squeeze=False)
    for ax, (title, domains, forget, accs) in zip(axes[:, 0], panels):
        width = 0.8 / max(len(accs), 2)
        for i, (method, by_domain) in enumerate(accs.items()):
            for j, domain in enumerate(domains):
                if domain in by_domain:
                    mean, std = by_domain[domain]
                    ax.bar(j - 0.4 + width * (i + 0.5), mean, width, yerr=std or 0.0,
                           capsize=2, color=color[method],
                           hatch="//" if domain in forget else None,
                           edgecolor="black" if domain in forget else None)
        ax.set_xticks(range(len(domains)),
                      [f"{d}\n(forgotten)" if d in forget else d for d in domains])
        for label, domain in zip(ax.get_xticklabels(), domains):
            if domain in forget:
                label.set_color("firebrick")
        ax.set_title(title)
        ax.set_ylabel("accuracy (%)")
        ax.set_ylim(0, 100)
        ax.grid(axis="y", alpha=0.3)
    save_with_legend(fig, plt, color, methods, 0.8, path)


def plot_sweep(key, values, series, path):
    """values: the swept values' labels in order; series: {label: {metric name:
    {value label: (mean, std)}}}; a panel per metric, a line per series."""
    plt = pyplot()
    metrics = list(dict.fromkeys(m for by_metric in series.values() for m in by_metric))
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 4), squeeze=False,
                             sharey=True)
    color = colors(list(series))
    for ax, metric in zip(axes[0], metrics):
        for label, by_metric in series.items():
            points = [(i, *by_metric[metric][v]) for i, v in enumerate(values)
                      if v in by_metric.get(metric, {})]
            if points:
                xs, means, stds = zip(*points)
                ax.errorbar(xs, means, yerr=[s or 0.0 for s in stds], marker="o", capsize=3,
                            color=color[label], label=label)
        ax.set_xticks(range(len(values)), values)
        ax.set_xlabel(key)
        ax.set_title(metric)
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("%")
    axes[0][-1].legend(fontsize="small")
    fig.tight_layout()
    save(fig, plt, path)
