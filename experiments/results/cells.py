"""Runs grouped into cells (dataset, method, |D_forget|) and into the rows of
--table domains, with their means, standard deviations and coverage."""
import math
import statistics
from dataclasses import dataclass, field
from itertools import combinations

from experiments.results.order import by_dataset, by_method


def mean_std(values):
    """Mean and sample standard deviation (None for a single value)."""
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)


def missing_line(combo, expected, found) -> str:
    """What a forget combination lacks of the expected seeds, or "" for nothing."""
    lacking = sorted(expected - found)
    if lacking and not found:
        return f"forget {','.join(combo)}: no run (0/{len(expected)} seeds found)"
    if lacking:
        return (f"forget {','.join(combo)}: {len(expected & found)}/{len(expected)} seeds "
                f"found (missing seed {', '.join(map(str, lacking))})")
    return ""


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
        missing = [line for combo, found in by_combo.items()
                   if (line := missing_line(combo, expected, found))]
        return {
            "combinations": f"{len(present)}/{n_expected}",
            "seeds": f"{fewest}/{len(expected)}",
            "runs": len(self.runs),
            "expected_runs": n_expected * len(expected),
            "missing": missing,
            "extra_seeds": sorted({r.seed for r in self.runs} - expected),
        }


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


def cell_order(cells):
    """Cell keys by dataset, method (the paper's orders) and |D_forget|."""
    return sorted(cells, key=lambda c: (by_dataset(c[0]), by_method(c[1]), c[2]))


def cell_groups(cells):
    """[(label, runs)] of every cell, for the config check."""
    return [(f"{d} / {m} / |D_forget|={k}", cells[(d, m, k)].runs)
            for d, m, k in cell_order(cells)]


def domain_groups(runs):
    """{(dataset, forget set, method): runs}, the rows of --table domains."""
    groups = {}
    for run in runs:
        groups.setdefault((run.dataset, run.forget, run.method), []).append(run)
    return groups


def domain_row_groups(runs):
    """[(label, runs)] of every row of --table domains, for the config check."""
    return [(f"{d} / forget {','.join(f)} / {m}", group)
            for (d, f, m), group in domain_groups(runs).items()]


def missing_runs(cells, seeds):
    """[(cell key, missing-run line)] of every incomplete cell, in table order."""
    return [(key, m) for key in cell_order(cells) for m in cells[key].coverage(seeds)["missing"]]
