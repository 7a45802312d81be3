"""Shared fixtures, each built once per test process (session scope) unless
it says otherwise. Reuse them instead of training or generating again:

    tiny_clip               a fresh tiny CLIP (function scope: yours to change)
    tiny_clip_file          a tiny CLIP in OpenAI's checkpoint format
    tiny_resnet_clip_file   a tiny ResNet CLIP file (for the "needs a ViT" errors)
    office_home_root        a tiny Office-Home tree (3 classes, 3 train / 2 test per pair)
    toy_data_root           DATASET.ROOT holding the full-size toy benchmark
    finished_adu_run        one finished train.py run of ADU on office_home_root
                            (train_harness.tiny_adu_args, forget art, 1 epoch):
                            (folder, train.py's stdout). Read it, never write
                            into it: copy it (shutil.copytree) to change it.
    finished_tiny_runs      {trainer: folder} for ADU (finished_adu_run's), CoOpADU
                            and LPPlusPlusADU, same data and settings (the exports)
    shipped_zero_shot       the shipped toy CLIP's zero-shot table on the toy
                            TEST split (experiments.toy.zero_shot.zero_shot_table)
    fake_python             a `python` for the scripts (PYTHON): tests/fake_python.py,
                            which runs the launcher and fakes train.py
    fake_env                the settings of a script run with fake_python, its
                            train.py calls logged (function scope)
"""
import os
import sys
import tempfile

# Dassl imports wilds, whose `outdated` check would try the network.
os.environ.setdefault("OUTDATED_IGNORE", "1")
# The test-split scan cache (datasets/image_scan_cache.py) of the fake
# datasets goes to a folder of this session, not ~/.cache/adu.
os.environ.setdefault("ADU_CACHE_DIR", tempfile.mkdtemp(prefix="adu_cache_"))

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from trainers.run.threads import cpu_count  # noqa: E402  (plain Python, no torch)

# `make test` runs a test file per worker (pytest-xdist, `-n auto`): at most
# MAX_WORKERS, each its own process with its own session fixtures.
MAX_WORKERS = 8


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config):
    return max(1, min(cpu_count(), MAX_WORKERS))


def threads_per_process() -> int:
    """torch threads for this test process and the programs it starts: the
    usable CPUs shared among the workers, at most 2. More threads than cores
    wait on each other: on 2 cores, two workers of 2 threads took 11 min for
    the suite, two of 1 thread 8 to 9 min (docs/TESTING.md)."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    return max(1, min(2, cpu_count() // workers))


# Before torch is imported, so that its thread pools start at that size;
# train.py and the scripts keep a set OMP_NUM_THREADS.
if os.environ.get("PYTEST_XDIST_WORKER") and not os.environ.get("OMP_NUM_THREADS"):
    os.environ["OMP_NUM_THREADS"] = str(threads_per_process())

try:
    import torch
except ModuleNotFoundError as err:  # e.g. the system python3 instead of .venv's
    pytest.exit(f"{sys.executable} has no {err.name}: run the tests with `make test` "
                "(or .venv/bin/python -m pytest tests)", returncode=4)

from trainers.modules.tiny_clip import build_clip, save_clip_archive  # noqa: E402

torch.set_num_threads(min(threads_per_process(), torch.get_num_threads()))


@pytest.fixture
def tiny_clip():
    """A fresh tiny CLIP (12 vision blocks of width 64, 32 px) with fixed weights."""
    torch.manual_seed(0)
    return build_clip("tiny")


@pytest.fixture(scope="session")
def tiny_clip_file(tmp_path_factory):
    """A tiny CLIP saved in OpenAI's checkpoint format (TorchScript archive)."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("clip") / "tiny_clip.pt"
    save_clip_archive(build_clip("tiny"), str(path))
    return str(path)


@pytest.fixture(scope="session")
def tiny_resnet_clip_file(tmp_path_factory):
    """A tiny ResNet CLIP checkpoint, for the 'needs a ViT' errors."""
    torch.manual_seed(0)
    model = build_clip("tiny", vision_layers=(1, 1, 1, 1), vision_width=64,
                       image_resolution=64)
    path = tmp_path_factory.mktemp("clip") / "tiny_rn_clip.pt"
    save_clip_archive(model, str(path))
    return str(path)


@pytest.fixture(scope="session")
def fake_python(tmp_path_factory):
    """`python` for the scripts: tests/fake_python.py, which fakes train.py."""
    from train_harness import shell_wrapper
    return shell_wrapper(tmp_path_factory.mktemp("bin") / "python", sys.executable,
                         os.path.join(REPO, "tests", "fake_python.py"))


@pytest.fixture
def fake_env(fake_python, tmp_path):
    """Settings for a script run with the fake interpreter and trainer
    (function scope): train.py's calls are logged to FAKE_LOG
    (script_harness.train_calls reads them)."""
    return {"PYTHON": fake_python, "OUTPUT": str(tmp_path / "out"), "DATA": str(tmp_path),
            "FAKE_TRAIN": "1", "FAKE_LOG": str(tmp_path / "calls.jsonl")}


@pytest.fixture(scope="session")
def office_home_root(tmp_path_factory):
    """A tiny Office-Home tree: 3 classes, 3 train and 2 test images per pair."""
    from fake_data import make_office_home
    root = tmp_path_factory.mktemp("office_home_data")
    make_office_home(root, num_classes=3, train_per_pair=3, val_per_pair=2)
    return root


@pytest.fixture(scope="session")
def toy_data_root(tmp_path_factory):
    """DATASET.ROOT holding the full-size toy benchmark, generated once."""
    from datasets.toy_render import ensure_toy_domains
    root = tmp_path_factory.mktemp("toy_data")
    ensure_toy_domains(str(root / "toy_domains"))
    return root


@pytest.fixture(scope="session")
def finished_adu_run(office_home_root, tiny_clip_file, tmp_path_factory):
    """(folder, stdout) of one finished ADU run on the tiny Office-Home tree,
    shared by every test that only reads a finished run (end-to-end files,
    --eval-only, the analysis tools)."""
    pytest.importorskip("dassl", reason="Dassl not installed (see README)")
    from train_harness import tiny_adu_args, train_py
    out = tmp_path_factory.mktemp("finished_adu_run")
    proc = train_py(*tiny_adu_args(office_home_root, out, tiny_clip_file))
    return out, proc.stdout


@pytest.fixture(scope="session")
def shipped_zero_shot(toy_data_root):
    """(rows, overall) of the shipped toy CLIP's zero-shot accuracy per domain."""
    from experiments.toy.zero_shot import zero_shot_table
    return zero_shot_table(os.path.join(REPO, "assets", "tiny_clip_toy.pt"),
                           str(toy_data_root / "toy_domains"))


# The trainers of the session's finished runs (tiny CLIP, tiny Office-Home, one epoch).
FINISHED_RUN_TRAINERS = ("ADU", "CoOpADU", "LPPlusPlusADU")


@pytest.fixture(scope="session")
def finished_tiny_runs(finished_adu_run, office_home_root, tiny_clip_file, tmp_path_factory):
    """{trainer: run folder} of one-epoch runs forgetting art (2 shots; 3 classes,
    3 train / 2 test images per pair), trained once for every test that reads
    a finished run (the analyses, the exports); tests copy them, never write.
    ADU's is `finished_adu_run`; the others train in one subprocess."""
    from train_harness import TINY_OPTS, train_py_runs
    runs = {name: tmp_path_factory.mktemp(f"run_{name}") for name in FINISHED_RUN_TRAINERS[1:]}
    train_py_runs([
        ["--root", office_home_root, "--seed", "1", "--trainer", name,
         "--dataset-config-file", "configs/datasets/office_home.yaml",
         "--config-file", f"configs/trainers/{name}/vit_b16_ep50.yaml",
         "--output-dir", out, "--forget-domains", "art",
         "MODEL.BACKBONE.NAME", tiny_clip_file, *TINY_OPTS] for name, out in runs.items()])
    return {"ADU": finished_adu_run[0], **runs}
