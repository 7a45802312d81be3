"""Runs are averaged only when they ran the same config: the check that the
runs of one cell (or row) agree on every recorded key but the averaged ones."""
import json
import sys

# Differing keys named per conflict; the rest are counted.
MAX_NAMED_KEYS = 6


def differing_configs(label, variants) -> str:
    """The line naming the keys in which `variants` ({config text: runs}) differ."""
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


def config_conflict(label, runs):
    """A line naming the configs of `runs` (one cell or row) when they do not
    all agree (a run without a recorded config agrees with none); else None."""
    unrecorded = [r for r in runs if r.config is None]
    if unrecorded and len(unrecorded) < len(runs):
        return (f"{label}: {len(unrecorded)} of {len(runs)} runs record no config "
                f"fingerprint (written by older code), e.g. {unrecorded[0].path}; the "
                "others do")
    variants = {}
    for run in runs:
        variants.setdefault(json.dumps(run.config, sort_keys=True), []).append(run)
    return differing_configs(label, variants) if len(variants) > 1 else None


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
