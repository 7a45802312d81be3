"""A script call's settings: the environment (DATA, TRAINER, OUTPUT, SEEDS,
TAG, DEVICES, LAUNCHER, DRY_RUN, QUIET, PYTHON; scripts/adu/common.sh says
what each does, experiments/launch/interpreter.py which PYTHON is the default), each script's own defaults, the command line split at
`--`, and their checks. A bad one is a UsageError: one line with the fix,
printed as `SCRIPT: error: ...`, exit status 2. Imported by the launcher's
planning and scripts (experiments/launch/).
"""
import re
from dataclasses import dataclass, field

from experiments.launch.interpreter import default_python

# Defaults of every script; a setting that is empty takes its default too, as
# bash's ${NAME:-default} does.
DEFAULTS = {"DATA": "data", "TRAINER": "ADU", "OUTPUT": "output/adu", "SEEDS": "1 2 3",
            "LAUNCHER": "local", "PYTHON": default_python()}
# The scripts whose defaults differ: the demo's runs are small and its own.
SCRIPT_DEFAULTS = {
    "demo.sh": {"OUTPUT": "output/demo", "SEEDS": "1", "QUIET": "1", "FORGET": "sketch"},
    "toy_report.sh": {"OUTPUT": "output/demo", "SEEDS": "1 2 3", "FORGETS": "sketch clipart"},
}


class UsageError(Exception):
    """A setting or argument the user must fix; the message says which and how."""


def switched_on(text: str) -> bool:
    """DRY_RUN and QUIET: set and not 0."""
    return bool(text) and text != "0"


@dataclass
class Settings:
    script: str
    env: dict  # the environment with the defaults filled in
    data: str
    trainer: str
    output: str
    seeds: list
    tag: str
    devices: list
    launcher: str
    dry_run: bool
    quiet: bool
    python: str
    given: dict = field(default_factory=dict)  # the environment as the user set it

    def get(self, name: str) -> str:
        return self.env.get(name, "")


def read_settings(script: str, environ) -> Settings:
    env = dict(environ)
    for name, default in {**DEFAULTS, **SCRIPT_DEFAULTS.get(script, {})}.items():
        env[name] = env.get(name) or default
    devices = env.get("DEVICES", "")
    return Settings(script=script, env=env, data=env["DATA"], trainer=env["TRAINER"],
                    output=env["OUTPUT"], seeds=env["SEEDS"].split(), tag=env.get("TAG", ""),
                    devices=devices.split(",") if devices else [], launcher=env["LAUNCHER"],
                    dry_run=switched_on(env.get("DRY_RUN", "")),
                    quiet=switched_on(env.get("QUIET", "")), python=env["PYTHON"],
                    given=dict(environ))


def split_args(args):
    """ARGS -> (positional, options): the options are the KEY VALUE pairs after `--`."""
    args = list(args)
    if "--" in args:
        i = args.index("--")
        positional, opts = args[:i], args[i + 1:]
    else:
        positional, opts = args, []
    if len(opts) % 2:
        raise UsageError(f"config options after -- come in KEY VALUE pairs, got: {' '.join(opts)}")
    return positional, opts


# Config keys a planning script sets for every run from its own arguments
# and settings: given again after `--`, one would silently win over the other.
SCRIPT_KEYS = {"DATASET.NAME": "the DATASET argument", "DATASET.ROOT": "DATA",
               "DATASET.FORGET_DOMAINS": "the FORGET argument (or FORGET= for demo.sh)",
               "DATASET.NUM_SHOTS": "the SHOTS argument", "SEED": "SEEDS",
               "OUTPUT_DIR": "OUTPUT", "TRAINER.NAME": "TRAINER", "TEST.METHOD_TAG": "TAG"}


def check_script_keys(opts) -> None:
    """Refuse a key after `--` that the script sets itself (SCRIPT_KEYS)."""
    for key in opts[::2]:
        if key.upper() in SCRIPT_KEYS:
            raise UsageError(f"{key} after -- would contradict the script's own setting; "
                             f"set it with {SCRIPT_KEYS[key.upper()]} instead")


def check(s: Settings) -> None:
    """The settings every script that plans runs checks first."""
    raw = s.env["SEEDS"]
    if not all(re.fullmatch(r"[0-9]+", seed) for seed in s.seeds):
        raise UsageError(f"SEEDS must be non-negative integers, got '{raw}'")
    if not s.seeds:
        raise UsageError("SEEDS is empty")
    if not re.fullmatch(r"[A-Za-z0-9._-]*", s.tag):
        raise UsageError(f"TAG may hold letters, digits, '.', '_' and '-' only, got '{s.tag}'")
    devices = s.get("DEVICES")
    if devices and not re.fullmatch(r"[0-9]+(,[0-9]+)*", devices):
        raise UsageError(f"DEVICES must be comma-separated GPU ids like 0,1,2, got '{devices}'")
    check_launcher(s)


def check_launcher(s: Settings) -> None:
    """LAUNCHER is local or slurm; slurm's own settings are checked here too,
    before any run is planned."""
    if s.launcher == "local":
        return
    if s.launcher != "slurm":
        raise UsageError(f"LAUNCHER must be local or slurm, got '{s.launcher}'")
    if s.devices:
        raise UsageError("DEVICES places runs on this machine's GPUs; with LAUNCHER=slurm the "
                         "scheduler places them (GPUS_PER_RUN): unset DEVICES")
    from experiments.launch import slurm
    try:
        slurm.check(s.dry_run, s.env)
    except slurm.SettingError as err:
        raise UsageError(str(err)) from None
