"""The data check: tools/check_data.py, and the same check when a dataset is built."""
import os
import os.path as osp
import shutil
import subprocess
import sys

import pytest

pytest.importorskip("dassl", reason="Dassl not installed (pip install from GitHub, see README)")

from dassl.data.datasets import DATASET_REGISTRY  # noqa: E402

import datasets  # noqa: E402
from datasets import download  # noqa: E402
from datasets.preflight import MissingDataError  # noqa: E402
from fake_data import (  # noqa: E402
    fake_wnids, make_cfg, make_domainnet, make_imagenet, make_mini_domainnet,
    make_office_home, make_pacs,
)
from tool_entry import load_tool  # noqa: E402

datasets.register_datasets()

check_data = load_tool("check_data")

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))

# name -> (fake-tree builder, a domain to forget, the counts line of its first domain)
TREES = {
    "office_home": (make_office_home, "art", "art train 12 val 6"),
    "domainnet": (make_domainnet, "real", "clipart train 16 test 8"),
    "mini_domainnet": (make_mini_domainnet, "real", "clipart train 16 test 8"),
    "imagenet": (make_imagenet, "sketch", "real train 12 val 6"),
    "pacs": (make_pacs, "sketch", "photo train 28 crossval 14"),
}


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the data check tried to download")
    monkeypatch.setattr(download.gdown, "download", refuse)


def tree(tmp_path, name):
    TREES[name][0](str(tmp_path))
    return str(tmp_path)


def check(capsys, name, root, *options):
    rc = check_data.main([name, "--root", str(root), *options])
    return rc, capsys.readouterr().out.splitlines()


def build(root, name):
    return DATASET_REGISTRY.get(name)(make_cfg(root, name, [TREES[name][1]]))


def remove(root, relpath):
    path = osp.join(root, relpath)
    shutil.rmtree(path) if osp.isdir(path) else os.remove(path)
    return path


@pytest.mark.parametrize("name", list(TREES))
def test_a_complete_tree_passes_and_shows_the_counts(tmp_path, capsys, name):
    rc, lines = check(capsys, name, tree(tmp_path, name))
    assert rc == 0
    assert lines[0] == f"{name}: all data present under {tmp_path}; images found:"
    assert " ".join(lines[1].split()) == TREES[name][2]


# relpath deleted -> the one line that names it (anything below it is not listed again)
@pytest.mark.parametrize("name, relpath, what", [
    ("office_home", "office_home_dg/product/val", "val folder of product"),
    ("domainnet", "domainnet/infograph", "image folder of infograph"),
    ("pacs", "pacs/images/cartoon/horse", "folder of images listed in cartoon_train_kfold.txt"),
    ("imagenet", f"imagenet/images/val/{fake_wnids(3)[1]}",
     "class folder of real val; listed in classnames.txt"),
    ("domainnet", "domainnet/splits/real_test.txt", "test split file of real"),
    ("pacs", "pacs/splits/cartoon_crossval_kfold.txt", "crossval split file of cartoon"),
    ("imagenet", "imagenet/classnames.txt", "class list file"),
])
def test_a_deleted_folder_or_file_is_one_line_with_path_and_source(
        tmp_path, capsys, name, relpath, what):
    path = remove(tree(tmp_path, name), relpath)
    rc, lines = check(capsys, name, tmp_path)
    assert rc == 1
    assert len(lines) == 2, lines
    assert lines[0].startswith(f"missing {path} ({what}); ")
    top = osp.join(str(tmp_path), DATASET_REGISTRY.get(name).dataset_dir)
    if name in ("office_home", "pacs"):  # inside a downloaded folder
        assert lines[0].endswith(f"; delete {top} and train.py unpacks {top}.zip again "
                                 "(downloading it if it is not there)")
    else:
        assert lines[0].endswith(f"; get it: {DATASET_REGISTRY.get(name).data_help}")
    assert lines[1].startswith(f"{name}: 1 missing under {tmp_path}; get the data: ")


def test_a_missing_class_folder_of_one_domain(tmp_path, capsys):
    path = remove(tree(tmp_path, "office_home"), "office_home_dg/clipart/train/Bike")
    rc, lines = check(capsys, "office_home", tmp_path)
    assert rc == 1
    assert lines[0].startswith(f"missing {path} (class folder of clipart train; "
                               "other domains have it); ")


def test_an_empty_class_folder(tmp_path, capsys):
    folder = osp.join(tree(tmp_path, "office_home"), "office_home_dg", "art", "val", "Bike")
    for image in os.listdir(folder):
        os.remove(osp.join(folder, image))
    rc, lines = check(capsys, "office_home", tmp_path)
    assert rc == 1
    assert lines[0].startswith(f"empty class folder {folder} (art val; no image in it); ")
    assert len(lines) == 2


def deleted_images(root, count):
    """Delete the first `count` images listed in DomainNet's sketch_test.txt."""
    top = osp.join(root, "domainnet")
    with open(osp.join(top, "splits", "sketch_test.txt")) as f:
        listed = [osp.join(top, line.split()[0]) for line in f][:count]
    for path in listed:
        os.remove(path)
    return listed


@pytest.mark.parametrize("options, shown", [((), 20), (("--max-missing", "3"), 3),
                                            (("--max-missing", "0"), 8)])
def test_missing_images_are_listed_up_to_n_then_counted(tmp_path, capsys, options, shown):
    make_domainnet(str(tmp_path), test_per_pair=2)  # 4 classes: sketch_test lists 8
    gone = deleted_images(str(tmp_path), 8)
    rc, lines = check(capsys, "domainnet", tmp_path, *options)
    assert rc == 1
    shown = min(shown, len(gone))
    assert [line.split(" (")[0] for line in lines[:shown]] == [f"missing {p}" for p in gone[:shown]]
    assert all("(image listed in sketch_test.txt); get it: " in line for line in lines[:shown])
    if shown < len(gone):
        assert lines[shown] == f"... and {len(gone) - shown:,} more (--max-missing 0 lists all)"
    assert lines[-1].startswith(f"domainnet: 8 missing under {tmp_path}")


def test_a_downloadable_part_is_reported_not_downloaded(tmp_path, capsys):
    root = tree(tmp_path, "mini_domainnet")
    remove(root, "domainnet/splits_mini")
    rc, lines = check(capsys, "mini_domainnet", root)
    assert rc == 1 and len(lines) == 2
    zip_path = osp.join(root, "domainnet", "splits_mini.zip")
    assert lines[0] == (
        f"missing {root}/domainnet/splits_mini (folder unpacked from splits_mini.zip); "
        "train.py downloads it (splits_mini.zip from https://drive.google.com/uc?id="
        f"15rrLDCrzyi6ZY-1vJar3u7plgLe4COL7; offline, save that file as {zip_path})")


def test_a_file_missing_inside_a_downloaded_folder(tmp_path, capsys):
    root = tree(tmp_path, "mini_domainnet")
    path = remove(root, "domainnet/splits_mini/sketch_train.txt")
    rc, lines = check(capsys, "mini_domainnet", root)
    assert rc == 1
    assert lines[0].startswith(
        f"missing {path} (train split file of sketch); delete {root}/domainnet/splits_mini "
        f"and train.py unpacks {root}/domainnet/splits_mini.zip again")


def test_an_empty_root(tmp_path, capsys):
    rc, lines = check(capsys, "pacs", tmp_path / "nowhere")
    assert rc == 1
    assert lines[0].startswith(f"missing {tmp_path}/nowhere/pacs (folder unpacked from pacs.zip)")
    assert f"({tmp_path}/nowhere does not exist)" in lines[-1]


def test_a_damaged_split_file(tmp_path, capsys):
    root = tree(tmp_path, "pacs")
    with open(osp.join(root, "pacs", "splits", "photo_train_kfold.txt"), "a") as f:
        f.write("no-label-here\n")
    rc, lines = check(capsys, "pacs", root)
    assert rc == 1
    assert "photo_train_kfold.txt, line 29: expected 'path label'" in lines[0]


def test_a_damaged_classnames_file(tmp_path, capsys):
    # The check parses classnames.txt as the reader does: a line without a
    # class name is reported here, naming the line.
    root = tree(tmp_path, "imagenet")
    with open(osp.join(root, "imagenet", "classnames.txt"), "a") as f:
        f.write("n99999999\n")
    rc, lines = check(capsys, "imagenet", root)
    assert rc == 1
    assert "classnames.txt, line 4: expected '<wnid> <class name>'" in lines[0]


@pytest.mark.parametrize("name", ["imagenet_r", "PACS"])  # PACS: Dassl's own, not ADU
def test_unknown_dataset_lists_the_adu_ones(tmp_path, capsys, name):
    rc, lines = check(capsys, name, tmp_path)
    assert rc == 2
    assert lines == [f"check_data.py: unknown dataset '{name}'; ADU datasets: "
                     "domainnet, imagenet, mini_domainnet, office_home, pacs, toy_domains"]


def test_the_script_runs_from_the_command_line(tmp_path):
    root = tree(tmp_path, "pacs")
    path = remove(root, "pacs/splits/sketch_train_kfold.txt")
    env = dict(os.environ, OUTDATED_IGNORE="1", PYTHONWARNINGS="ignore")
    proc = subprocess.run([sys.executable, osp.join(REPO, "tools", "check_data.py"), "pacs",
                           "--root", root], capture_output=True, text=True, env=env,
                          cwd=str(tmp_path), timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.startswith(f"missing {path} (train split file of sketch)")


# ----- the same check when the trainer builds the dataset ---------------------------------

def test_building_a_dataset_runs_the_check_first(tmp_path):
    # Without the check, a listed image that is gone was skipped with a warning
    # and the test split shrank; now nothing is read.
    make_domainnet(str(tmp_path))
    gone = deleted_images(str(tmp_path), 8)
    with pytest.raises(MissingDataError) as err:
        build(tmp_path, "domainnet")
    msg = str(err.value)
    assert msg.startswith(f"domainnet: missing {gone[0]} (image listed in sketch_test.txt); "
                          f"missing {gone[1]} ")
    assert gone[4] in msg and gone[5] not in msg
    assert "; and 3 more (8 in all). Put the dataset under DATASET.ROOT=" in msg
    assert "ai.bu.edu/M3SDA" in msg and "\n" not in msg
    assert msg.endswith(f"The full list: python tools/check_data.py domainnet --root {tmp_path}")


@pytest.mark.parametrize("name", list(TREES))
def test_the_dataset_and_the_tool_report_the_same_paths(tmp_path, capsys, name):
    root = tree(tmp_path, name)
    top = {"mini_domainnet": "domainnet", "imagenet": "imagenet/images/train",
           "office_home": "office_home_dg/art/train", "pacs": "pacs/images/photo"}.get(name, name)
    for sub in sorted(os.listdir(osp.join(root, top)))[:2]:
        remove(root, osp.join(top, sub))
    with pytest.raises(MissingDataError) as err:
        build(root, name)
    rc, lines = check(capsys, name, root)
    assert rc == 1
    named = [line.split(" (")[0] for line in lines[:-1]]
    assert named and str(err.value).startswith(f"{name}: {named[0]} (")
    assert all(f"{n} (" in str(err.value) for n in named[:5])


def test_train_py_stops_before_building_the_model(tmp_path, capsys, monkeypatch):
    import train
    from trainers.adu import ADU

    def no_model(self):
        raise AssertionError("the model was built before the data check")
    monkeypatch.setattr(ADU, "build_model", no_model)
    root = tree(tmp_path / "data", "pacs")
    gone = remove(root, "pacs/images/sketch/dog/train_00001.png")
    args = ["--root", root, "--seed", "1", "--trainer", "ADU",
            "--dataset-config-file", osp.join(REPO, "configs/datasets/pacs.yaml"),
            "--output-dir", str(tmp_path / "out"), "--forget-domains", "sketch"]
    with pytest.raises(SystemExit) as exit_info:
        train.run(args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"train.py: error: pacs: missing {gone} (image listed in "
                          "sketch_train_kfold.txt)")
    assert err.count("\n") == 1
