"""The runs of a script call: the dataset and its domains, the trainer's
config and the label its folders are named after, the forget set, and one
train.py command per seed into its run folder

    $OUTPUT/DATASET/<TRAINER>_<CFG_LABEL>[_<TAG>]/forget_<a+b>/<SHOTS>shots/seed<N>

Plain Python (no torch, no Dassl); imported by experiments/launch/scripts.py.
"""
import glob
import os
import re
from dataclasses import dataclass

from experiments.launch import dataset_info, run_label
from experiments.launch.settings import Settings, UsageError

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The paper's Baseline: ADU's deep vision prompts without InstaPG and DDL, run
# as TAG=Baseline (folder ADU_<cfg>_Baseline, method ADU-Baseline) by
# demo.sh, ablation.sh and compare.sh.
BASELINE_SWITCHES = ["TRAINER.ADU.INSTAPG", "False", "TRAINER.ADU.DDL", "False"]
# Options that change what a folder's name says (experiments/launch/run_label.py).
LABELLED_KEYS = ("MODEL.BACKBONE.NAME", "INPUT.SIZE", "DATASET.DOMAIN_LABELS")


@dataclass
class Dataset:
    name: str
    domains: list
    config: str  # configs/datasets/<name>.yaml


@dataclass
class TrainerConfig:
    trainer: str
    config: str  # configs/trainers/<trainer>/<cfg>.yaml
    label: str   # <cfg>, plus what the options change (run_label.py)


@dataclass
class Run:
    folder: str
    command: list  # $PYTHON train.py ARGS...

    @property
    def log(self) -> str:
        return os.path.join(self.folder, "job.log")

    @property
    def train_args(self) -> list:
        return self.command[2:]


def load_dataset(name: str) -> Dataset:
    try:
        domains = dataset_info.domains_of(name)
    except dataset_info.UnknownDataset as err:
        raise UsageError(str(err)) from None
    if len(domains) < 2:
        raise UsageError(f"dataset {name} reports domains '{' '.join(domains)}'; "
                         "ADU needs two or more")
    config = os.path.join(REPO, "configs", "datasets", f"{name}.yaml")
    if not os.path.isfile(config):
        raise UsageError(f"no dataset config {config}")
    return Dataset(name, domains, config)


def load_trainer_config(trainer: str, cfg: str, opts) -> TrainerConfig:
    folder = os.path.join(REPO, "configs", "trainers", trainer)
    if not os.path.isdir(folder):
        names = sorted(os.path.basename(p.rstrip("/"))
                       for p in glob.glob(os.path.join(REPO, "configs", "trainers", "*/")))
        raise UsageError(f"no configs for trainer '{trainer}' (looked in {folder}); "
                         f"trainers with configs: {' '.join(names)}")
    config = os.path.join(folder, f"{cfg}.yaml")
    if not os.path.isfile(config):
        names = sorted(os.path.basename(p)[:-len(".yaml")]
                       for p in glob.glob(os.path.join(folder, "*.yaml")))
        raise UsageError(f"no config '{cfg}' for {trainer} (looked for {config}); "
                         f"configs of {trainer}: {' '.join(names)}")
    label = cfg
    if any(key in LABELLED_KEYS for key in opts[::2]):
        try:
            label += run_label.suffix(config, list(opts))
        except Exception:  # an unreadable yaml; train.py would name the problem
            raise UsageError(f"cannot read {config}") from None
    return TrainerConfig(trainer, config, label)


def check_shots(text: str) -> str:
    if not re.fullmatch(r"[1-9][0-9]*", text):
        raise UsageError(f"SHOTS must be a positive integer, got '{text}'")
    return text


def forget_set(dataset: Dataset, text: str):
    """"art,clipart" -> ("art,clipart" in the dataset's domain order, "art+clipart")."""
    given = text.replace(",", " ").split()
    if not given:
        raise UsageError(f"no domain to forget given; domains of {dataset.name}: "
                         f"{' '.join(dataset.domains)}")
    for name in given:
        if name not in dataset.domains:
            raise UsageError(f"unknown domain '{name}' for {dataset.name}; valid domains: "
                             f"{' '.join(dataset.domains)}")
    chosen = [d for d in dataset.domains if d in given]
    if len(chosen) == len(dataset.domains):
        raise UsageError(f"cannot forget every domain of {dataset.name} "
                         f"({' '.join(dataset.domains)}); leave at least one to memorize")
    return ",".join(chosen), "+".join(chosen)


def seed_runs(s: Settings, dataset: Dataset, tc: TrainerConfig, shots: str, forget,
              tag: str, opts) -> list:
    """One run per seed of SEEDS: its folder and train.py command."""
    forget_arg, forget_dir = forget
    group = f"{tc.trainer}_{tc.label}" + (f"_{tag}" if tag else "")
    runs = []
    for seed in s.seeds:
        folder = f"{s.output}/{dataset.name}/{group}/forget_{forget_dir}/{shots}shots/seed{seed}"
        command = [s.python, os.path.join(REPO, "train.py"), "--root", s.data, "--seed", seed,
                   "--trainer", tc.trainer, "--dataset-config-file", dataset.config,
                   "--config-file", tc.config, "--output-dir", folder,
                   "--forget-domains", forget_arg, "DATASET.NUM_SHOTS", shots]
        if tag:
            command += ["TEST.METHOD_TAG", f"{tc.trainer}-{tag}"]
        runs.append(Run(folder, command + list(opts)))
    return runs
