"""Accidents a careful user makes with tools/export.py, tools/predict.py and
image folders (issue 37, parts 4 and 6), each refused or handled in one
line naming the file and what to do; docs/RELIABILITY.md's table
"Deployment: sealed exports and safe inputs" lists them with their state
before this file. Every Pillow image mode reaches the model as the RGB a
person sees (datasets.files.to_rgb), in predict and in the loaders alike.

    python -m pytest tests/test_accidents_deploy.py -q
"""
import json
import os
import shutil
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("dassl", reason="Dassl not installed (pip install it from GitHub, see README)")

from deploy_files import deadline, export_zeroshot, write_images  # noqa: E402
from tool_entry import load_tool  # noqa: E402

from datasets.files import read_rgb, to_rgb  # noqa: E402

export_tool = load_tool("export")
predict_tool = load_tool("predict")


@pytest.fixture(scope="module")
def pt2(tmp_path_factory):
    """A sealed export, written where links to two victim files were planted
    (at FILE.pt2 and FILE.pt2.json)."""
    folder = tmp_path_factory.mktemp("pt2")
    path = folder / "zs.pt2"
    for name in ("zs.pt2", "zs.pt2.json"):
        (folder / f"victim_{name}.txt").write_text("keep me")
        os.symlink(folder / f"victim_{name}.txt", folder / name)
    export_zeroshot(str(path), "torch.export")
    return str(path)


def error_line(capsys, program, argv, tool=None):
    with pytest.raises(SystemExit) as info:
        (tool or predict_tool).main(argv)
    lines = capsys.readouterr().err.strip().splitlines()
    assert info.value.code == 2 and len(lines) == 1, lines
    assert lines[0].startswith(f"{program}: error: ")
    return lines[0]


def predicted(capsys, argv):
    """(exit status, {path: class}, stderr lines) of predict.py."""
    status = predict_tool.main(argv)
    out, err = capsys.readouterr()
    rows = [line.split("\t") for line in out.strip().splitlines() if line]
    return status, {row[0]: row[1] for row in rows}, err.strip().splitlines()


# ----- the model given -------------------------------------------------------------

@pytest.mark.parametrize("name, expected", [
    ("results.json", "MODEL must be a run folder, a .pt2 or a .onnx"),  # a wrong file
    ("photo.png", "MODEL must be a run folder, a .pt2 or a .onnx"),
    ("adu.pt", "a TorchScript export, which is no longer read"),         # an old export
    ("missing.pt2", "missing.pt2 not found"),
])
def test_a_wrong_file_as_model_is_one_line(tmp_path, capsys, name, expected):
    if name != "missing.pt2":
        (tmp_path / name).write_bytes(b"{}")
    assert expected in error_line(capsys, "predict.py", [str(tmp_path / name), str(tmp_path)])


def test_a_folder_that_is_no_run_as_model_is_one_line(tmp_path, capsys):
    folder = tmp_path / "adu.pt2"  # a folder named like an export
    folder.mkdir()
    assert "has no config.yaml" in error_line(capsys, "predict.py", [str(folder), str(tmp_path)])


def test_an_empty_export_copied_half_way_is_one_line(pt2, tmp_path, capsys):
    model = tmp_path / "zs.pt2"
    model.write_bytes(b"")
    shutil.copy(pt2 + ".json", str(model) + ".json")
    assert f"{model} is 0 bytes, its json says" in error_line(
        capsys, "predict.py", [str(model), str(tmp_path)])


def test_a_fifo_as_the_json_is_one_line(pt2, tmp_path, capsys):
    model = tmp_path / "zs.pt2"
    shutil.copy(pt2, model)
    os.mkfifo(str(model) + ".json")
    with deadline(120):
        line = error_line(capsys, "predict.py", [str(model), str(tmp_path)])
    assert "is not a readable json (not a regular file (a FIFO))" in line


# ----- the export's options and outputs --------------------------------------------

@pytest.mark.parametrize("argv, expected", [
    (["--torchscript", "m.pt"], "TorchScript is no longer exported"),
    (["--pt2", "m.pt"], "m.pt: the file name must end in .pt2"),
    (["--onnx", "m.pt2"], "m.pt2: the file name must end in .onnx"),
])
def test_export_refuses_the_old_format_and_a_wrong_name(tmp_path, capsys, argv, expected):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("TRAINER:\n  NAME: ADU\n")
    assert expected in error_line(capsys, "export.py", [str(run), *argv], export_tool)


def test_links_planted_at_the_outputs_are_replaced_not_followed(pt2):
    folder = os.path.dirname(pt2)
    for name in ("zs.pt2", "zs.pt2.json"):
        assert open(os.path.join(folder, f"victim_{name}.txt")).read() == "keep me"
        assert not os.path.islink(os.path.join(folder, name))
    assert json.load(open(pt2 + ".json"))["size"] == os.path.getsize(pt2)


# ----- the images given ------------------------------------------------------------

def bomb_png(path, side=20000):
    """A valid PNG header claiming side x side pixels (a few bytes on disk)."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                     + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b""))


def test_bad_images_are_named_with_what_to_do_and_the_good_ones_predicted(pt2, tmp_path,
                                                                         capsys):
    folder = tmp_path / "photos"
    good = write_images(folder, 2)
    (folder / "notes.jpg").write_text("a text file named .jpg")                # another format
    data = open(good[0], "rb").read()
    (folder / "cut.png").write_bytes(data[:len(data) // 2])                    # truncated
    bomb_png(folder / "huge.png")                                              # a bomb
    (folder / "sub").mkdir()                                                   # a subfolder
    (folder / "sub" / "empty.png").write_bytes(b"")                            # zero bytes
    with deadline(120):
        status, rows, err = predicted(capsys, [pt2, str(folder), str(tmp_path / "gone.png"),
                                               "/dev/null"])
    assert list(rows) == good and status == 2
    text = "\n".join(err)
    assert f"{folder / 'notes.jpg'}: cannot read this image (" in text
    assert f"{folder / 'cut.png'}: cannot read this image (" in text
    assert f"{folder / 'huge.png'}: more than" in text and "decompression bomb" in text
    assert f"{folder / 'sub' / 'empty.png'}: cannot read this image" in text
    assert f"{tmp_path / 'gone.png'}: not found; skipped" in text
    assert "/dev/null: not a regular file (a character device)" in text
    assert "replace the file with a readable .jpg/.png" in text
    assert err[-1].startswith("predict.py: 6 file(s) skipped")


def image_of_mode(mode, rng):
    """A 9x7 image of `mode` with its whole value range."""
    if mode == "1":
        return Image.fromarray(rng.integers(0, 2, (7, 9)).astype(bool))
    if mode in ("I;16", "I"):
        image = Image.fromarray(rng.integers(0, 65536, (7, 9)).astype(
            np.uint16 if mode == "I;16" else np.int32))
        assert image.mode == mode
        return image
    if mode == "F":
        return Image.fromarray(rng.random((7, 9)).astype(np.float32))
    rgba = Image.fromarray(rng.integers(0, 256, (7, 9, 4), dtype=np.uint8), mode="RGBA")
    if mode == "P":
        return rgba.convert("RGB").quantize(16)
    if mode == "P_transparent":
        image = rgba.convert("RGB").quantize(16)
        image.info["transparency"] = 3
        return image
    return rgba.convert(mode) if mode != "RGBA" else rgba


def expected_rgb(image):
    """The 8-bit RGB a person sees, computed by hand: alpha over white, 16 bits
    scaled by 1/257, floats in [0, 1] scaled by 255."""
    mode = image.mode
    if mode in ("I;16", "I"):
        grey = np.clip(np.rint(np.asarray(image, dtype=np.float64) / 257), 0, 255)
        return np.repeat(grey[..., None], 3, axis=2)
    if mode == "F":
        grey = np.clip(np.rint(np.asarray(image, dtype=np.float64) * 255), 0, 255)
        return np.repeat(grey[..., None], 3, axis=2)
    if mode in ("LA", "RGBA", "PA") or "transparency" in image.info:
        rgba = np.asarray(image.convert("RGBA"), dtype=np.float64)
        alpha = rgba[..., 3:] / 255
        return rgba[..., :3] * alpha + 255 * (1 - alpha)
    return np.asarray(image.convert("RGB"), dtype=np.float64)


MODES = ["1", "L", "LA", "P", "P_transparent", "RGBA", "CMYK", "YCbCr", "I;16", "I", "F", "RGB"]


@pytest.mark.parametrize("mode", MODES)
def test_every_image_mode_reaches_the_model_as_the_rgb_a_person_sees(mode):
    image = image_of_mode(mode, np.random.default_rng(MODES.index(mode)))
    got = to_rgb(image)
    assert got.mode == "RGB" and got.size == image.size
    diff = np.abs(np.asarray(got, dtype=np.float64) - expected_rgb(image))
    assert diff.max() <= 1.0  # Pillow's integer compositing rounds


def test_a_16_bit_grey_png_is_scaled_not_clipped_to_white(pt2, tmp_path, capsys):
    ramp = (np.arange(64 * 64).reshape(64, 64) * 16).astype(np.uint16)   # 0 .. 65520
    Image.fromarray(ramp).save(tmp_path / "scan16.png")
    Image.fromarray(np.rint(ramp / 257).astype(np.uint8)).save(tmp_path / "scan8.png")
    a, b = read_rgb(str(tmp_path / "scan16.png")), read_rgb(str(tmp_path / "scan8.png"))
    assert np.array_equal(np.asarray(a), np.asarray(b))
    assert np.asarray(a).mean() < 200  # Pillow's own convert("RGB") gives about 255
    status, rows, _ = predicted(capsys, [pt2, str(tmp_path / "scan16.png"),
                                         str(tmp_path / "scan8.png")])
    assert status == 0 and len(set(rows.values())) == 1


def test_a_transparent_logo_is_seen_on_white(tmp_path):
    pixels = np.zeros((8, 8, 4), dtype=np.uint8)  # black under alpha 0, a red square
    pixels[2:6, 2:6] = (255, 0, 0, 255)
    Image.fromarray(pixels, mode="RGBA").save(tmp_path / "logo.png")
    seen = np.asarray(read_rgb(str(tmp_path / "logo.png")))
    assert (seen[0, 0] == 255).all() and tuple(seen[3, 3]) == (255, 0, 0)


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_rgb_files_read_byte_identical_to_dassls_reader(tmp_path, suffix):
    """A clean run's images (RGB JPEG / PNG) are read as before: same bytes."""
    from dassl.utils import read_image
    path = tmp_path / f"photo{suffix}"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (33, 47, 3), dtype=np.uint8)
                    ).save(path)
    assert read_rgb(str(path)).tobytes() == read_image(str(path)).tobytes()


def test_the_training_and_test_loaders_read_through_the_same_conversion(tmp_path):
    from dassl.config import get_cfg_default
    from dassl.data.datasets import Datum
    from dassl.data.transforms import build_transform
    from trainers.engine.test_images import ReadSafeWrapper, RGBDatasetWrapper
    cfg = get_cfg_default()
    cfg.INPUT.SIZE = (16, 16)
    Image.fromarray((np.arange(40 * 40).reshape(40, 40) * 40).astype(np.uint16)).save(
        tmp_path / "grey16.png")
    items = [Datum(impath=str(tmp_path / "grey16.png"), label=0, domain=0)]
    tfm = build_transform(cfg, is_train=False)
    expected = tfm(read_rgb(str(tmp_path / "grey16.png")))
    for wrapper in (RGBDatasetWrapper, ReadSafeWrapper):
        assert torch.equal(wrapper(cfg, items, transform=tfm)[0]["img"], expected)


def test_the_data_check_does_not_wait_on_a_fifo_named_like_an_image(tmp_path):
    from datasets.image_check import header_problems, problem_of
    os.mkfifo(tmp_path / "x.jpg")
    with deadline(60):
        assert problem_of(str(tmp_path / "x.jpg"), decode=True) == "not a regular file (a FIFO)"
        assert header_problems([str(tmp_path / "x.jpg")], str(tmp_path / "cache")) == {
            str(tmp_path / "x.jpg"): "not a regular file (a FIFO)"}
