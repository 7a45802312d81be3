"""train.py answers a command line it refuses before torch or Dassl's engine
is imported (issue 38, part 2): names are read from the source
(trainers.declared_trainers, datasets/domain_lists.py), the run folder's
lock is taken before the imports. The tests look at what the process
imported, not at the clock (tools/startup.py times the same commands).
"""
import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("dassl", reason="Dassl not installed (pip install it from GitHub, see README)")

import trainers  # noqa: E402
from fresh_python import REPO  # noqa: E402

# Modules that cost seconds to import: none may be loaded by a refusal.
HEAVY = ("torch", "torchvision", "dassl.engine", "dassl.data", "sklearn", "open_clip", "clip")

# Runs train.run on each command line in turn, in one fresh process, and
# prints for each its exit status, its stderr and the heavy modules loaded.
RUNNER = """
import contextlib, io, json, sys
sys.path.insert(0, {repo!r})
import train
if {no_hooks!r} is False:
    import trainers
    trainers.declared_trainers = lambda folder=None: ({{}}, False)
out = []
for argv in {cases!r}:
    err = io.StringIO()
    code = 0
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            train.run(argv)
        except SystemExit as exc:
            code = exc.code
    heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "torchvision",
                   "sklearn", "open_clip", "clip") or m in ("dassl.engine", "dassl.data"))
    out.append([code, err.getvalue(), heavy])
print(json.dumps(out))
"""


def run_cases(cases, no_hooks=True):
    code = RUNNER.format(repo=REPO, cases=cases, no_hooks=no_hooks)
    env = {**os.environ, "PYTHONPATH": REPO, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def toy_args(out, *extra):
    return ["--root", os.path.join(REPO, "no-data-needed"), "--seed", "1", "--trainer", "ADU",
            "--dataset-config-file", "configs/datasets/toy_domains.yaml",
            "--config-file", "configs/trainers/ADU/toy_tiny.yaml",
            "--output-dir", str(out), "--forget-domains", "sketch", *extra]


# name -> (extra arguments, words of the one line); each refused with exit 2.
REFUSALS = {
    "misspelt key": (["OPTIM.MAX_EPOCHS", "2"], "did you mean OPTIM.MAX_EPOCH?"),
    "bad value": (["OPTIM.MAX_EPOCH", "0"], "OPTIM.MAX_EPOCH must be >= 1"),
    "unknown trainer": (["--trainer", "ADUU"], "unknown trainer 'ADUU'; registered trainers:"),
    "unknown dataset": (["DATASET.NAME", "toy"], "unknown dataset 'toy'"),
    "a Dassl dataset": (["DATASET.NAME", "PACS"], "PACS is a Dassl dataset"),
    "unknown forget domain": (["--forget-domains", "sketchy"], "Unknown domain ['sketchy']"),
    "missing config file": (["--config-file", "nope.yaml"], "method config file not found"),
    "optimizer": (["OPTIM.NAME", "adamx"], "OPTIM.NAME must be one of"),
    "CLIP image size": (["MODEL.BACKBONE.NAME", "ViT-B/16"], "ViT-B/16 takes 224x224 images"),
}


def test_refusals_import_neither_torch_nor_dasssls_engine(tmp_path):
    names = sorted(REFUSALS)
    results = run_cases([toy_args(tmp_path / n.replace(" ", "_"), *REFUSALS[n][0])
                         for n in names])
    for name, (code, err, heavy) in zip(names, results):
        assert code == 2, (name, err)
        assert REFUSALS[name][1] in err and err.count("\n") == 1, (name, err)
        assert heavy == [], (name, heavy)
    assert os.listdir(tmp_path) == []


def test_a_taken_folder_is_refused_before_the_imports(tmp_path):
    from train_harness import folder_held_by_another
    with folder_held_by_another(tmp_path / "run") as out:
        [(code, err, heavy)] = run_cases([toy_args(out)])
    assert code == 2 and "is in use by another train.py (pid 4242 on elsewhere)" in err
    assert heavy == []


def test_help_imports_nothing_heavy():
    [(code, _, heavy)] = run_cases([["--help"]])
    assert code == 0 and heavy == []


def test_a_trainer_file_read_only_by_importing_it_takes_the_registries(tmp_path):
    """Where the source does not tell every name (a hook, say), Dassl's
    registries decide: the same refusal, after the imports."""
    [(code, err, heavy)] = run_cases([toy_args(tmp_path / "r", "--trainer", "ADUU")],
                                     no_hooks=False)
    assert code == 2 and "unknown trainer 'ADUU'" in err
    assert "dassl.engine" in heavy and "torch" in heavy


def write(path, text):
    path.write_text(text)
    return str(path)


def test_the_source_reader_finds_decorated_classes_and_says_when_it_cannot(tmp_path):
    plain = write(tmp_path / "plain.py", (
        "from dassl.engine import TRAINER_REGISTRY\n"
        "@TRAINER_REGISTRY.register()\nclass A:\n    trains_weights = False\n"
        "@TRAINER_REGISTRY.register()\nclass B(A):\n    pass\n"
        "class NotRegistered:\n    pass\n"))
    found, complete = trainers.declared_classes([plain], "TRAINER_REGISTRY")
    assert complete and sorted(found) == ["A", "B"]
    assert found["B"] == (["A"], {}) and found["A"][1] == {"trains_weights": False}
    hook = write(tmp_path / "hook.py", "def extend_cfg(cfg):\n    pass\n")
    called = write(tmp_path / "called.py", "TRAINER_REGISTRY.register(type('C', (), {}))\n")
    broken = write(tmp_path / "broken.py", "class (:\n")
    for path in (hook, called, broken):
        assert trainers.declared_classes([plain, path], "TRAINER_REGISTRY")[1] is False, path
    # The CoCoOp file of the CoOp-family tests adds its keys with a hook.
    cocoop = os.path.join(REPO, "tests", "coop_family_cocoop.py")
    assert trainers.declared_classes([cocoop], "TRAINER_REGISTRY")[1] is False


def test_the_names_read_from_the_source_are_the_registered_ones():
    import train
    declared, registered = train.declared_names(), None
    if declared is None:  # this session loaded the registries already: read them anyway
        found, complete = trainers.declared_trainers()
        from dassl.data.datasets import DATASET_REGISTRY  # noqa: F401
        dassl_sets, _ = trainers.declared_classes(trainers.dassl_sources("data/datasets"),
                                                  "DATASET_REGISTRY")
        from datasets.domain_lists import DOMAINS
        declared = train.Names(found, tuple(sorted(DOMAINS)), tuple(sorted(dassl_sets)))
        assert complete
    registered = train.registered_names()
    project = set(trainers.declared_trainers()[0])
    # Trainers registered by other tests of this session are not in trainers/.
    assert project <= set(registered.trainers)
    assert {n: registered.trainers[n] for n in project} == declared.trainers
    assert declared.trainers["ZeroshotCLIP"] is False and declared.trainers["ADU"] is True
    assert declared.adu_datasets == registered.adu_datasets
    assert set(declared.dassl_datasets) <= set(registered.dassl_datasets)
    assert {"PACS", "OfficeHome", "DomainNet"} <= set(declared.dassl_datasets)
