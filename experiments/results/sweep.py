"""The runs of a sensitivity sweep (scripts/adu/sensitivity.sh), grouped
for `parse_results.py ROOT --sweep KEY`.

A run's value of KEY is read from its results.json (`fingerprint_keys`),
never from its folder name. A series is one method on one dataset and
forget set, its runs alike in every config key but KEY, the seed and the
forget domains: the sweep's runs carry the tag of their value
(experiments/results/value_tags.py) at the end of their method
name, so "ADU-DDL_GAMMA-30" is the series "ADU" at 30. An untagged run joins a swept series at its
value when its config is the series' (the plain ADU run at the default,
for one), for the seeds the swept runs lack there. Plain Python: the
rendering is experiments/results/tables.py's.
"""
import json
from dataclasses import dataclass, field, replace

from experiments.results.value_tags import value_tag, value_text


class SweepError(Exception):
    """Nothing to tabulate for this key, with the reason."""


@dataclass
class Point:
    """The runs of one series at one value of the swept key."""
    dataset: str
    forget: tuple
    method: str
    value: object
    runs: list = field(default_factory=list)


def value_order(values):
    """Numbers ascending (bools and lists by their text), so 0 10 30 100 read in order."""
    def key(value):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return (0, value, "")
        return (1, 0, value_text(value))
    return sorted(values, key=key)


def base_method(run, key):
    """(method without the sweep tag of its value, whether it had the tag)."""
    suffix = "-" + value_tag(key, run.config[key])
    if run.method.endswith(suffix) and len(run.method) > len(suffix):
        return run.method[:-len(suffix)], True
    return run.method, False


def config_without(run, key):
    """The run with KEY left out of its config: what its series must agree on."""
    return replace(run, config={k: v for k, v in run.config.items() if k != key})


def sweep_points(runs, key, warn):
    """([Point] in table order, [(label, runs)] whose configs must agree).

    SweepError when no run records KEY or none was swept over it."""
    recorded = [r for r in runs if r.config is not None]
    if len(recorded) < len(runs):
        warn(f"{len(runs) - len(recorded)} run(s) record no config (results.json written "
             "by older code); left out of the sweep")
    with_key = [r for r in recorded if key in r.config]
    if not with_key:
        raise SweepError(f"no run records the config key '{key}' (check its spelling, "
                         "e.g. TRAINER.ADU.DDL_GAMMA)")
    series, untagged = {}, []
    for run in with_key:
        method, tagged = base_method(run, key)
        label = (run.dataset, run.forget, method)
        if tagged:
            series.setdefault(label, []).append(run)
        else:
            untagged.append((label, run))
    if not series:
        raise SweepError(f"no run was swept over {key} (scripts/adu/sensitivity.sh tags "
                         f"its runs' methods, e.g. ADU-{value_tag(key, 30.0)})")
    # An untagged run joins where its config (but KEY) is the series' own.
    shape = {label: json.dumps(config_without(runs_[0], key).config, sort_keys=True)
             for label, runs_ in series.items()}
    for label, run in untagged:
        if label in series and json.dumps(config_without(run, key).config,
                                          sort_keys=True) == shape[label]:
            seeds = {(json.dumps(r.config[key]), r.seed) for r in series[label]}
            if (json.dumps(run.config[key]), run.seed) not in seeds:
                series[label].append(run)
    points = []
    for (dataset, forget, method), runs_ in sorted(series.items()):
        by_value = {}
        for run in runs_:
            by_value.setdefault(json.dumps(run.config[key]), []).append(run)
        for value in value_order([group[0].config[key] for group in by_value.values()]):
            points.append(Point(dataset, forget, method, value, by_value[json.dumps(value)]))
    checks = [(f"{d} / forget {','.join(f)} / {m} (sweep over {key})",
               [config_without(r, key) for r in runs_])
              for (d, f, m), runs_ in sorted(series.items())]
    return points, checks
