"""Merging yaml files and command-line options into the config, as a user means them.

yacs itself refuses `TRAINER.ADU.DDL_LAMBDA 5` (an int for a float key) with
a raw "Type mismatch", reads `MMD_BANDWIDTH 0.5` as a float for a string key,
names `<unicode string>` for a yaml syntax error and lists nothing for a
misspelt key. Here:
- an integer for a float key is that float, a number for a string key is
  its text (MMD_BANDWIDTH "median" or "0.5");
- any other type mismatch names the key, the type it takes and an example;
- a yaml file that does not parse is named with its line;
- an unknown key gets the closest existing keys ("did you mean").
Plain yacs and PyYAML; every failure is a ConfigError (one line).
"""
import difflib

import yaml
from yacs.config import CfgNode as CN

from user_errors import ConfigError

# Keys named in a "did you mean" (the closest first).
MAX_SUGGESTIONS = 3


def flat_keys(node, prefix: str = "") -> list:
    keys = []
    for key, value in node.items():
        if isinstance(value, dict):
            keys += flat_keys(value, f"{prefix}{key}.")
        else:
            keys.append(f"{prefix}{key}")
    return keys


def key_similarity(wanted: str, key: str) -> float:
    """How alike two upper-case keys are: as a whole, or by their last parts
    (a right name under a wrong node, OPTIM.SEED for SEED), a little less."""
    whole = difflib.SequenceMatcher(None, wanted, key).ratio()
    last = difflib.SequenceMatcher(None, wanted.rsplit(".", 1)[-1],
                                   key.rsplit(".", 1)[-1]).ratio()
    return max(whole, 0.95 * last)


def closest_keys(cfg, key: str) -> list:
    """The existing keys closest to `key` (case-insensitively): at most
    MAX_SUGGESTIONS, all nearly as close as the closest one."""
    by_upper = {k.upper(): k for k in flat_keys(cfg)}
    wanted = key.upper()
    scored = sorted(((key_similarity(wanted, k), k) for k in by_upper), reverse=True)
    if not scored or scored[0][0] < 0.6:
        return []
    best = scored[0][0]
    return [by_upper[k] for score, k in scored[:MAX_SUGGESTIONS] if score >= best - 0.1]


def unknown_key_error(cfg, key: str, where: str) -> ConfigError:
    close = closest_keys(cfg, key)
    hint = (f"; did you mean {' or '.join(close)}?" if close else
            "; no key is close (the project's keys are in trainers/config.py, "
            "Dassl's in dassl/config/defaults.py)")
    return ConfigError(f"{where}: unknown config key {key}{hint}")


def type_name(value) -> str:
    return {bool: "True or False", int: "an integer", float: "a number",
            str: "a string", list: "a list", tuple: "a tuple"}.get(type(value),
                                                                  type(value).__name__)


def coerce(value, default, key: str, where: str):
    """`value` for the key whose default is `default`, converted where the
    user's meaning is plain, else a ConfigError naming the type it takes."""
    if default is None or value is None or type(value) is type(default):
        return value
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(default, str) and isinstance(value, (int, float)) \
            and not isinstance(value, bool):
        return str(value)
    if isinstance(default, (list, tuple)) and isinstance(value, (list, tuple)):
        return type(default)(value)
    raise ConfigError(
        f"{where}: {key} takes {type_name(default)} (its default is {default!r}), got "
        f"{value!r}; e.g. {key} {default!r}"
        + (" (quote a string that looks like another type)" if isinstance(default, str)
           else ""))


def node_of(cfg, key: str, where: str):
    """(the node holding `key`'s last part, that part), or the did-you-mean error."""
    *parents, last = key.split(".")
    node = cfg
    for part in parents:
        if not isinstance(node.get(part), dict):
            raise unknown_key_error(cfg, key, where)
        node = node[part]
    if last not in node or isinstance(node[last], dict):
        raise unknown_key_error(cfg, key, where)
    return node, last


def set_value(cfg, key: str, raw, where: str) -> None:
    """Set `key` from `raw` (a yaml value or command-line text), decoded as
    yacs decodes it; a string key keeps the text exactly as written."""
    node, last = node_of(cfg, key, where)
    value = decode(raw)
    if isinstance(node[last], str) and isinstance(raw, str):
        value = raw
    node[last] = coerce(value, node[last], key, where)


def decode(raw):
    """A value as yacs reads it: text that is a Python literal becomes that literal."""
    if not isinstance(raw, str):
        return raw
    return CN._decode_cfg_value(raw)


def merge_opts(cfg, opts) -> None:
    """The trailing KEY VALUE pairs of the command line."""
    if len(opts) % 2:
        raise ConfigError(f"config options must come in KEY VALUE pairs; {opts[-1]} has no "
                          "value (a value with spaces needs quotes)")
    for key, text in zip(opts[0::2], opts[1::2]):
        set_value(cfg, key, text, "config option")


def read_yaml(path: str) -> dict:
    """The mapping of a yaml file, or one line naming the file, line and problem."""
    with open(path) as f:
        text = f.read()
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f", line {mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"{path}{line}: not valid YAML ({problem}); fix the file's "
                          "syntax (indentation, a missing ':' or quote)") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected KEY: value lines (a YAML mapping), got a "
                          f"{type(data).__name__}")
    return data


def merge_mapping(cfg, data: dict, where: str, prefix: str = "") -> None:
    for key, value in data.items():
        full = f"{prefix}{key}"
        if isinstance(value, dict):
            node = cfg
            for part in full.split("."):
                node = node.get(part) if isinstance(node, dict) else None
            if not isinstance(node, dict):
                raise unknown_key_error(cfg, full, where)
            merge_mapping(cfg, value, where, full + ".")
        else:
            set_value(cfg, full, value, where)


def merge_yaml_file(cfg, path: str) -> None:
    merge_mapping(cfg, read_yaml(path), path)
