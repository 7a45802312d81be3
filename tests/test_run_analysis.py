"""tools/analyze.py and tools/robustness.py on a tiny finished run, and the
pieces they share (experiments/analysis/: the rebuilt run, relearning;
attention maps, probe curves)."""
import json
import os
import shutil

import pytest
import torch

pytest.importorskip("dassl", reason="Dassl not installed (pip install it from GitHub, see README)")

from tool_entry import load_tool  # noqa: E402
from train_harness import train_py  # noqa: E402

from experiments.analysis.domains import domain_record, format_record  # noqa: E402
from experiments.analysis.finished_run import Encoded, sample_per_class  # noqa: E402
from experiments.analysis.relearning import relearn  # noqa: E402
from trainers.modules.attention_maps import block_attention, cls_maps, record_blocks  # noqa: E402
from trainers.modules.probes import first_k_per_class, probe_curve  # noqa: E402
from user_errors import ConfigError  # noqa: E402

analyze = load_tool("analyze")
robustness = load_tool("robustness")


pytestmark = pytest.mark.slow  # end-to-end runs: `make test`, not `make test-fast`


@pytest.fixture(scope="module")
def finished_run(finished_adu_run):
    """ADU forgetting art, one epoch, 2 shots (3 classes, 3 train / 2 test per
    pair): conftest's run, trained once per test process."""
    return finished_adu_run[0]


@pytest.fixture(scope="module")
def analyzed(finished_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("analysis")
    record = analyze.main([str(finished_run), "--out", str(out), "--cpu"])
    return out, record


@pytest.fixture(scope="module")
def robust(finished_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("robustness")
    record = robustness.main([str(finished_run), "--out", str(out), "--cpu", "--shots", "1,2,3",
                              "--relearn-shots", "2", "--steps", "4", "--every", "2"])
    return out, record


def is_png(path):
    with open(path, "rb") as f:
        return f.read(8) == b"\x89PNG\r\n\x1a\n"


# ----- analyze.py ---------------------------------------------------------------------

def test_analyze_writes_its_files_and_the_run_numbers_match_results_json(analyzed,
                                                                         finished_run):
    out, record = analyzed
    assert is_png(out / "tsne.png") and is_png(out / "attention.png")
    assert json.load(open(out / "domains.json")) == json.loads(json.dumps(record))
    results = json.load(open(finished_run / "results.json"))
    run = record["run"]
    # the rebuilt run scores the test split exactly as train.py did
    assert run["class_accuracy"] == pytest.approx(
        {d: row["accuracy"] for d, row in results["per_domain"].items()})
    assert run["domain_classifier_accuracy"] == pytest.approx(results["domain_accuracy"])
    assert run["domain_probe_accuracy"] == pytest.approx(results["domain_probe_accuracy"])
    zero = record["zero_shot"]
    assert zero["domain_classifier_accuracy"] is None  # zero-shot CLIP has no head
    assert set(zero["class_accuracy"]) == set(results["domains"])
    for model in (zero, run):
        values = [model["domain_probe_accuracy"], *model["class_accuracy"].values()]
        assert all(0.0 <= v <= 100.0 for v in values)
    assert set(record["definitions"]) == {"domain_classifier_accuracy",
                                          "domain_probe_accuracy", "class_accuracy"}


def test_analyze_says_when_a_run_has_no_domain_classifier():
    fake = Encoded(torch.zeros(4, 2), torch.zeros(4, dtype=torch.long),
                             torch.zeros(4, dtype=torch.long), torch.tensor([0, 0, 1, 1]), None)
    dataset = type("D", (), {"domains": ["a", "b"], "forget_domains": ["a"], "num_classes": 2})
    run = type("R", (), {"trainer": type("T", (), {"dm": type("M", (), {"dataset": dataset})})})
    record = domain_record(run, {"zero_shot": fake, "run": fake},
                                   {"zero_shot": fake, "run": fake})
    assert record["run"]["domain_classifier_accuracy"] is None and "note" in record["run"]
    assert "-" in format_record(record, "CoOpADU").splitlines()[1]


# ----- robustness.py ------------------------------------------------------------------

def test_robustness_writes_curves_in_range(robust, finished_run):
    out, record = robust
    assert is_png(out / "robustness.png")
    saved = json.load(open(out / "robustness.json"))
    assert saved["probe"] == record["probe"]
    for name in ("unlearned", "zero_shot"):
        assert list(saved["probe"][name]) == ["1", "2", "3"]
        assert all(0.0 <= v <= 100.0 for v in saved["probe"][name].values())
    for name in ("unlearned", "untrained"):
        assert list(saved["relearn"][name]) == ["0", "2", "4"]
        assert all(0.0 <= v <= 100.0 for v in saved["relearn"][name].values())
    results = json.load(open(finished_run / "results.json"))
    assert saved["run_forget_accuracy"] == pytest.approx(100.0 - results["for"])
    # relearning starts from the run itself
    assert saved["relearn"]["unlearned"]["0"] == pytest.approx(saved["run_forget_accuracy"])
    assert saved["fingerprint"] == results["fingerprint"]
    # 3 training images per (class, domain): k = 3 is what there is
    assert saved["min_shots_available_per_class"] == 3


# ----- errors -------------------------------------------------------------------------

@pytest.mark.parametrize("tool", [analyze, robustness])
def test_a_folder_without_a_finished_run_is_refused_in_one_line(tool, finished_run, tmp_path,
                                                                capsys):
    unfinished = tmp_path / "unfinished"
    shutil.copytree(finished_run, unfinished)
    os.remove(unfinished / "results.json")
    no_weights = tmp_path / "no_weights"
    shutil.copytree(finished_run, no_weights)
    shutil.rmtree(no_weights / "learner")
    cases = {tmp_path / "missing": "is not a folder", tmp_path: "no config.yaml",
             unfinished: "has not finished", no_weights: "no saved learner"}
    for folder, reason in cases.items():
        with pytest.raises(SystemExit) as exit_info:
            tool.main([str(folder)])
        assert exit_info.value.code == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and reason in err, err


def test_the_command_line_exits_2_with_one_line(tmp_path):
    proc = train_py(str(tmp_path), script="tools/robustness.py", expect=2)
    assert proc.stderr.strip().splitlines()[-1].startswith("robustness.py: error: ")
    with pytest.raises(ConfigError, match="--shots"):
        robustness.parse_args([str(tmp_path), "--shots", "0,x"])


# ----- the shared pieces --------------------------------------------------------------

def blobs(n_per, num_classes, seed, dim=8):
    gen = torch.Generator().manual_seed(seed)
    centers = 3 * torch.eye(num_classes, dim)
    x = torch.cat([c + 0.1 * torch.randn(n_per, dim, generator=gen) for c in centers])
    return x, torch.arange(num_classes).repeat_interleave(n_per)


def test_probe_curve_reads_separable_classes_from_one_shot_and_random_labels_at_chance():
    (x_tr, y_tr), (x_te, y_te) = blobs(8, 4, 0), blobs(20, 4, 1)
    order = torch.randperm(len(y_tr), generator=torch.Generator().manual_seed(0))
    assert probe_curve(x_tr[order], y_tr[order], x_te, y_te, [1, 4, 8]) == {
        1: 100.0, 4: 100.0, 8: 100.0}
    gen = torch.Generator().manual_seed(0)
    x_tr, x_te = torch.randn(200, 8, generator=gen), torch.randn(400, 8, generator=gen)
    y_tr, y_te = torch.randint(0, 4, (200,), generator=gen), torch.randint(0, 4, (400,),
                                                                           generator=gen)
    curve = probe_curve(x_tr, y_tr, x_te, y_te, [16, 50])
    assert all(v < 40.0 for v in curve.values())  # chance is 25


def test_first_k_per_class_keeps_the_first_k_of_each_class():
    labels = torch.tensor([2, 0, 2, 2, 1, 0])
    assert first_k_per_class(labels, 2).tolist() == [True, True, True, False, True, True]


def test_sample_per_class_is_seeded_and_nested():
    from datasets.adu_base import Item
    items = [Item(f"/img/{c}_{i}.png", c, 0, str(c)) for c in range(3) for i in range(10)]
    four = sample_per_class(items, 4, seed=1)
    assert sample_per_class(items, 4, seed=1) == four
    assert sample_per_class(items, 4, seed=2) != four
    two = sample_per_class(items, 2, seed=1)
    assert [it.label for it in two] == [0, 0, 1, 1, 2, 2]
    assert set(two) <= set(four)


def test_relearning_learns_a_separable_task_and_a_zero_lr_changes_nothing():
    (x_tr, y_tr), (x_te, y_te) = blobs(4, 3, 0), blobs(10, 3, 1)
    torch.manual_seed(0)
    model = torch.nn.Linear(8, 3)
    with torch.no_grad():
        model.weight.zero_()
        model.bias.copy_(torch.tensor([1.0, 0.0, 0.0]))  # predicts class 0: chance
    frozen = {k: v.clone() for k, v in model.state_dict().items()}
    curve = relearn(model, (x_tr, y_tr), (x_te, y_te), steps=20, every=10,
                               lr=0.0, batch_size=6)
    assert curve == pytest.approx({0: 100 / 3, 10: 100 / 3, 20: 100 / 3})
    assert all(torch.equal(v, frozen[k]) for k, v in model.state_dict().items())
    curve = relearn(model, (x_tr, y_tr), (x_te, y_te), steps=20, every=10,
                               lr=0.5, batch_size=6)
    assert curve[0] == pytest.approx(100 / 3) and curve[20] == 100.0


def test_cls_attention_maps_match_a_recomputation_and_sum_to_one(tiny_clip):
    from trainers.modules.adu_model import PromptedImageEncoder, VisionPrompts
    visual = tiny_clip.eval().visual
    images = torch.randn(2, 3, 32, 32)
    with record_blocks(visual) as records:
        tiny_clip.encode_image(images)
    assert len(records) == len(visual.transformer.resblocks)
    # the last block's weights, recomputed by hand from its in_proj weights
    block, x, _ = records[-1]
    h = block.ln_1(x)
    q, k, _ = torch.nn.functional.linear(h, block.attn.in_proj_weight,
                                         block.attn.in_proj_bias).chunk(3, dim=-1)
    heads, (length, batch, width) = block.attn.num_heads, x.shape
    split = lambda t: t.reshape(length, batch * heads, width // heads).transpose(0, 1)  # noqa
    manual = torch.softmax(split(q) @ split(k).transpose(1, 2) / (width // heads) ** 0.5, -1)
    manual = manual.view(batch, heads, length, length).mean(dim=1)
    assert torch.allclose(block_attention(block, x), manual, atol=1e-5)
    maps = cls_maps(records, n_patches=16)
    for kind in ("last", "rollout"):
        assert maps[kind].shape == (2, 16) and (maps[kind] >= 0).all()
        assert torch.allclose(maps[kind].sum(dim=-1), torch.ones(2))
        assert torch.all(maps[f"prompt_share_{kind}"] == 0)
    # with deep prompts the maps still cover the patches only, and say what the prompts hold
    encoder = PromptedImageEncoder(visual, VisionPrompts(visual.transformer.width, 4, 9, [9]))
    with record_blocks(visual) as records:
        encoder(images)
    maps = cls_maps(records, n_patches=16)
    assert maps["last"].shape == (2, 16)
    assert ((maps["prompt_share_last"] > 0) & (maps["prompt_share_last"] < 1)).all()


def test_relearning_scores_a_domain_of_many_images_in_bounded_memory():
    """tools/robustness.py streams the forget domain's test images: a fake
    domain of 8,000 images of 3 x 64 x 64 (390 MiB as one tensor), made batch
    by batch, is scored with the resident set growing by far less."""
    import os

    from experiments.bench.probe_cost import peak_mib

    if not os.path.exists("/proc/self/clear_refs"):
        pytest.skip("needs Linux's /proc to read the peak resident set")

    class ManyImages:
        def __iter__(self):
            gen = torch.Generator().manual_seed(0)
            for _ in range(100):
                images = torch.randn(80, 3, 64, 64, generator=gen)
                yield images, (images[:, 0].mean(dim=(1, 2)) > 0).long()

    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 64 * 64, 2))
    x_tr = torch.randn(8, 3, 64, 64)
    curve, mib = peak_mib(lambda: relearn(model, (x_tr, torch.arange(8) % 2), ManyImages(),
                                          steps=1, every=1, lr=0.0, batch_size=4),
                          torch.device("cpu"))
    assert set(curve) == {0, 1} and 0 <= curve[0] <= 100
    assert mib < 100, f"peak resident set grew by {mib:.0f} MiB"
