"""The values of a sensitivity sweep, checked, and the folder tag of each.

    sweep_lines("TRAINER.ADU.DDL_GAMMA", ["0", "10"])
    ->  ["DDL_GAMMA-0\t0.0", "DDL_GAMMA-10\t10.0"]   (tag, value for train.py)

sensitivity.sh (experiments/launch/scripts.py) asks here before any run: KEY must be a config
key that changes results (train.py's tree: Dassl's defaults plus
trainers/config.py), and each value must fit the key's type. A value is
given back as train.py's yacs accepts it (an integer for a float key
becomes a float: yacs refuses 30 for 30.0). The tag names the key's last
part and the value (`value_tag`, experiments/results/value_tags.py, whose
rule parse_results.py --sweep strips from a run's method name again). A bad key or
value raises SweepError, which the launcher prints as one line (exit 2).
"""
import ast
import difflib

from experiments.results.value_tags import value_tag

# Keys a sweep may not vary: the scripts vary them already.
SCRIPT_KEYS = {"SEED": "SEEDS", "DATASET.FORGET_DOMAINS": "FORGET", "TRAINER.NAME": "TRAINER",
               "DATASET.NAME": "the DATASET argument"}


class SweepError(Exception):
    """A key or value a sweep cannot use, with the fix."""


def config_tree():
    """train.py's config tree before any yaml: Dassl's defaults and the project's keys."""
    import train
    return train.default_cfg()


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

