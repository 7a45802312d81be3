"""The datasets package's layout: the parts that need no Dassl (file readers,
data check, downloads, the toy renderer, the tiny CLIP's pretraining and the
benchmark) import with Dassl blocked, the tools that need the registered
datasets say so in one line, and every dataset registers through Dassl's
public decorator (its class name is its config name)."""
import os

import pytest
from PIL import Image
from fresh_python import BLOCK_DASSL, REPO, run_python

from datasets.files import read_class_folders, read_classnames

DASSL_FREE = ["datasets", "datasets.domain_lists", "experiments.launch.dataset_info",
              "datasets.files", "datasets.preflight", "datasets.download", "datasets.toy_render",
              "experiments.toy.pretrain", "experiments.bench.benchmark"]


def test_the_dassl_free_parts_import_and_render_with_dassl_blocked():
    code = BLOCK_DASSL + "".join(f"import {m}\n" for m in DASSL_FREE) + (
        "from datasets.toy_render import render_image\n"
        "assert render_image('star', 'sketch', 'train', 0).size == (32, 32)\n"
        "assert not any(m == 'dassl' or m.startswith('dassl.') for m in sys.modules)\n"
        "print('ok')\n")
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


@pytest.mark.parametrize("tool, args", [("check_data.py", ["pacs", "--root", "data"])])
def test_the_tools_that_need_dassl_say_so_in_one_line(tool, args):
    path = os.path.join(REPO, "tools", tool)
    result = run_python(BLOCK_DASSL + (
        f"import runpy\nsys.argv = {[path, *args]!r}\n"
        f"runpy.run_path({path!r}, run_name='__main__')\n"))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"{tool}: error: Dassl is not installed; install it from GitHub as README.md "
        "'Install' step 2 says."]


def test_every_dataset_is_registered_under_its_class_name():
    pytest.importorskip("dassl", reason="Dassl not installed (pip install it from GitHub, "
                                        "see README)")
    from dassl.data.datasets import DATASET_REGISTRY

    from datasets.adu_base import adu_datasets

    found = adu_datasets()
    assert list(found) == ["domainnet", "imagenet", "mini_domainnet", "office_home",
                           "pacs", "toy_domains"]
    for name, cls in found.items():
        # What `@DATASET_REGISTRY.register()` does: the key is the class name.
        assert cls.__name__ == name and DATASET_REGISTRY.get(name) is cls


def test_the_launchers_domain_lists_are_the_dataset_classes():
    """datasets/domain_lists.py, which the launcher reads without Dassl, names
    every registered ADU dataset with its class's domains, in its order."""
    pytest.importorskip("dassl", reason="Dassl not installed (pip install it from GitHub, "
                                        "see README)")
    from datasets.adu_base import adu_datasets
    from experiments.launch import dataset_info

    found = adu_datasets()
    assert dataset_info.known() == {name: cls.domains for name, cls in found.items()}


def test_the_class_folder_reader_labels_by_the_given_order_or_sorted(tmp_path):
    for domain in ("a", "b"):
        for cname in ("zebra", "ant"):
            folder = tmp_path / domain / cname
            folder.mkdir(parents=True)
            for i in range(2):
                Image.new("RGB", (4, 4)).save(folder / f"{i}.png")
    (tmp_path / "a" / "ant" / "notes.txt").write_text("not an image")
    folders = {"b": str(tmp_path / "b"), "a": str(tmp_path / "a")}

    rows = read_class_folders(folders)
    assert [(os.path.relpath(p, tmp_path), label, d, c) for p, label, d, c in rows] == [
        ("b/ant/0.png", 0, "b", "ant"), ("b/ant/1.png", 0, "b", "ant"),
        ("b/zebra/0.png", 1, "b", "zebra"), ("b/zebra/1.png", 1, "b", "zebra"),
        ("a/ant/0.png", 0, "a", "ant"), ("a/ant/1.png", 0, "a", "ant"),
        ("a/zebra/0.png", 1, "a", "zebra"), ("a/zebra/1.png", 1, "a", "zebra")]
    given = read_class_folders(folders, ["zebra", "ant"])
    assert [(label, c) for _, label, _, c in given[:4]] == [
        (0, "zebra"), (0, "zebra"), (1, "ant"), (1, "ant")]


def test_classnames_are_read_once_and_a_damaged_line_named(tmp_path):
    path = tmp_path / "classnames.txt"
    path.write_text("n02  great   white shark\n\nn01 tench\n")
    assert read_classnames(str(path)) == {"n02": "great white shark", "n01": "tench"}
    path.write_text("n01 tench\nn02\n")
    with pytest.raises(ValueError, match=r"line 2: expected '<wnid> <class name>'"):
        read_classnames(str(path))
