"""The config on one screen: the keys a run's config changes from the defaults.

train.py used to print the whole resolved config (~250 lines, Dassl's
unrelated trainers included) to the terminal before every run. The full
config now goes to the log file (and config.yaml); the terminal gets the
keys whose value differs from the defaults (Dassl's and the project's,
before any yaml), at most MAX_LINES of them. Plain Python and yacs.
"""
from .fingerprint import flatten

MAX_LINES = 40


def changed_keys(cfg, defaults) -> list:
    """'KEY: value (default D)' of every key whose value is not its default."""
    new, old = flatten(cfg), flatten(defaults)
    return [f"{k}: {new[k]!r} (default {old.get(k)!r})" for k in sorted(new)
            if new[k] != old.get(k)]


def config_summary(cfg, defaults, log_file: str) -> str:
    lines = changed_keys(cfg, defaults)
    shown = lines[:MAX_LINES]
    more = f"\n  ... and {len(lines) - MAX_LINES} more" if len(lines) > MAX_LINES else ""
    return (f"Config: {len(lines)} keys differ from the defaults (the full config is in "
            f"{log_file} and config.yaml):\n" + "\n".join(f"  {line}" for line in shown) + more)
