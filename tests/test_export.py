"""Deploying a run (experiments/export/, tools/export.py, tools/predict.py):
the exported torch.export (.pt2) and ONNX modules against the project's own
model, the .pt2 file without the project (the docs' snippet, with
FutureWarning an error), the metadata, predict's lines, and the one-line
errors. Sealing and damaged inputs: test_deploy_sealed.py and
test_accidents_deploy.py.

The slow tests export the session's finished tiny runs (conftest.py); the
fast ones build a zero-shot module straight from a tiny CLIP.
"""
import importlib.util
import json
import os
import shutil
import subprocess
import sys

import pytest
import torch

pytest.importorskip("dassl", reason="Dassl not installed (pip install it from GitHub, see README)")

from tool_entry import load_tool  # noqa: E402
from train_harness import REPO  # noqa: E402

from experiments.export.deployed import DeployedClassifier  # noqa: E402
from experiments.export.exporter import save_onnx, save_pt2  # noqa: E402
from experiments.export.parts import zeroshot_parts  # noqa: E402
from trainers.modules.clip_heads import ZeroshotClassifier  # noqa: E402

export_tool = load_tool("export")
predict_tool = load_tool("predict")

CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
EXPORT_CHECKED = ("ADU", "CoOpADU", "LPPlusPlusADU")


def one_error_line(capsys, program):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"{program}: error: "), err
    return err[0]


# ----- fast: a zero-shot module from a tiny CLIP ------------------------------------

@pytest.fixture
def zeroshot(tiny_clip):
    classifier = ZeroshotClassifier(tiny_clip, ["cat", "dog", "car"], "a photo of a {}.").eval()
    return classifier, DeployedClassifier(zeroshot_parts(classifier), CLIP_MEAN, CLIP_STD).eval()


def test_the_module_normalises_inside_and_matches_the_classifier(zeroshot, tmp_path):
    classifier, deployed = zeroshot
    images = torch.rand(5, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    mean, std = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1), torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    expected = classifier((images - mean) / std)
    path = str(tmp_path / "zs.pt2")
    save_pt2(deployed, images[:2], path)
    loaded = torch.export.load(path).module()
    with torch.no_grad():
        assert (deployed(images) - expected).abs().max() < 1e-5
        assert (loaded(images) - expected).abs().max() < 1e-5  # batch 5, traced at 2


def test_the_pt2_program_refuses_another_image_size(zeroshot, tmp_path):
    _, deployed = zeroshot
    path = str(tmp_path / "zs.pt2")
    save_pt2(deployed, torch.rand(2, 3, 32, 32), path)
    program = torch.export.load(path).module()
    for shape, axis, size in (((1, 3, 40, 40), 2, 32), ((1, 3, 32, 24), 3, 32),
                              ((1, 1, 32, 32), 1, 3)):
        with pytest.raises(Exception) as info:
            program(torch.rand(*shape))
        assert f"images.size()[{axis}] == {size}" in str(info.value), shape


def test_the_onnx_module_has_a_dynamic_batch_and_refuses_another_size(zeroshot, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript", reason="--onnx needs onnxscript (requirements.txt)")
    _, deployed = zeroshot
    path = str(tmp_path / "zs.onnx")
    save_onnx(deployed, torch.rand(2, 3, 32, 32), path)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    images = torch.rand(7, 3, 32, 32)
    with torch.no_grad():
        expected = deployed(images).numpy()
    got = session.run(["logits"], {"images": images.numpy()})[0]
    assert got.shape == (7, 3) and abs(got - expected).max() < 1e-4
    with pytest.raises(Exception, match="invalid dimensions"):
        session.run(None, {"images": torch.rand(1, 3, 40, 40).numpy()})


def test_fp16_halves_a_copy_of_the_image_tower_and_stays_close(zeroshot, tmp_path):
    import types
    from dassl.config import get_cfg_default
    from experiments.export.exporter import deployed_model
    classifier, deployed = zeroshot
    cfg = get_cfg_default()
    cfg.TRAINER.NAME, cfg.INPUT.SIZE = "ZeroshotCLIP", (32, 32)
    cfg.INPUT.TRANSFORMS = ["normalize"]
    cfg.INPUT.PIXEL_MEAN, cfg.INPUT.PIXEL_STD = CLIP_MEAN, CLIP_STD
    half = deployed_model(types.SimpleNamespace(trainer=types.SimpleNamespace(
        cfg=cfg, model=classifier)), fp16=True)
    assert half.encoder.visual.conv1.weight.dtype == torch.float16
    assert classifier.clip.visual.conv1.weight.dtype == torch.float32  # the run's model
    path = str(tmp_path / "half.pt2")
    images = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    save_pt2(half, images[:2], path)
    with torch.no_grad():
        got, expected = torch.export.load(path).module()(images), deployed(images)
    assert got.dtype == torch.float32 and 0 < (got - expected).abs().max() < 0.05


@pytest.mark.parametrize("size, interpolation", [((32, 32), "bicubic"), ((24, 40), "bilinear")])
def test_predict_reads_an_image_as_the_runs_test_transform_does(tmp_path, size, interpolation):
    from dassl.config import get_cfg_default
    from dassl.data.transforms import build_transform
    from experiments.export.metadata import input_spec
    from experiments.export.predictor import image_transform, read_image
    from PIL import Image
    cfg = get_cfg_default()
    cfg.INPUT.SIZE, cfg.INPUT.INTERPOLATION = size, interpolation
    cfg.INPUT.TRANSFORMS = ["normalize"]
    path = tmp_path / "noise.png"  # textured and not square: resizing and cropping show
    Image.fromarray(torch.randint(0, 256, (45, 70, 3), dtype=torch.uint8,
                                  generator=torch.Generator().manual_seed(0)).numpy()).save(path)
    spec = input_spec(cfg)
    pixels = read_image(str(path), image_transform({"input": spec}))
    with Image.open(path) as image:
        expected = build_transform(cfg, is_train=False)(image.convert("RGB"))
    mean = torch.tensor(spec["normalization"]["mean"]).view(3, 1, 1)
    std = torch.tensor(spec["normalization"]["std"]).view(3, 1, 1)
    assert pixels.shape == (3, *size)
    assert torch.allclose((pixels - mean) / std, expected, atol=1e-6)


def write_fake_run(folder, trainer="ADU", finished=True):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(f"TRAINER:\n  NAME: {trainer}\n")
    if finished:
        (folder / "results.json").write_text("{}")
    return folder


@pytest.mark.parametrize("case, expected", [
    ("missing", "is not a folder"),
    ("empty", "has no config.yaml"),
    ("unfinished", "has no results.json: the run has not finished"),
    ("no_weights", "holds no saved learner"),
    ("not_exportable", "trainer 'CoOp', which cannot be exported"),
])
def test_export_refuses_a_folder_without_an_exportable_finished_run(tmp_path, capsys, case,
                                                                    expected):
    run = tmp_path / "run"
    if case == "empty":
        run.mkdir()
    elif case != "missing":
        write_fake_run(run, "CoOp" if case == "not_exportable" else "ADU",
                       finished=case != "unfinished")
    with pytest.raises(SystemExit) as info:
        export_tool.main([str(run), "--pt2", str(tmp_path / "m.pt2")])
    assert info.value.code == 2
    line = one_error_line(capsys, "export.py")
    assert expected in line
    if case == "not_exportable":
        assert "ADU, BBFADU, CLIPFitADU, CoOpADU, LPPlusPlusADU, MaPLeADU, ZeroshotCLIP" in line
    assert not (tmp_path / "m.pt2").exists()


def test_a_missing_onnx_or_onnxruntime_is_one_line(tmp_path, capsys, monkeypatch):
    run = write_fake_run(tmp_path / "run")
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now raises ImportError
    with pytest.raises(SystemExit) as info:
        export_tool.main([str(run), "--onnx", str(tmp_path / "m.onnx")])
    assert info.value.code == 2
    assert "pip install onnx onnxscript onnxruntime" in one_error_line(capsys, "export.py")
    model = tmp_path / "m.onnx"
    model.write_bytes(b"")
    (tmp_path / "m.onnx.json").write_text("{}")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(SystemExit) as info:
        predict_tool.main([str(model), str(tmp_path)])
    assert info.value.code == 2
    assert "needs onnxruntime, which is not installed" in one_error_line(capsys, "predict.py")


def test_export_needs_a_file_to_write(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        export_tool.main([str(write_fake_run(tmp_path / "run"))])
    assert info.value.code == 2
    assert "pass --pt2 FILE.pt2 and/or --onnx FILE.onnx" in one_error_line(
        capsys, "export.py")


# ----- slow: the session's finished runs, exported -------------------------------

@pytest.fixture(scope="module")
def exported(finished_tiny_runs, tmp_path_factory):
    """{trainer: (run folder, .pt2, .onnx)}, written by tools/export.py."""
    out = tmp_path_factory.mktemp("exported")
    files = {}
    with_onnx = importlib.util.find_spec("onnxscript") is not None
    for name in EXPORT_CHECKED:
        pt, onnx = str(out / f"{name}.pt2"), str(out / f"{name}.onnx")
        export_tool.main([str(finished_tiny_runs[name]), "--pt2", pt]
                         + (["--onnx", onnx] if with_onnx else []))
        files[name] = (finished_tiny_runs[name], pt, onnx)
    return files


@pytest.fixture(scope="module")
def project_outputs(exported):
    """{trainer: (the rebuilt run, [0, 1] test images as predict reads them,
    the project's evaluation outputs on Dassl's test loader, labels, domains)}."""
    from experiments.export.predictor import image_transform, read_image
    from experiments.export.run_model import load_export_run
    outputs = {}
    for name, (run_dir, pt, _) in exported.items():
        run = load_export_run(str(run_dir))
        trainer = run.trainer
        logits, domain_logits = [], []
        for batch in trainer.test_loader:
            images, _ = trainer.parse_batch_test(batch)
            res = trainer.evaluation_outputs(images)
            logits.append(res["logits"])
            if res.get("domain_logits") is not None:
                domain_logits.append(res["domain_logits"])
        test = trainer.dm.dataset.test
        transform = image_transform(json.load(open(pt + ".json")))
        pixels = torch.stack([read_image(item.impath, transform) for item in test])
        outputs[name] = (run, pixels, torch.cat(logits),
                         torch.cat(domain_logits) if domain_logits else None,
                         torch.tensor([item.label for item in test]),
                         torch.tensor([item.domain for item in test]))
    return outputs


def exported_outputs(path, pixels):
    """(logits, domain logits or None) of an exported file on [0, 1] images."""
    if path.endswith(".pt2"):
        with torch.no_grad():
            out = torch.export.load(path).module()(pixels)
        return (out[0], out[1]) if isinstance(out, tuple) else (out, None)
    import onnxruntime
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    out = [torch.from_numpy(o) for o in session.run(None, {"images": pixels.numpy()})]
    return out[0], (out[1] if len(out) > 1 else None)


@pytest.mark.slow
@pytest.mark.parametrize("name", EXPORT_CHECKED)
@pytest.mark.parametrize("file_format", ["pt2", "onnx"])
def test_the_export_reproduces_the_runs_predictions_and_per_domain_accuracy(
        exported, project_outputs, name, file_format):
    from trainers.modules.metrics import unlearning_scores
    run_dir, pt, onnx = exported[name]
    run, pixels, logits, domain_logits, labels, domains = project_outputs[name]
    if not os.path.exists(pt if file_format == "pt2" else onnx):
        pytest.skip("--onnx needs onnxscript (requirements.txt), not installed")
    got, got_domain = exported_outputs(pt if file_format == "pt2" else onnx, pixels)
    assert got.shape == logits.shape == (24, 3)
    assert (got - logits).abs().max().item() < 1e-4
    assert torch.equal(got.argmax(-1), logits.argmax(-1))
    if name == "ADU":
        assert (got_domain - domain_logits).abs().max().item() < 1e-4
    else:
        assert got_domain is None and domain_logits is None
    dataset = run.trainer.dm.dataset
    scores = unlearning_scores(got.argmax(-1), labels, domains, dataset.domains,
                               dataset.forget_domain_ids)
    results = json.load(open(os.path.join(run_dir, "results.json")))
    assert {d: row["accuracy"] for d, row in scores["per_domain"].items()} == {
        d: row["accuracy"] for d, row in results["per_domain"].items()}


@pytest.mark.slow
def test_the_json_says_what_the_file_holds_and_forgot(exported, project_outputs):
    run_dir, pt, onnx = exported["ADU"]
    results = json.load(open(os.path.join(run_dir, "results.json")))
    info = json.load(open(os.path.join(run_dir, "run_info.json")))
    dataset = project_outputs["ADU"][0].trainer.dm.dataset
    for path, file_format in ((pt, "torch.export"), (onnx, "onnx")):
        if not os.path.exists(path):
            continue  # no onnxscript
        meta = json.load(open(path + ".json"))
        assert meta["format"] == file_format and meta["precision"] == "fp32"
        assert meta["classnames"] == list(dataset.classnames)
        assert meta["outputs"] == ["logits", "domain_logits"]
        assert meta["domains"] == results["domains"]
        assert meta["forget_domains"] == ["art"]
        assert meta["memorize_domains"] == ["clipart", "product", "real_world"]
        assert meta["scores"] == {
            "mem": results["mem"], "for": results["for"], "h": results["h"],
            "per_domain_accuracy": {d: r["accuracy"] for d, r in results["per_domain"].items()}}
        assert meta["fingerprint"] == results["fingerprint"]
        assert meta["commit"] == info["git"]["commit"]
        assert (meta["trainer"], meta["backbone"]) == ("ADU", results["backbone"])
        assert meta["input"]["size"] == [32, 32] and meta["input"]["center_crop"] == [32, 32]
        assert meta["input"]["normalization"]["mean"] == CLIP_MEAN
        assert meta["size"] == os.path.getsize(path) and len(meta["sha256"]) == 64
    assert json.load(open(exported["CoOpADU"][1] + ".json"))["outputs"] == ["logits"]


# Run with -I, from an empty folder, without PYTHONPATH: only torch, its
# friends and the standard library are importable, not a line of this project.
NO_PROJECT = """
import importlib.util
assert importlib.util.find_spec("trainers") is None and importlib.util.find_spec("user_errors") is None
"""


def deploy_snippet():
    """The plain-torch snippet of docs/DEPLOY.md (and of the README's Deploy section)."""
    with open(os.path.join(REPO, "docs", "DEPLOY.md")) as f:
        text = f.read()
    block = text.split("<!-- deploy-snippet -->")[1].split("<!-- /deploy-snippet -->")[0]
    return block.split("```python")[1].split("```")[0]


def test_the_readme_deploy_section_shows_the_tested_snippet():
    with open(os.path.join(REPO, "README.md")) as f:
        assert deploy_snippet() in f.read()


def test_an_exported_file_without_its_json_is_one_line(tmp_path, capsys):
    model = tmp_path / "m.pt2"
    model.write_bytes(b"")
    with pytest.raises(SystemExit) as info:
        predict_tool.main([str(model), str(tmp_path)])
    assert info.value.code == 2
    assert f"{model}.json not found" in one_error_line(capsys, "predict.py")


@pytest.mark.slow
def test_the_docs_snippet_classifies_with_the_pt2_file_outside_the_project_without_warning(
        exported, project_outputs, tmp_path):
    _, pt, _ = exported["ADU"]
    run, _, logits, domain_logits, _, _ = project_outputs["ADU"]
    for suffix in ("", ".json"):
        shutil.copy(pt + suffix, tmp_path / f"adu.pt2{suffix}")
    shutil.copy(run.trainer.dm.dataset.test[5].impath, tmp_path / "car.jpg")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    code = NO_PROJECT + deploy_snippet() + "torch.save(out, 'out.pt')\n"
    proc = subprocess.run([sys.executable, "-W", "error::FutureWarning", "-W",
                           "error::DeprecationWarning", "-I", "-c", code], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got_logits, got_domain = torch.load(tmp_path / "out.pt", weights_only=True)
    assert (got_logits[0] - logits[5]).abs().max().item() < 1e-4
    assert (got_domain[0] - domain_logits[5]).abs().max().item() < 1e-4
    best = run.trainer.dm.dataset.classnames[logits[5].argmax().item()]
    assert proc.stdout.strip() == f"{best} - forgot ['art']"


@pytest.mark.slow
@pytest.mark.parametrize("model", ["pt2", "onnx", "run"])
def test_predict_prints_each_images_class_and_counts_the_unreadable(
        exported, project_outputs, model, tmp_path, capsys):
    run_dir, pt, onnx = exported["ADU"]
    run, _, logits, _, _, _ = project_outputs["ADU"]
    test = run.trainer.dm.dataset.test
    classnames = run.trainer.dm.dataset.classnames
    folder = tmp_path / "images"
    folder.mkdir()
    for i in (0, 7):  # a folder holding two test images, a text file and a broken image
        os.symlink(test[i].impath, folder / f"img{i}.jpg")
    (folder / "notes.txt").write_text("not an image")
    (folder / "broken.png").write_bytes(b"not a png")
    if model == "onnx" and not os.path.exists(onnx):
        pytest.skip("--onnx needs onnxscript (requirements.txt), not installed")
    status = predict_tool.main([{"pt2": pt, "onnx": onnx, "run": str(run_dir)}[model],
                                str(folder), test[3].impath, "--top", "2"])
    out, err = capsys.readouterr()
    lines = [line.split("\t") for line in out.strip().splitlines()]
    paths = [str(folder / "img0.jpg"), str(folder / "img7.jpg"), test[3].impath]
    assert [line[0] for line in lines] == paths
    probabilities = logits.softmax(-1)
    for line, i in zip(lines, (0, 7, 3)):
        best = probabilities[i].topk(2)
        assert line[1::2] == [classnames[j] for j in best.indices.tolist()]
        assert [float(p) for p in line[2::2]] == pytest.approx(best.values.tolist(), abs=1e-4)
    assert status == 2
    assert f"{folder / 'broken.png'}: cannot read this image" in err
    assert "notes.txt" not in err + out
