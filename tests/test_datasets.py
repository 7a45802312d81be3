"""The ADU datasets on tiny fake trees in their real layouts (no network)."""
import os
import os.path as osp
import re
import zipfile
from collections import Counter

import pytest

pytest.importorskip("dassl", reason="Dassl not installed (pip install from GitHub, see README)")

from dassl.config import get_cfg_default  # noqa: E402
from dassl.data.datasets import DATASET_REGISTRY  # noqa: E402

import datasets  # noqa: E402
from datasets import download  # noqa: E402
from datasets.adu_base import clean_classname  # noqa: E402
from datasets.imagenet import sketch_split  # noqa: E402
from user_errors import ConfigError  # noqa: E402
from fake_data import (  # noqa: E402
    DOMAINNET_DOMAINS, MINI_DOMAINNET_DOMAINS, OFFICE_HOME_DOMAINS, PACS_DOMAINS,
    fake_wnids, make_cfg, make_domainnet, make_imagenet, make_mini_domainnet,
    make_office_home, make_pacs, write_broken_image, write_image, zip_folder,
)

datasets.register_datasets()

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))

# name -> (fake-tree builder, domains in docs/METHOD.md section 6 order, classes in the tree)
BUILDERS = {
    "office_home": (make_office_home, OFFICE_HOME_DOMAINS, 3),
    "mini_domainnet": (make_mini_domainnet, MINI_DOMAINNET_DOMAINS, 4),
    "domainnet": (make_domainnet, DOMAINNET_DOMAINS, 4),
    "imagenet": (make_imagenet, ["real", "sketch"], 3),
    "pacs": (make_pacs, PACS_DOMAINS, 7),
}


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a test tried to download")
    monkeypatch.setattr(download.gdown, "download", refuse)


def build(cfg):
    return DATASET_REGISTRY.get(cfg.DATASET.NAME)(cfg)


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    """One fake tree per dataset, shared by the read-only tests."""
    roots = {}
    for name, (builder, _, _) in BUILDERS.items():
        root = tmp_path_factory.mktemp(name)
        builder(str(root))
        roots[name] = str(root)
    return roots


def load(trees, name, forget=None, **kwargs):
    forget = forget or [BUILDERS[name][1][-1]]
    return build(make_cfg(trees[name], name, forget, **kwargs))


# ----- what every dataset must provide ------------------------------------------------

@pytest.mark.parametrize("name", list(BUILDERS))
def test_shots_per_class_and_domain(trees, name):
    _, domains, num_classes = BUILDERS[name]
    ds = load(trees, name, num_shots=3)
    assert ds.domains == domains
    assert ds.num_classes == num_classes == len(ds.classnames)
    counts = Counter((it.label, it.domain) for it in ds.train_x)
    assert counts == {(c, d): 3 for c in range(num_classes) for d in range(len(domains))}
    for it in ds.train_x:  # the domain label is the image's real domain
        assert domains[it.domain] == domain_in_path(name, it.impath, domains)


def domain_in_path(name, impath, domains):
    if name == "imagenet":
        return "sketch" if "imagenet-sketch" in impath else "real"
    return next(d for d in domains if f"{os.sep}{d}{os.sep}" in impath)


@pytest.mark.parametrize("name", list(BUILDERS))
def test_test_split_of_every_domain(trees, name):
    _, domains, num_classes = BUILDERS[name]
    ds = load(trees, name)
    per_pair = Counter((it.label, it.domain) for it in ds.test)
    # fake trees: 2 test images per pair (ImageNet-Sketch: 20 % of 10)
    assert per_pair == {(c, d): 2 for c in range(num_classes)
                        for d in range(len(domains))}
    assert not {it.impath for it in ds.test} & {it.impath for it in ds.train_x}


def test_sampling_is_deterministic_per_seed(trees):
    def shots(seed):
        return [it.impath for it in load(trees, "pacs", num_shots=2, seed=seed).train_x]
    assert shots(1) == shots(1)
    assert shots(1) != shots(2)


def test_replacement_only_where_a_pair_is_short(trees, capsys):
    ds = load(trees, "office_home", num_shots=4)  # 4 train images per pair
    assert len({it.impath for it in ds.train_x}) == len(ds.train_x)
    assert "with replacement" not in capsys.readouterr().out
    # more shots than any pair has: every pair would be sampled with
    # replacement into a bigger run than the data holds, so it is refused
    # (a pair short of images among fuller ones: test_unreadable_images_...)
    with pytest.raises(ConfigError, match=r"DATASET.NUM_SHOTS 6 is more than any \(class, "
                                          r"domain\) pair has \(the largest has 4 training"):
        load(trees, "office_home", num_shots=6)


def test_forget_and_memorize_indices(trees):
    ds = load(trees, "pacs", forget=["sketch", "photo"])
    assert ds.forget_domains == ["photo", "sketch"]
    assert ds.forget_domain_ids == [0, 3]
    assert ds.memorize_domain_ids == [1, 2]
    assert ds.memorize_domains == ["art_painting", "cartoon"]


def test_class_names_are_cleaned(trees):
    assert clean_classname("Alarm_Clock") == "alarm clock"
    assert clean_classname("teddy-bear") == "teddy bear"
    assert load(trees, "office_home").classnames == ["alarm clock", "back pack", "bike"]
    assert load(trees, "domainnet").classnames == [
        "aircraft carrier", "the eiffel tower", "teddy bear", "zebra"]
    # ImageNet's names are already text and stay as written.
    assert load(trees, "imagenet").classnames[0] == "Class-Name 0"


def test_counts_are_logged(trees, capsys):
    load(trees, "office_home", forget=["art"], num_shots=2)
    out = capsys.readouterr().out
    assert "forget ['art'], memorize ['clipart', 'product', 'real_world']" in out
    assert re.search(r"art +\(forget *\) train pool +12 +shots +6 +test +6", out)


# ----- split files and labels ---------------------------------------------------------

def test_pacs_labels_are_one_based_in_files_and_broken_image_left_out(tmp_path, capsys):
    top = make_pacs(str(tmp_path), train_per_pair=3)
    with open(osp.join(top, "splits", "sketch_train_kfold.txt"), "a") as f:
        f.write("sketch/dog/n02103406_4068-1.png 1\n")
    ds = build(make_cfg(tmp_path, "pacs", ["cartoon"]))
    assert ds.classnames == ["dog", "elephant", "giraffe", "guitar", "horse", "house", "person"]
    assert all("dog" in it.impath for it in ds.train_x if it.label == 0)
    assert "leaving out sketch/dog/n02103406_4068-1.png" in capsys.readouterr().out


def test_split_file_labels_with_gaps_are_renumbered(tmp_path):
    classes = ["ant", "bee", "cat"]
    make_mini_domainnet(str(tmp_path), classes=classes,
                        label_of={"ant": 3, "bee": 17, "cat": 200})
    ds = build(make_cfg(tmp_path, "mini_domainnet", ["real"]))
    assert ds.classnames == classes
    assert {it.label for it in ds.train_x} == {0, 1, 2}


def test_split_files_that_disagree_on_a_label_fail(tmp_path):
    top = make_mini_domainnet(str(tmp_path), classes=["ant", "bee"])
    path = osp.join(top, "splits_mini", "real_test.txt")
    text = open(path).read().replace("real/bee/real_test_00000.jpg 1",
                                     "real/bee/real_test_00000.jpg 0")
    open(path, "w").write(text)
    with pytest.raises(ValueError, match="real_test.txt gives 'bee' label 0"):
        build(make_cfg(tmp_path, "mini_domainnet", ["real"]))


def test_split_files_giving_one_class_two_labels_fail(tmp_path):
    top = make_mini_domainnet(str(tmp_path), classes=["ant", "bee", "cat"])
    path = osp.join(top, "splits_mini", "sketch_train.txt")
    text = open(path).read().replace("sketch/cat/sketch_train_00000.jpg 2",
                                     "sketch/cat/sketch_train_00000.jpg 7")
    open(path, "w").write(text)
    with pytest.raises(ValueError, match="gives 'cat' label 7.*'cat' label 2"):
        build(make_cfg(tmp_path, "mini_domainnet", ["real"]))


def test_domainnet_tolerates_an_empty_pair_with_a_warning(tmp_path, capsys):
    top = make_domainnet(str(tmp_path))
    path = osp.join(top, "splits", "painting_train.txt")
    lines = [ln for ln in open(path) if "/zebra/" not in ln]
    open(path, "w").writelines(lines)
    ds = build(make_cfg(tmp_path, "domainnet", ["quickdraw"], num_shots=2))
    counts = Counter((it.label, it.domain) for it in ds.train_x)
    assert (3, 2) not in counts and counts[(3, 4)] == 2
    assert "domain 'painting' has 3 of 4 classes in the train split (missing: zebra)" \
        in capsys.readouterr().out


def test_domainnet_domain_without_any_train_image_fails(tmp_path):
    top = make_domainnet(str(tmp_path))
    open(osp.join(top, "splits", "infograph_train.txt"), "w").close()
    with pytest.raises(ValueError, match="domain 'infograph' has 0 of 4 classes"):
        build(make_cfg(tmp_path, "domainnet", ["quickdraw"]))


# ----- ImageNet-Sketch 80/20 ------------------------------------------------------------

def test_sketch_split_is_stratified_and_stable(trees):
    a = load(trees, "imagenet", forget=["sketch"], seed=1)
    b = load(trees, "imagenet", forget=["real"], seed=7)
    sketch_test = sorted(it.impath for it in a.test if it.domain == 1)
    assert sketch_test == sorted(it.impath for it in b.test if it.domain == 1)
    assert Counter(it.label for it in a.test if it.domain == 1) == {0: 2, 1: 2, 2: 2}
    # shots come from the 80 %
    assert not {it.impath for it in a.train_x} & set(sketch_test)


GOLDEN_SKETCH_TEST = ["0.JPEG", "13.JPEG", "15.JPEG", "2.JPEG", "24.JPEG", "27.JPEG",
                      "31.JPEG", "33.JPEG", "34.JPEG", "41.JPEG"]


def test_sketch_split_depends_only_on_the_class_files():
    paths = [f"/x/n01/s_{i}.JPEG" for i in range(50)]
    train, test = sketch_split(paths, "n01")
    assert len(test) == 10 and len(train) == 40
    assert sorted(train + test) == sorted(paths)
    assert sketch_split(list(reversed(paths)), "n01") == (train, test)
    assert sketch_split(paths, "n02")[1] != test  # each class has its own draw
    # Pinned: a change here silently changes the published sketch test set.
    assert [p.rsplit("_", 1)[1] for p in test] == GOLDEN_SKETCH_TEST


def test_sketch_split_keeps_both_parts_for_small_classes():
    assert [len(x) for x in sketch_split(["/a/1.jpg", "/a/2.jpg"], "n1")] == [1, 1]
    with pytest.raises(ValueError, match="needs at least 2"):
        sketch_split(["/a/1.jpg"], "n1")


# ----- bad input ----------------------------------------------------------------------

def test_unknown_domain_lists_the_valid_ones(trees):
    with pytest.raises(ValueError, match=r"Unknown domain \['paintings'\].*'painting'"):
        load(trees, "mini_domainnet", forget=["paintings"])


def test_all_domains_forgotten(trees):
    with pytest.raises(ValueError, match="at least one domain must be memorised"):
        load(trees, "imagenet", forget=["real", "sketch"])


def test_no_forget_domain(trees):
    cfg = make_cfg(trees["pacs"], "pacs", [])
    with pytest.raises(ValueError, match="No forget domain given"):
        build(cfg)


@pytest.mark.parametrize("shots", [0, -1])
def test_num_shots_below_one(trees, shots):
    with pytest.raises(ValueError, match="NUM_SHOTS must be >= 1"):
        load(trees, "pacs", num_shots=shots)


@pytest.mark.parametrize("name, missing, hint", [
    ("domainnet", "domainnet/clipart", "ai.bu.edu/M3SDA"),
    ("mini_domainnet", "domainnet/clipart", "ai.bu.edu/M3SDA"),
    ("imagenet", "imagenet/classnames.txt", "image-net.org"),
])
def test_missing_dataset_folder_names_path_and_source(tmp_path, name, missing, hint):
    with pytest.raises(FileNotFoundError) as err:
        build(make_cfg(tmp_path, name, [BUILDERS[name][1][0]]))
    msg = str(err.value)
    assert osp.join(str(tmp_path), missing) in msg and hint in msg and "\n" not in msg


def test_missing_imagenet_sketch_names_its_folder(tmp_path):
    make_imagenet(str(tmp_path), sketch_per_class=0)
    with pytest.raises(FileNotFoundError, match="imagenet-sketch/images.*HaohanWang"):
        build(make_cfg(tmp_path, "imagenet", ["sketch"]))


@pytest.mark.parametrize("name, split_file", [
    ("domainnet", "domainnet/splits/real_test.txt"),
    ("pacs", "pacs/splits/cartoon_crossval_kfold.txt"),
])
def test_missing_split_file_names_it(tmp_path, name, split_file):
    BUILDERS[name][0](str(tmp_path))
    os.remove(osp.join(tmp_path, split_file))
    with pytest.raises(FileNotFoundError, match=f"missing {tmp_path}/{split_file}"):
        build(make_cfg(tmp_path, name, [BUILDERS[name][1][0]]))


def test_missing_office_home_split_folder(tmp_path):
    top = make_office_home(str(tmp_path))
    os.rename(osp.join(top, "product", "val"), osp.join(top, "product", "test"))
    with pytest.raises(FileNotFoundError, match="office_home_dg/product/val"):
        build(make_cfg(tmp_path, "office_home", ["art"]))


def test_train_and_test_class_lists_that_differ_fail_before_training(tmp_path):
    """Labels would silently shift if test classes were renamed; say so instead."""
    top = make_office_home(str(tmp_path))
    for domain in OFFICE_HOME_DOMAINS:
        os.rename(osp.join(top, domain, "val", "Bike"), osp.join(top, domain, "val", "Bicycle"))
    with pytest.raises(FileNotFoundError, match=r"art/train/Bicycle \(class folder of art "
                                                r"train; other domains have it\)"):
        build(make_cfg(tmp_path, "office_home", ["art"]))


def test_empty_class_folder(tmp_path):
    top = make_office_home(str(tmp_path))
    folder = osp.join(top, "clipart", "train", "Bike")
    for f in os.listdir(folder):
        os.remove(osp.join(folder, f))
    with pytest.raises(FileNotFoundError, match=f"empty class folder {folder}"):
        build(make_cfg(tmp_path, "office_home", ["art"]))


def test_imagenet_empty_class_folder(tmp_path):
    make_imagenet(str(tmp_path))
    folder = osp.join(tmp_path, "imagenet", "images", "val", fake_wnids(3)[1])
    for f in os.listdir(folder):
        os.remove(osp.join(folder, f))
    with pytest.raises(FileNotFoundError, match=f"empty class folder {folder}"):
        build(make_cfg(tmp_path, "imagenet", ["sketch"]))


def test_unreadable_images_are_skipped_and_counted(tmp_path, capsys):
    top = make_office_home(str(tmp_path))
    bad_train = write_broken_image(osp.join(top, "art", "train", "Bike", "train_00000.jpg"))
    bad_test = write_broken_image(osp.join(top, "product", "val", "Back_Pack", "val_00001.jpg"))
    cfg = make_cfg(tmp_path, "office_home", ["art"], num_shots=4)
    cfg.DATASET.SKIP_UNREADABLE = True
    ds = build(cfg)
    out = capsys.readouterr().out
    assert f"skipping unreadable or missing image {bad_train}" in out
    assert f"skipping unreadable or missing image {bad_test}" in out
    assert "Skipped 1 unreadable image(s) while sampling shots" in out
    assert "Skipped 1 unreadable image(s) in the office_home test split" in out
    assert bad_train not in {it.impath for it in ds.train_x}
    assert bad_test not in {it.impath for it in ds.test}
    # the pair with a broken image is filled up with replacement, and says so
    assert Counter((it.label, it.domain) for it in ds.train_x)[(2, 0)] == 4
    assert "(bike, art): 3" in out


def test_a_pair_with_only_unreadable_images_fails(tmp_path):
    top = make_office_home(str(tmp_path), train_per_pair=2)
    for i in range(2):
        write_broken_image(osp.join(top, "product", "train", "Bike", f"train_{i:05d}.jpg"))
    cfg = make_cfg(tmp_path, "office_home", ["art"])
    cfg.DATASET.SKIP_UNREADABLE = True
    with pytest.raises(RuntimeError, match="No readable training image of 'bike' in product"):
        build(cfg)


def test_missing_listed_image_fails_before_reading(tmp_path):
    # A listed image that is not on disk means an incomplete copy: the data
    # check names it instead of the test split silently shrinking.
    top = make_pacs(str(tmp_path))
    gone = osp.join(top, "images", "cartoon", "horse", "crossval_00000.jpg")
    os.remove(gone)
    with pytest.raises(FileNotFoundError,
                       match=f"missing {gone} \\(image listed in cartoon_crossval_kfold.txt\\)"):
        build(make_cfg(tmp_path, "pacs", ["cartoon"]))


# ----- configs and registry -----------------------------------------------------------

@pytest.mark.parametrize("name", list(BUILDERS))
def test_dataset_config_files(name):
    from trainers.config import extend_cfg
    cfg = get_cfg_default()
    extend_cfg(cfg)
    path = osp.join(REPO, "configs", "datasets", f"{name}.yaml")
    cfg.merge_from_file(path)
    assert cfg.DATASET.NAME == name and cfg.DATASET.NUM_SHOTS == 8
    assert "FORGET_DOMAINS" not in open(path).read()
    assert name in DATASET_REGISTRY.registered_names()
    # Dassl's own datasets stay registered under their names
    assert {"OfficeHomeDG", "PACS", "DomainNet", "miniDomainNet"} <= set(
        DATASET_REGISTRY.registered_names())


# ----- download (gdown mocked) ----------------------------------------------------------

@pytest.fixture
def office_home_zip(tmp_path):
    src = tmp_path / "src"
    make_office_home(str(src), num_classes=2, train_per_pair=2, val_per_pair=1)
    return zip_folder(str(src / "office_home_dg"), str(tmp_path / "office_home_dg.zip"))


def fake_gdown(monkeypatch, archive, calls):
    def download_(id=None, output=None, quiet=False, resume=False, **kwargs):
        calls.append((id, output, resume))
        with open(archive, "rb") as src, open(output, "wb") as dst:
            dst.write(src.read())
        return output
    monkeypatch.setattr(download.gdown, "download", download_)


def test_office_home_downloads_when_missing(tmp_path, office_home_zip, monkeypatch):
    root = tmp_path / "data"
    calls = []
    fake_gdown(monkeypatch, office_home_zip, calls)
    ds = build(make_cfg(root, "office_home", ["art"], num_shots=1))
    assert calls == [("1gkbf_KaxoBws-GWT3XIPZ7BnkqbAxIFa",
                      str(root / "office_home_dg.zip"), True)]
    assert len(ds.train_x) == 2 * 4
    assert sorted(os.listdir(root)) == ["office_home_dg", "office_home_dg.zip"]
    build(make_cfg(root, "office_home", ["art"], num_shots=1))  # present: no download
    assert len(calls) == 1


def test_pacs_downloads_when_missing(tmp_path, monkeypatch):
    src = tmp_path / "src"
    make_pacs(str(src), classes=["dog", "horse"], train_per_pair=1, test_per_pair=1)
    archive = zip_folder(str(src / "pacs"), str(tmp_path / "pacs.zip"))
    calls = []
    fake_gdown(monkeypatch, archive, calls)
    ds = build(make_cfg(tmp_path / "data", "pacs", ["sketch"], num_shots=1))
    assert calls[0][0] == "1m4X4fROCCXMO0lRLrr6Zz9Vb3974NWhE"
    assert ds.classnames == ["dog", "horse"]


def test_mini_domainnet_fetches_only_its_split_files(tmp_path, monkeypatch):
    top = make_mini_domainnet(str(tmp_path / "data"), classes=["ant", "bee"])
    splits = osp.join(top, "splits_mini")
    # the archive holds the txt files at its top level
    archive = zip_folder(splits, str(tmp_path / "splits.zip"), arc_root="")
    for f in os.listdir(splits):
        os.remove(osp.join(splits, f))
    os.rmdir(splits)
    calls = []
    fake_gdown(monkeypatch, archive, calls)
    ds = build(make_cfg(tmp_path / "data", "mini_domainnet", ["real"]))
    assert calls[0][:2] == ("15rrLDCrzyi6ZY-1vJar3u7plgLe4COL7", splits + ".zip")
    assert ds.classnames == ["ant", "bee"]


def test_interrupted_extraction_is_redone(tmp_path, office_home_zip, monkeypatch):
    root = tmp_path / "data"
    stale = root / ".office_home_dg.partial" / "office_home_dg" / "art"
    stale.mkdir(parents=True)
    (stale / "half_written.jpg").write_bytes(b"\xff\xd8")
    calls = []
    fake_gdown(monkeypatch, office_home_zip, calls)
    build(make_cfg(root, "office_home", ["art"], num_shots=1))
    assert not (root / ".office_home_dg.partial").exists()
    assert not (root / "office_home_dg" / "art" / "half_written.jpg").exists()


def test_failed_extraction_leaves_no_dataset_folder(tmp_path, office_home_zip, monkeypatch):
    root = tmp_path / "data"
    calls = []
    fake_gdown(monkeypatch, office_home_zip, calls)

    def crash(self, path):
        raise OSError("disk full")
    monkeypatch.setattr(zipfile.ZipFile, "extractall", crash)
    with pytest.raises(OSError, match="disk full"):
        build(make_cfg(root, "office_home", ["art"]))
    assert not (root / "office_home_dg").exists()
    monkeypatch.undo()
    fake_gdown(monkeypatch, office_home_zip, calls)
    build(make_cfg(root, "office_home", ["art"], num_shots=1))
    assert (root / "office_home_dg" / "real_world" / "val").is_dir()


def test_corrupt_archive_is_deleted_with_a_clear_error(tmp_path, office_home_zip, monkeypatch):
    data = bytearray(open(office_home_zip, "rb").read())
    pos = data.index(b"\xff\xd8") + 40  # inside the first JPEG's stored bytes
    data[pos] ^= 0xFF
    bad = tmp_path / "bad.zip"
    bad.write_bytes(bytes(data))
    fake_gdown(monkeypatch, str(bad), [])
    root = tmp_path / "data"
    with pytest.raises(RuntimeError, match="corrupt member.*deleted, run again"):
        build(make_cfg(root, "office_home", ["art"]))
    assert not (root / "office_home_dg.zip").exists()
    assert not (root / "office_home_dg").exists()


def test_not_a_zip(tmp_path, monkeypatch):
    bad = tmp_path / "page.html"
    bad.write_text("<html>quota exceeded</html>")
    fake_gdown(monkeypatch, str(bad), [])
    with pytest.raises(RuntimeError, match="not a valid zip"):
        build(make_cfg(tmp_path / "data", "pacs", ["sketch"]))


def test_size_check(tmp_path, office_home_zip, monkeypatch):
    fake_gdown(monkeypatch, office_home_zip, [])
    target = str(tmp_path / "data" / "office_home_dg")
    with pytest.raises(RuntimeError, match="has [0-9,]+ bytes, expected 12;"):
        download.ensure_dataset("id", target, "office_home_dg.zip", ["art"], expected_size=12)


def test_gdown_failure_says_how_to_get_the_file(tmp_path, monkeypatch):
    def fail(**kwargs):
        raise OSError("quota exceeded")
    monkeypatch.setattr(download.gdown, "download", fail)
    root = tmp_path / "data"
    with pytest.raises(RuntimeError) as err:
        build(make_cfg(root, "office_home", ["art"]))
    msg = str(err.value)
    assert "quota exceeded" in msg
    assert "https://drive.google.com/uc?id=1gkbf_KaxoBws-GWT3XIPZ7BnkqbAxIFa" in msg
    assert str(root / "office_home_dg.zip") in msg


def test_archive_without_the_expected_folder(tmp_path, monkeypatch):
    other = tmp_path / "other"
    write_image(str(other / "a" / "x.png"))
    write_image(str(other / "b" / "y.png"))
    fake_gdown(monkeypatch, zip_folder(str(other), str(tmp_path / "o.zip")), [])
    root = tmp_path / "data"
    with pytest.raises(RuntimeError, match="does not contain the expected office_home_dg/"):
        build(make_cfg(root, "office_home", ["art"]))
    assert sorted(os.listdir(root)) == ["office_home_dg.zip"]
