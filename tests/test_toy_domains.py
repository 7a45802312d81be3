"""The toy benchmark (its renderer datasets/toy_render.py, its dataset
datasets/toy_domains.py) and the shipped tiny CLIP."""
import hashlib
import json
import os
import os.path as osp
import warnings

import pytest
import torch

from datasets.toy_render import (
    CLASSES,
    DOMAINS,
    MARKER,
    N_TEST,
    N_TRAIN,
    ensure_toy_domains,
    generate_toy_domains,
    read_toy_split,
)

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CHECKPOINT = osp.join(REPO, "assets", "tiny_clip_toy.pt")


def tree_hashes(root):
    out = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = osp.join(folder, name)
            with open(path, "rb") as f:
                out[osp.relpath(path, root)] = hashlib.sha256(f.read()).hexdigest()
    return out


def test_generator_is_deterministic(tmp_path):
    generate_toy_domains(str(tmp_path / "a"), n_train=2, n_test=1)
    generate_toy_domains(str(tmp_path / "b"), n_train=2, n_test=1)
    a, b = tree_hashes(tmp_path / "a"), tree_hashes(tmp_path / "b")
    assert len(a) == len(CLASSES) * len(DOMAINS) * 3 + 1  # + the marker
    assert a == b
    assert len(set(a.values())) == len(a)  # no two images alike


def test_small_tree_is_a_prefix_of_the_full_one(tmp_path, toy_data_root):
    generate_toy_domains(str(tmp_path), n_train=1, n_test=1)
    small, full = tree_hashes(tmp_path), tree_hashes(toy_data_root / "toy_domains")
    del small[MARKER]
    assert all(full[path] == digest for path, digest in small.items())


def test_stale_tree_is_regenerated_and_foreign_folder_kept(tmp_path):
    target = str(tmp_path / "toy_domains")
    ensure_toy_domains(target, n_train=1, n_test=1)
    assert len(read_toy_split(target, "train")) == len(CLASSES) * len(DOMAINS)
    ensure_toy_domains(target, n_train=2, n_test=1)  # other sizes: stale
    assert len(read_toy_split(target, "train")) == 2 * len(CLASSES) * len(DOMAINS)
    assert os.listdir(tmp_path) == ["toy_domains"]  # no temporary folders left

    foreign = tmp_path / "other" / "toy_domains"
    foreign.mkdir(parents=True)
    with pytest.raises(FileExistsError, match=MARKER):
        ensure_toy_domains(str(foreign))


def test_dataset_builds_with_dassl_config(toy_data_root):
    pytest.importorskip("dassl", reason="Dassl not installed (pip install it from GitHub, "
                                        "see README)")
    from dassl.config import get_cfg_default
    from dassl.data.datasets import build_dataset

    import datasets
    from trainers.config import extend_cfg

    datasets.register_datasets()

    cfg = get_cfg_default()
    extend_cfg(cfg)
    cfg.merge_from_file(osp.join(REPO, "configs", "datasets", "toy_domains.yaml"))
    cfg.DATASET.ROOT = str(toy_data_root)
    cfg.DATASET.FORGET_DOMAINS = ["sketch"]
    cfg.SEED = 1
    data = build_dataset(cfg)
    shots = cfg.DATASET.NUM_SHOTS

    assert data.domains == DOMAINS and data.classnames == CLASSES
    assert data.forget_domain_ids == [DOMAINS.index("sketch")]
    for split, per_pair in ((data.train_x, shots), (data.test, N_TEST)):
        counts = {}
        for item in split:
            key = (item.label, item.domain)
            counts[key] = counts.get(key, 0) + 1
        assert counts == {(c, d): per_pair for c in range(len(CLASSES))
                          for d in range(len(DOMAINS))}
    assert all("/train/" in it.impath for it in data.train_x)
    assert all("/test/" in it.impath for it in data.test)
    assert len({it.impath for it in data.train_x}) == len(data.train_x)
    assert N_TRAIN > shots


def test_checkpoint_loads_through_clip_load():
    import clip

    from trainers.modules.clip_loading import load_clip

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        model, _ = clip.load(CHECKPOINT, device="cpu", jit=False)
    ours = load_clip(CHECKPOINT)
    assert model.visual.input_resolution == 32
    assert len(model.visual.transformer.resblocks) == 9
    assert model.token_embedding.num_embeddings == 49408
    for (name, a), (_, b) in zip(model.state_dict().items(), ours.state_dict().items()):
        assert torch.equal(a.float(), b), name


@pytest.mark.slow
def test_the_shipped_tiny_clip_is_in_clip_regime(toy_data_root, shipped_zero_shot):
    """The demo's CLIP has the properties of ViT-B/16 that decide how strong
    each ADU term and prompt token is (tools/toy_regime.py), measured on the
    file: scale 100, <= 12 % prompt tokens, >= 2 heads, embedding >= 128,
    zero-shot >= 60 % per domain, moved <= 3 points by untrained prompts."""
    from experiments.toy.regime import failures, measure
    from trainers.modules.clip_loading import load_clip

    dataset_dir = str(toy_data_root / "toy_domains")
    props = measure(load_clip(CHECKPOINT), dataset_dir)
    assert failures(props) == []
    # The pretraining tool's own table (clip.load + its preprocessing) agrees.
    rows, _ = shipped_zero_shot
    assert [domain for domain, _, _ in rows] == DOMAINS
    for domain, n, acc in rows:
        assert n == len(CLASSES) * N_TEST
        assert 100 * acc == pytest.approx(props["zero_shot"][domain], abs=0.6), domain


def test_the_regime_tool_measures_a_clip_file(tiny_clip_file, toy_data_root):
    """tools/toy_regime.py on an OpenAI-format file: shape properties, and the
    zero-shot accuracy with and without untrained prompts on the toy TEST split."""
    from tool_entry import load_tool

    from experiments.toy.regime import failures, measure, report
    main = load_tool("toy_regime").main
    from trainers.modules.clip_loading import load_clip

    props = measure(load_clip(tiny_clip_file), str(toy_data_root / "toy_domains"))
    assert (props["blocks"], props["heads"], props["patches"], props["embed_dim"]) == (
        12, 1, 16, 32)
    assert set(props["zero_shot"]) == set(DOMAINS) and len(props["prompted"]) == 3
    shifts = [abs(p[d] - props["zero_shot"][d]) for p in props["prompted"] for d in DOMAINS]
    assert props["prompt_shift"] == max(shifts)
    assert all(0 <= a <= 100 for a in props["zero_shot"].values())
    assert "OUT of CLIP's regime" in report(props)[-1] and failures(props)
    assert main([tiny_clip_file, "--root", str(toy_data_root), "--check"]) == 1
    assert main(["/no/such/clip.pt", "--root", str(toy_data_root)]) == 2


def test_the_regime_check_names_each_property_out_of_range():
    from experiments.toy.regime import architecture, failures
    from trainers.modules.tiny_clip import build_clip

    props = architecture(build_clip("tiny"))  # the tests' CLIP: out of the regime
    props.update(zero_shot=dict.fromkeys(DOMAINS, 80.0), prompt_shift=5.0)
    props["zero_shot"]["painting"] = 50.0
    found = " | ".join(failures(props))
    for part in ("logit_scale.exp() is 14.29", "prompt tokens are 32.0 %", "1 attention head",
                 "embedding dimension 32", "by 5.0 points", "painting 50.0"):
        assert part in found
    props = architecture(build_clip("toy"))
    assert (props["heads"], props["embed_dim"], props["patches"]) == (2, 128, 64)
    props.update(zero_shot=dict.fromkeys(DOMAINS, 60.0), prompt_shift=3.0, logit_scale=100.0)
    assert failures(props) == []


def test_the_configs_relative_checkpoint_path_resolves_from_any_folder(tmp_path, monkeypatch):
    from trainers.run.files import repo_path

    monkeypatch.chdir(tmp_path)
    assert repo_path("assets/tiny_clip_toy.pt") == CHECKPOINT
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "tiny_clip_toy.pt").write_bytes(b"")
    # A file in the current folder comes first, as for any relative path.
    assert repo_path("assets/tiny_clip_toy.pt") == "assets/tiny_clip_toy.pt"
    assert repo_path("ViT-B/16") == "ViT-B/16"
    assert repo_path("missing.pt") == "missing.pt"


def test_the_scripts_fake_interpreter_knows_the_real_domains():
    from fake_data import TOY_DOMAINS
    assert TOY_DOMAINS == DOMAINS


@pytest.mark.slow
def test_training_lowers_the_accuracy_of_the_forgotten_domain(toy_data_root, shipped_zero_shot,
                                                             tmp_path):
    """A behaviour test of the whole training path (train.py's config, the
    Dassl trainer, the losses, the optimiser at the real learning rate):
    three epochs of L_memorize + L_forget (the Baseline) at lr 0.0025
    without warm-up, forgetting sketch, from the shipped tiny CLIP. Sketch
    ends far below its zero-shot accuracy and below the domains memorised
    beside it. (Seed 1 measured: sketch 88.0 zero-shot -> 52.0, the others
    55.5 / 66.0 / 67.5. The shipped CLIP is in CLIP's regime, so untrained
    prompts alone move zero-shot accuracy by at most 2 points and the drop
    is what training does.)"""
    pytest.importorskip("dassl", reason="Dassl not installed (pip install it from GitHub, "
                                        "see README)")
    from dassl.utils import set_random_seed

    import train

    train.register()
    zero_shot = {d: 100 * acc for d, _, acc in shipped_zero_shot[0]}
    out = tmp_path / "sketch"
    args = ["--root", str(toy_data_root), "--seed", "1", "--trainer", "ADU",
            "--dataset-config-file", osp.join(REPO, "configs/datasets/toy_domains.yaml"),
            "--config-file", osp.join(REPO, "configs/trainers/ADU/toy_tiny.yaml"),
            "--output-dir", str(out), "--forget-domains", "sketch",
            "OPTIM.MAX_EPOCH", "3", "OPTIM.WARMUP_EPOCH", "0",
            "TRAINER.ADU.INSTAPG", "False", "TRAINER.ADU.DDL", "False",
            "TEST.LINEAR_PROBES", "False"]
    cfg = train.setup_cfg(train.parse_args(args))
    set_random_seed(cfg.SEED)
    trainer = train.build(cfg)
    assert trainer.optim.param_groups[0]["lr"] == pytest.approx(0.0025)
    trainer.train()
    with open(out / "results.json") as f:
        accuracy = {d: r["accuracy"] for d, r in json.load(f)["per_domain"].items()}
    forgotten = accuracy["sketch"]
    assert forgotten < zero_shot["sketch"] - 20, (accuracy, zero_shot)
    others = [accuracy[d] for d in DOMAINS if d != "sketch"]
    assert forgotten < sum(others) / len(others), accuracy
