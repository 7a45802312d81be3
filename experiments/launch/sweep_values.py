"""The values of a sensitivity sweep, checked, and the folder tag of each.

    sweep_lines("TRAINER.ADU.DDL_GAMMA", ["0", "10"])
    ->  ["DDL_GAMMA-0\t0.0", "DDL_GAMMA-10\t10.0"]   (tag, value for train.py)

sensitivity.sh (experiments/launch/scripts.py) asks here before any run: KEY must be a config
key that changes results (train.py's tree: Dassl's defaults plus
trainers/config.py), and each value must fit the key's type. A value is
given back as train.py's yacs accepts it (an integer for a float key
becomes a float: yacs refuses 30 for 30.0). The tag names the key's last
part and the value (`value_tag`); parse_results.py --sweep strips it from
a run's method name again, so both use this file's rule. A bad key or
value raises SweepError, which the launcher prints as one line (exit 2).
"""
import ast
import difflib
import re

# Keys a sweep may not vary: the scripts vary them already.
SCRIPT_KEYS = {"SEED": "SEEDS", "DATASET.FORGET_DOMAINS": "FORGET", "TRAINER.NAME": "TRAINER",
               "DATASET.NAME": "the DATASET argument"}


class SweepError(Exception):
    """A key or value a sweep cannot use, with the fix."""


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


def config_tree():
    """train.py's config tree before any yaml: Dassl's defaults and the project's keys."""
    from dassl.config import get_cfg_default

    from trainers.config import extend_cfg
    cfg = get_cfg_default()
    extend_cfg(cfg)
    return cfg


def flat_keys(node, prefix=""):
    for name, value in node.items():
        if isinstance(value, dict):
            yield from flat_keys(value, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}"


def default_of(cfg, key: str):
    node = cfg
    for part in key.split("."):
        node = node[part]
    return node


def check_key(cfg, key: str) -> None:
    from trainers.run.fingerprint import EXCLUDED, excluded
    keys = list(flat_keys(cfg))
    if key not in keys:
        close = difflib.get_close_matches(key, keys, n=3, cutoff=0.75)
        hint = f"did you mean {' or '.join(close)}?" if close else \
            "config keys are in trainers/config.py and Dassl's dassl/config/defaults.py"
        raise SweepError(f"'{key}' is not a config key; {hint}")
    if key in SCRIPT_KEYS:
        raise SweepError(f"{key} is set by the scripts; vary {SCRIPT_KEYS[key]} instead")
    if excluded(key):
        reason = EXCLUDED.get(key, "")
        raise SweepError(f"{key} does not change results ({reason}); sweep a key that does")


def canonical(cfg, key: str, text: str):
    """`text` as the value train.py would set `key` to (yacs' parse and type check)."""
    default = default_of(cfg, key)
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        value = text  # yacs keeps a string that is no literal
    if isinstance(default, str) and not isinstance(value, str):
        value = text  # "0.5" for a string key means the string
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if isinstance(default, tuple) and isinstance(value, list):
        value = tuple(value)
    if isinstance(default, list) and isinstance(value, tuple):
        value = list(value)
    if type(value) is not type(default):
        raise SweepError(f"value '{text}' does not fit {key}: it takes a "
                         f"{type(default).__name__}, like its default {default!r}")
    return value


def argument(value) -> str:
    """A value as train.py's command line takes it back (yacs reads a
    literal as one, so a string that reads as a number goes quoted)."""
    if not isinstance(value, str):
        return repr(value)
    try:
        ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return value
    return repr(value)


def sweep_lines(key: str, texts) -> list:
    """'TAG<TAB>VALUE' per value; SweepError for a bad key, value or a repeat."""
    if not texts:
        raise SweepError("no value to sweep; give one or more after the key")
    cfg = config_tree()
    check_key(cfg, key)
    lines, seen = [], {}
    for text in texts:
        value = canonical(cfg, key, text)
        tag = value_tag(key, value)
        if tag in seen:
            raise SweepError(f"values '{seen[tag]}' and '{text}' give the same run "
                             f"(tag {tag}); give each value once")
        seen[tag] = text
        lines.append(f"{tag}\t{argument(value)}")
    return lines

