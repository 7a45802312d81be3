"""Images that cannot be read (datasets/image_check.py, trainers/engine/test_images.py):
the test split's header scan is cached by the files' sizes and mtimes, a
truncated test image (header intact) ends the run in one line naming it
instead of a loader worker's traceback, and DATASET.SKIP_UNREADABLE True
skips and counts them per domain in results.json and the final table."""
import json
import os

import pytest

from datasets import image_check
from fake_data import make_office_home, write_image, write_truncated_image
from train_harness import REPO, TINY_OPTS


def test_the_header_scan_is_cached_by_sizes_and_mtimes(tmp_path, monkeypatch):
    paths = [write_image(str(tmp_path / f"img{i}.jpg"), index=i) for i in range(5)]
    open(paths[2], "wb").close()  # zero bytes
    opened = []
    real = image_check.problem_of

    def counting(path, decode):
        opened.append(path)
        return real(path, decode)
    monkeypatch.setattr(image_check, "problem_of", counting)
    cache = str(tmp_path / "cache")
    assert image_check.header_problems(paths, cache) == {paths[2]: "zero bytes"}
    assert len(opened) == 5
    opened.clear()
    assert image_check.header_problems(paths, cache) == {paths[2]: "zero bytes"}
    assert opened == []  # the same files: nothing opened
    write_image(paths[2], index=2)  # fixed: its size and mtime change
    assert image_check.header_problems(paths, cache) == {}
    assert len(opened) == 5


@pytest.fixture(scope="module")
def broken_root(tmp_path_factory):
    """Office-Home with a truncated test image in product and a zero-byte one in clipart."""
    root = tmp_path_factory.mktemp("broken")
    top = make_office_home(str(root), num_classes=3, train_per_pair=3, val_per_pair=2)
    write_truncated_image(os.path.join(top, "product", "val", "Bike", "val_00000.jpg"))
    open(os.path.join(top, "clipart", "val", "Bike", "val_00001.jpg"), "wb").close()
    return root


def train_args(root, out, clip_file, *opts):
    return ["--root", str(root), "--seed", "1", "--trainer", "ADU",
            "--dataset-config-file", os.path.join(REPO, "configs", "datasets", "office_home.yaml"),
            "--config-file", os.path.join(REPO, "configs", "trainers", "ADU", "vit_b16_ep50.yaml"),
            "--output-dir", str(out), "--forget-domains", "art",
            "MODEL.BACKBONE.NAME", clip_file, *TINY_OPTS, "TEST.LINEAR_PROBES", "False", *opts]


@pytest.mark.slow
def test_a_truncated_test_image_ends_the_run_in_one_line(broken_root, tiny_clip_file, tmp_path,
                                                         capsys):
    pytest.importorskip("dassl")
    import train
    os.remove(os.path.join(broken_root, "office_home_dg", "clipart", "val", "Bike",
                           "val_00001.jpg"))  # only the truncated one: it passes the scan
    try:
        with pytest.raises(SystemExit) as exit_info:
            train.run(train_args(broken_root, tmp_path / "run", tiny_clip_file))
    finally:
        open(os.path.join(broken_root, "office_home_dg", "clipart", "val", "Bike",
                          "val_00001.jpg"), "wb").close()
    err = capsys.readouterr().err
    bad = os.path.join(broken_root, "office_home_dg", "product", "val", "Bike", "val_00000.jpg")
    assert exit_info.value.code == 2 and "Traceback" not in err and err.count("\n") == 1, err
    assert f"{bad} cannot be read (image file is truncated" in err
    assert "in the test split" in err and "DATASET.SKIP_UNREADABLE True" in err


@pytest.mark.slow
def test_skip_unreadable_counts_the_skipped_test_images_per_domain(broken_root, tiny_clip_file,
                                                                   tmp_path, capsys):
    pytest.importorskip("dassl")
    import train
    train.run(train_args(broken_root, tmp_path / "run", tiny_clip_file,
                         "DATASET.SKIP_UNREADABLE", "True"))
    out = capsys.readouterr().out
    record = json.loads((tmp_path / "run" / "results.json").read_text())
    assert record["skipped_test_images"] == {"art": 0, "clipart": 1, "product": 1,
                                             "real_world": 0}
    assert record["per_domain"]["product"]["num_images"] == 5  # 6 listed, 1 skipped
    assert "skipped unreadable test images: clipart 1, product 1" in out
