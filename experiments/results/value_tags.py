"""A config value as text, and the folder tag of a swept value: the naming
rule that sensitivity.sh's runs are named by (experiments/launch/
sweep_values.py) and that `parse_results.py --sweep` strips from a run's
method name again (experiments/results/sweep.py), so both use this file.

    value_tag("TRAINER.ADU.DDL_GAMMA", 30.0)  ->  "DDL_GAMMA-30"
"""
import re


def value_text(value) -> str:
    """A config value as a short, lossless text: 30.0 -> "30", [6, 9] -> "6_9"."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, (list, tuple)):
        return "_".join(value_text(v) for v in value) if value else "none"
    return str(value) if value != "" else "none"


def value_tag(key: str, value) -> str:
    """The folder tag of `key` = `value`: "TRAINER.ADU.DDL_GAMMA", 30.0 -> "DDL_GAMMA-30"."""
    text = re.sub(r"[^A-Za-z0-9._-]+", "_", value_text(value)).strip("_") or "none"
    return f"{key.rsplit('.', 1)[-1]}-{text}"
