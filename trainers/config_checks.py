"""What a user gives is checked here, once, before any folder, data or model.

Three kinds of check, each failing with one line (a ConfigError) that names
the key and the fix:
- merging a yaml file or the command line's KEY VALUE pairs into the config
  (`merge_yaml_file`, `merge_opts`). yacs itself refuses `DDL_LAMBDA 5` (an
  int for a float key) with a raw "Type mismatch", reads `MMD_BANDWIDTH 0.5`
  as a float for a string key, names `<unicode string>` for a yaml syntax
  error and lists nothing for a misspelt key. Here an integer for a float
  key is that float, a number for a string key its text; any other type
  mismatch names the type the key takes; a yaml error names its line; an
  unknown key gets the closest existing keys ("did you mean");
- values that run but mean nothing (`check_values`): `OPTIM.MAX_EPOCH 0`
  trained nothing and recorded a zero-shot result under ADU's name,
  `DDL_LAMBDA -1` flipped the MMD term's sign (minimising it, as domain
  adaptation does), `BATCH_SIZE 0` and `INPUT.SIZE (0, 0)` ended in tracebacks;
- the method's choices (`check_adu`, `check_forget_loss`): the names of its
  variants and the MMD bandwidth, so that the training step never checks one.
Plain Python, yacs and PyYAML (no torch, no Dassl).
"""
import difflib
import math

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


def at_least(cfg, key: str, low: int, why: str = "") -> None:
    value = lookup(cfg, key)
    if value < low:
        raise ConfigError(f"{key} must be >= {low}, got {value}{why}")


def finite_non_negative(cfg, key: str, why: str) -> None:
    """A weight or rate: a finite number, and no negative one (`why` says
    what a negative value would mean, and so why it is refused)."""
    value = lookup(cfg, key)
    if not math.isfinite(value):
        raise ConfigError(f"{key} must be a finite number, got {value}")
    if value < 0:
        raise ConfigError(f"{key} must be >= 0, got {value}: {why}")


def lookup(cfg, key: str):
    node = cfg
    for part in key.split("."):
        node = node[part]
    return node


def check_input_size(cfg) -> None:
    size = cfg.INPUT.SIZE
    if len(size) != 2 or not all(isinstance(s, int) and s >= 1 for s in size):
        raise ConfigError(f"INPUT.SIZE must be two integers >= 1 (height, width), got "
                          f"{tuple(size)}; e.g. INPUT.SIZE \"(224, 224)\"")


def check_values(cfg, trains: bool = True) -> None:
    """Refuse values that run but mean nothing. `trains`: the run trains
    weights (not --eval-only, --no-train or a trainer that learns nothing)."""
    if trains:
        at_least(cfg, "OPTIM.MAX_EPOCH", 1, " (0 or less trains nothing; for the zero-shot "
                                           "row use --trainer ZeroshotCLIP)")
    at_least(cfg, "DATALOADER.TRAIN_X.BATCH_SIZE", 1)
    at_least(cfg, "DATALOADER.TEST.BATCH_SIZE", 1)
    at_least(cfg, "DATALOADER.NUM_WORKERS", 0, " (0 loads in the main process)")
    at_least(cfg, "TRAIN.PRINT_FREQ", 1, " (the training log prints every PRINT_FREQ steps)")
    at_least(cfg, "TRAIN.CHECKPOINT_FREQ", 0, " (0 saves the last epoch only)")
    at_least(cfg, "DATASET.NUM_SHOTS", 1, " (ADU uses 8 shots per (class, domain))")
    check_input_size(cfg)
    finite_non_negative(cfg, "OPTIM.LR", "a negative learning rate climbs the loss")
    finite_non_negative(cfg, "OPTIM.WEIGHT_DECAY", "negative decay grows the weights")
    adu = cfg.TRAINER.ADU
    finite_non_negative(cfg, "TRAINER.ADU.DDL_GAMMA",
                        "L_domain = gamma * CE - lambda * MMD^2, and a negative gamma would "
                        "make the domain classifier unlearn the domains; 0 turns the CE term "
                        "off (or set TRAINER.ADU.DDL_CE False)")
    finite_non_negative(cfg, "TRAINER.ADU.DDL_LAMBDA",
                        "a negative lambda flips the MMD term's sign (MMD^2 minimised, as "
                        "domain adaptation does: the opposite of ADU); 0 turns it off (or "
                        "set TRAINER.ADU.DDL_MMD False)")
    at_least(cfg, "TRAINER.ADU.N_CTX_VISION", 1)
    at_least(cfg, "TRAINER.ADU.PROMPT_DEPTH_VISION", 0, " (0 turns deep vision prompts off)")
    if adu.N_CTX_TEXT < 0:
        raise ConfigError(f"TRAINER.ADU.N_CTX_TEXT must be >= 0, got {adu.N_CTX_TEXT} "
                          "(0: the fixed template)")


# The method's variants (docs/METHOD.md sections 3 and 10; the release's in
# trainers/modules/release.py).
FORGET_LOSSES = ("uniform_ce", "neg_entropy")
MMD_INPUTS = ("embedding", "domain_logits")
MMD_KERNELS = ("batch_median", "pair_median")
INSTAPG_STYLES = ("pre_norm", "release")
DOMAIN_HEADS = ("domains", "domains_x_classes")


def check_choice(value: str, choices, key: str) -> str:
    """Fail early, naming the config key, on a value outside `choices`."""
    if value not in choices:
        raise ConfigError(f"{key} must be one of {choices}, got '{value}'.")
    return value


def check_forget_loss(kind: str, key: str = "FORGET_LOSS") -> str:
    return check_choice(kind, FORGET_LOSSES, key)


def check_bandwidth(bandwidth, key: str = "MMD_BANDWIDTH"):
    """"median", or the bandwidth as a positive float (config values may be
    strings); anything else fails, naming the config key."""
    if str(bandwidth) == "median":
        return "median"
    try:
        h = float(bandwidth)
    except (TypeError, ValueError):
        h = -1.0
    if h <= 0:
        raise ConfigError(f"{key} must be 'median' or a positive number, got '{bandwidth}'.")
    return h


def check_adu(node) -> None:
    """The TRAINER.ADU node's choices (ADU.check_cfg, before anything is built)."""
    check_bandwidth(node.MMD_BANDWIDTH, "TRAINER.ADU.MMD_BANDWIDTH")
    check_forget_loss(node.FORGET_LOSS, "TRAINER.ADU.FORGET_LOSS")
    check_choice(node.MMD_INPUT, MMD_INPUTS, "TRAINER.ADU.MMD_INPUT")
    check_choice(node.MMD_KERNEL, MMD_KERNELS, "TRAINER.ADU.MMD_KERNEL")
    check_choice(node.INSTAPG_STYLE, INSTAPG_STYLES, "TRAINER.ADU.INSTAPG_STYLE")
    check_choice(node.DOMAIN_HEAD, DOMAIN_HEADS, "TRAINER.ADU.DOMAIN_HEAD")
    if not (math.isfinite(node.FORGET_LOG_EPS) and node.FORGET_LOG_EPS >= 0):
        raise ConfigError(f"TRAINER.ADU.FORGET_LOG_EPS must be a finite number >= 0, got "
                          f"{node.FORGET_LOG_EPS} (the release: 1e-5)")
    if node.FORGET_LOG_EPS and node.FORGET_LOSS != "neg_entropy":
        raise ConfigError(f"TRAINER.ADU.FORGET_LOG_EPS {node.FORGET_LOG_EPS} is read by "
                          "FORGET_LOSS neg_entropy only; set TRAINER.ADU.FORGET_LOSS "
                          "neg_entropy, or FORGET_LOG_EPS 0.0")


# Names that only Dassl would check, when it builds the optimiser, the
# scheduler (trainers/engine/lr_scheduler.py) or the transforms, after the
# run folder, data and model exist; the same lists as Dassl's (AVAI_OPTIMS,
# AVAI_CHOICES, INTERPOLATION_MODES: tests/test_bad_names.py compares them).
OPTIMIZERS = ("adam", "amsgrad", "sgd", "rmsprop", "radam", "adamw")
SCHEDULERS = ("cosine", "single_step", "multi_step")
WARMUP_TYPES = ("constant", "linear")
TRANSFORMS = ("random_flip", "random_resized_crop", "normalize", "instance_norm",
              "random_crop", "random_translation", "center_crop", "cutout",
              "imagenet_policy", "cifar10_policy", "svhn_policy", "randaugment",
              "randaugment_fixmatch", "randaugment2", "gaussian_noise", "colorjitter",
              "randomgrayscale", "gaussian_blur")
INTERPOLATIONS = ("bilinear", "bicubic", "nearest")


def check_dassl_names(cfg) -> None:
    """OPTIM.NAME, OPTIM.LR_SCHEDULER (and WARMUP_TYPE with a warm-up),
    INPUT.TRANSFORMS and INPUT.INTERPOLATION: Dassl's assertion or
    ValueError otherwise comes after the folder, data and model."""
    check_choice(cfg.OPTIM.NAME, OPTIMIZERS, "OPTIM.NAME")
    check_choice(cfg.OPTIM.LR_SCHEDULER, SCHEDULERS, "OPTIM.LR_SCHEDULER")
    if cfg.OPTIM.WARMUP_EPOCH > 0:
        check_choice(cfg.OPTIM.WARMUP_TYPE, WARMUP_TYPES, "OPTIM.WARMUP_TYPE")
    unknown = [t for t in cfg.INPUT.TRANSFORMS if t not in TRANSFORMS]
    if unknown:
        close = difflib.get_close_matches(str(unknown[0]), TRANSFORMS, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise ConfigError(f"INPUT.TRANSFORMS: unknown transform {unknown[0]!r}; {hint}"
                          f"Dassl's transforms are {', '.join(TRANSFORMS)}")
    check_choice(cfg.INPUT.INTERPOLATION, INTERPOLATIONS, "INPUT.INTERPOLATION")


# The image side each OpenAI CLIP model name takes (OpenAI's model card; the
# keys are clip.available_models(), tests/test_bad_names.py compares them). A
# ViT's positional embedding has one entry per patch of that side: another
# INPUT.SIZE ends in a shape error inside the first step.
CLIP_IMAGE_SIDES = {"RN50": 224, "RN101": 224, "RN50x4": 288, "RN50x16": 384, "RN50x64": 448,
                    "ViT-B/32": 224, "ViT-B/16": 224, "ViT-L/14": 224, "ViT-L/14@336px": 336}


def check_image_side(size, side: int, backbone: str) -> None:
    """INPUT.SIZE must be the backbone's (side, side)."""
    if tuple(size) != (side, side):
        raise ConfigError(f"{backbone} takes {side}x{side} images, but INPUT.SIZE is "
                          f"{tuple(size)}: set INPUT.SIZE \"({side}, {side})\"")


def check_model_config_json(path: str) -> None:
    """An open_clip model-config JSON (open_clip:FILE.json:WEIGHTS) is a JSON
    object with embed_dim, vision_cfg and text_cfg (open_clip itself ends a
    broken file in a traceback). A missing file is named by open_clip_backbone."""
    import json
    try:
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    except FileNotFoundError:
        return
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"open_clip model config {path} cannot be read ({err}); give "
                          "a model-config JSON file") from None
    except json.JSONDecodeError as err:
        raise ConfigError(f"open_clip model config {path}, line {err.lineno} column "
                          f"{err.colno}: not valid JSON ({err.msg})") from None
    if not isinstance(config, dict):
        raise ConfigError(f"open_clip model config {path} holds a {type(config).__name__}, "
                          "not an object with embed_dim, vision_cfg and text_cfg")
    wanted = {"embed_dim": int, "vision_cfg": dict, "text_cfg": dict}
    for key, kind in wanted.items():
        if not isinstance(config.get(key), kind) or isinstance(config.get(key), bool):
            got = "missing" if key not in config else f"a {type(config[key]).__name__}"
            raise ConfigError(f"open_clip model config {path}: {key} must be "
                              f"{'an integer' if kind is int else 'an object'}, got {got}")
