"""Exports are sealed (issue 37, part 3) and predict never blocks on a
folder (part 4): the issue's examples, each refused in one line, exit 2,
before any image is read.

- a .pt2 / .onnx with flipped bytes predicted with exit 0 (nan, or one class
  for every image): now its sha256 differs from its json's;
- FILE.json was tied to its model only by name: the json of another export
  beside a model, a json edited by hand, truncated, of another format;
- a FIFO named *.png in a folder blocked predict.py forever.

The exports are a zero-shot module of the tiny CLIP (tests/deploy_files.py),
written and sealed by the exporter's own write_export.
"""
import json
import os
import shutil

import pytest
import torch

pytest.importorskip("dassl", reason="Dassl not installed (pip install it from GitHub, see README)")

from deploy_files import (deadline, export_zeroshot, flip_byte, write_images,  # noqa: E402
                          zeroshot_module)
from tool_entry import load_tool  # noqa: E402

import experiments.export.predictor as predictor  # noqa: E402

predict_tool = load_tool("predict")


@pytest.fixture(scope="module")
def sealed(tmp_path_factory):
    """{"pt2": path, "onnx": path} of sealed exports, and "other": another
    file of the same size sealed by seal() as the exporter seals (one byte
    of zs.pt2 changed), written once; tests copy them."""
    from experiments.export.sealing import seal
    out = tmp_path_factory.mktemp("sealed")
    files = {"pt2": str(out / "zs.pt2"), "other": str(out / "other.pt2")}
    export_zeroshot(files["pt2"], "torch.export")
    shutil.copy(files["pt2"], files["other"])
    flip_byte(files["other"])
    with open(files["other"] + ".json", "w") as f:
        json.dump(seal(json.load(open(files["pt2"] + ".json")), files["other"]), f)
    try:
        import onnxruntime  # noqa: F401
        import onnxscript  # noqa: F401
        files["onnx"] = str(out / "zs.onnx")
        export_zeroshot(files["onnx"], "onnx")
    except ImportError:
        pass
    return files


def copy_export(sealed, kind, folder):
    """A copy of the export `kind` (and its json) in `folder`."""
    if kind not in sealed:
        pytest.skip("onnxruntime / onnxscript not installed")
    ext = ".pt2" if kind != "onnx" else ".onnx"
    path = folder / f"model{ext}"
    shutil.copy(sealed[kind], path)
    shutil.copy(sealed[kind] + ".json", str(path) + ".json")
    return str(path)


@pytest.fixture
def no_image_read(monkeypatch):
    """Fails the test if predict reads an image."""
    def refuse(path):
        raise AssertionError(f"an image was read: {path}")
    monkeypatch.setattr(predictor, "read_rgb", refuse)


def refused(capsys, argv, *expected):
    with pytest.raises(SystemExit) as info:
        predict_tool.main(argv)
    out, err = capsys.readouterr()
    assert info.value.code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("predict.py: error: "), lines
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


def test_the_json_holds_the_sha256_and_size_of_its_file(sealed):
    import hashlib
    meta = json.load(open(sealed["pt2"] + ".json"))
    with open(sealed["pt2"], "rb") as f:
        data = f.read()
    assert meta["sha256"] == hashlib.sha256(data).hexdigest() and meta["size"] == len(data)


@pytest.mark.parametrize("kind", ["pt2", "onnx"])
def test_a_file_with_flipped_bytes_is_refused_before_any_image(sealed, kind, tmp_path, capsys,
                                                                no_image_read):
    model = copy_export(sealed, kind, tmp_path)
    flip_byte(model)
    images = write_images(tmp_path / "images")
    refused(capsys, [model, *images], model, "does not match its json's sha256",
            "export the run again")


@pytest.mark.parametrize("kind", ["pt2", "onnx"])
def test_a_truncated_file_is_refused(sealed, kind, tmp_path, capsys, no_image_read):
    model = copy_export(sealed, kind, tmp_path)
    size = os.path.getsize(model)
    with open(model, "r+b") as f:
        f.truncate(size // 3)
    refused(capsys, [model, str(tmp_path)], model, f"is {size // 3} bytes, its json says {size}",
            "truncated")


def test_the_json_of_another_export_beside_a_model_is_refused(sealed, tmp_path, capsys,
                                                              no_image_read):
    model = copy_export(sealed, "pt2", tmp_path)
    shutil.copy(sealed["other"] + ".json", model + ".json")  # same size: only the digest differs
    assert os.path.getsize(sealed["other"]) == os.path.getsize(model)
    refused(capsys, [model, str(tmp_path)], model, "the json of another export")


@pytest.mark.parametrize("damage, expected", [
    ("edited", "was changed after export"),
    ("truncated", "is not a readable json"),
    ("not_utf8", "is not a readable json"),
    ("a_list", "is not the sealed json of an export"),
    ("results_json", "is not the sealed json of an export (no format, classnames"),
    ("unsealed", "(no sha256, size, metadata_sha256)"),
    ("other_format", "describes a onnx file, but"),
])
def test_a_damaged_or_foreign_json_is_refused(sealed, tmp_path, capsys, no_image_read, damage,
                                              expected):
    model = copy_export(sealed, "pt2", tmp_path)
    meta_path = model + ".json"
    meta = json.load(open(meta_path))
    text = open(meta_path).read()
    if damage == "edited":  # a class renamed by hand
        text = json.dumps({**meta, "classnames": ["cat", "dog", "truck"]})
    elif damage == "truncated":
        text = text[:len(text) // 2]
    elif damage == "a_list":
        text = "[1, 2]"
    elif damage == "results_json":
        text = json.dumps({"mem": 70.0, "for": 62.5, "h": 66.04})
    elif damage == "unsealed":  # an export's json from before the seal
        text = json.dumps({k: v for k, v in meta.items()
                           if k not in ("sha256", "size", "metadata_sha256")})
    elif damage == "other_format":
        from experiments.export.sealing import metadata_digest
        changed = {**meta, "format": "onnx"}
        changed["metadata_sha256"] = metadata_digest(changed)
        text = json.dumps(changed)
    if damage == "not_utf8":
        open(meta_path, "wb").write(b"\xff\xfe\x00{")
    else:
        open(meta_path, "w").write(text)
    refused(capsys, [model, str(tmp_path)], meta_path, expected)


def test_a_sealed_export_predicts_every_image(sealed, tmp_path, capsys):
    model = copy_export(sealed, "pt2", tmp_path)
    images = write_images(tmp_path / "images")
    assert predict_tool.main([model, str(tmp_path / "images")]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert [line.split("\t")[0] for line in out] == images


def test_a_fifo_named_png_in_a_folder_is_skipped_with_a_note_not_waited_on(sealed, tmp_path,
                                                                          capsys):
    model = copy_export(sealed, "pt2", tmp_path)
    images = write_images(tmp_path / "images")
    fifo = tmp_path / "images" / "img1b.png"
    os.mkfifo(fifo)
    with deadline(120):  # a blocked open fails here instead of hanging the suite
        status = predict_tool.main([model, str(tmp_path / "images")])
    out, err = capsys.readouterr()
    assert [line.split("\t")[0] for line in out.strip().splitlines()] == images
    assert f"{fifo}: not a regular file (a FIFO), not an image file; skipped" in err
    assert status == 2


def test_onnx_from_the_torch_export_based_exporter_is_a_valid_graph_equal_to_the_module(sealed):
    onnx = pytest.importorskip("onnx")
    if "onnx" not in sealed:
        pytest.skip("onnxruntime / onnxscript not installed")
    onnx.checker.check_model(onnx.load(sealed["onnx"]), full_check=True)
    images = torch.rand(6, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = zeroshot_module()(images)
    meta = json.load(open(sealed["onnx"] + ".json"))
    got = predictor.onnx_predictor(sealed["onnx"], meta).logits(images)
    assert (got - expected).abs().max().item() < 1e-4
    assert torch.equal(got.argmax(-1), expected.argmax(-1))
