"""DATASET.DOMAIN_LABELS through train.py: pseudo and soft domain labels are
inferred once, recorded, reused on resume, refused where they cannot work,
and the given labels (the default) leave runs and fingerprints as they were."""
import json
import os
import re
from types import SimpleNamespace

import pytest

pytest.importorskip("dassl", reason="Dassl not installed (pip install it from GitHub, see README)")

from train_harness import (TINY_OPTS, run_in_process, tiny_adu_args, train_py,  # noqa: E402
                           train_py_runs)

from trainers.engine.domain_labels import CACHE_FILE, check_enough_images  # noqa: E402
from user_errors import ConfigError  # noqa: E402

DOMAINS = ["art", "clipart", "product", "real_world"]


def args_for(root, out, clip_file, *opts, trainer="ADU", config="ADU/vit_b16_ep50"):
    return ["--root", str(root), "--seed", "1", "--trainer", trainer,
            "--dataset-config-file", "configs/datasets/office_home.yaml",
            "--config-file", f"configs/trainers/{config}.yaml",
            "--output-dir", str(out), "--forget-domains", "art",
            "MODEL.BACKBONE.NAME", clip_file, *TINY_OPTS, *opts]


MODES = ("pseudo", "soft")


@pytest.fixture(scope="module")
def run_of(office_home_root, tiny_clip_file, tmp_path_factory):
    """mode -> (output folder, train.py args, what the run printed: its
    log.txt), both modes trained in one process (one start-up)."""
    runs = {mode: tmp_path_factory.mktemp(mode) for mode in MODES}
    args = {mode: args_for(office_home_root, out, tiny_clip_file, "DATASET.DOMAIN_LABELS", mode)
            for mode, out in runs.items()}
    train_py_runs(list(args.values()))
    printed = {mode: SimpleNamespace(stdout=(out / "log.txt").read_text())
               for mode, out in runs.items()}  # before a test resumes a run
    return lambda mode: (runs[mode], args[mode], printed[mode])


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_the_run_records_and_prints_the_agreement_with_the_true_domains(run_of, mode):
    out, _, proc = run_of(mode)
    with open(out / "results.json") as f:
        whole = json.load(f)
    record = whole["pseudo_domains"]
    assert whole["method"] == f"ADU-{mode}"  # its own cell in the tables
    assert record["mode"] == mode and record["labelled_per_domain"] == 1
    assert -1.0 <= record["ari"] <= 1.0
    assert 0.0 <= record["accuracy"] <= record["best_match_accuracy"] <= 100.0
    assert f"ARI {record['ari']:.3f}" in proc.stdout
    # The test split is scored on the true domains: every domain has its row.
    assert set(json.load(open(out / "results.json"))["domains"]) == set(DOMAINS)


@pytest.mark.parametrize("mode", MODES)
def test_the_labels_are_saved_with_the_labelled_images_true(run_of, mode):
    out, _, _ = run_of(mode)
    with open(out / CACHE_FILE) as f:
        saved = json.load(f)
    n = len(saved["impaths"])
    assert len(saved["labels"]) == len(saved["soft"]) == n == 3 * 2 * len(DOMAINS)
    assert len(saved["labelled"]) == len(DOMAINS)
    for i in saved["labelled"]:
        # office_home_dg/<domain>/train/<Class>/<image>
        assert saved["labels"][i] == DOMAINS.index(saved["impaths"][i].split(os.sep)[-4])
    for row, label in zip(saved["soft"], saved["labels"]):
        assert sum(row) == pytest.approx(1.0) and max(row) == row[label]


def first_logged(stdout: str, term: str) -> float:
    return float(re.search(rf"{term} ([0-9.]+) ", stdout).group(1))


def test_soft_labels_change_the_domain_ce_only(run_of):
    """Same clusters, same hard labels, same first batch: the class losses
    agree, the domain CE differs because it reads the posteriors."""
    pseudo, soft = run_of("pseudo"), run_of("soft")
    for out in (pseudo, soft):
        assert "loss_domain_ce" in out[2].stdout
    assert (json.load(open(pseudo[0] / CACHE_FILE))["labels"]
            == json.load(open(soft[0] / CACHE_FILE))["labels"])
    for term in ("loss_memorize", "loss_forget"):
        assert first_logged(pseudo[2].stdout, term) == first_logged(soft[2].stdout, term)
    assert first_logged(pseudo[2].stdout, "loss_domain_ce") != \
        first_logged(soft[2].stdout, "loss_domain_ce")


@pytest.mark.slow
def test_a_resumed_run_reads_the_saved_labels(run_of):
    out, args, _ = run_of("pseudo")
    saved = (out / CACHE_FILE).read_text()
    before = json.load(open(out / "results.json"))
    proc = train_py(*args)
    assert "Pseudo domain labels read from" in proc.stdout
    assert (out / CACHE_FILE).read_text() == saved
    after = json.load(open(out / "results.json"))
    assert after["pseudo_domains"] == before["pseudo_domains"]


@pytest.mark.slow
def test_given_labels_add_nothing_to_the_run(finished_adu_run, office_home_root, tiny_clip_file):
    out, _ = finished_adu_run  # conftest's shared run: this file's run without DOMAIN_LABELS
    assert tiny_adu_args(office_home_root, out, tiny_clip_file) == \
        args_for(office_home_root, out, tiny_clip_file)
    record = json.load(open(out / "results.json"))
    assert "pseudo_domains" not in record and record["method"] == "ADU"
    assert not any(k.startswith("DATASET.DOMAIN_LABELS") or k.startswith("DATASET.LABELLED")
                   or k.startswith("DATASET.SOFT") for k in record["fingerprint_keys"])
    assert not (out / CACHE_FILE).exists()


@pytest.mark.parametrize("opts, message", [
    (["DATASET.DOMAIN_LABELS", "pseudo", "DATASET.LABELLED_PER_DOMAIN", "7"],
     "DATASET.LABELLED_PER_DOMAIN 7 is more than the 6 training images of domain"),
    (["DATASET.DOMAIN_LABELS", "pseudo", "DATASET.LABELLED_PER_DOMAIN", "0"],
     "DATASET.LABELLED_PER_DOMAIN must be >= 1"),
    (["DATASET.DOMAIN_LABELS", "guess"], "DATASET.DOMAIN_LABELS must be one of"),
    (["DATASET.DOMAIN_LABELS", "soft", "DATASET.SOFT_TEMPERATURE", "0.0"],
     "DATASET.SOFT_TEMPERATURE must be > 0"),
    (["DATASET.DOMAIN_LABELS", "pseudo", "DATALOADER.TRAIN_X.SAMPLER", "RandomDomainSampler"],
     "reads the domains before they are inferred"),
])
def test_bad_domain_label_settings_fail_with_one_clear_line(office_home_root, tiny_clip_file,
                                                            tmp_path, capsys, opts, message):
    err = run_in_process(args_for(office_home_root, tmp_path, tiny_clip_file, *opts), capsys)
    assert message in err
    assert err.count("\n") == 1, err


def test_a_trainer_without_pseudo_labels_refuses_them(office_home_root, tiny_clip_file,
                                                      tmp_path, capsys):
    err = run_in_process(args_for(office_home_root, tmp_path, tiny_clip_file,
                                  "DATASET.DOMAIN_LABELS", "pseudo", trainer="CoOpADU",
                                  config="CoOpADU/vit_b16_ep50"), capsys)
    assert "supported by the ADU trainer only, not CoOpADU" in err
    assert err.count("\n") == 1, err


def test_fewer_images_than_domains_are_refused():
    items = [SimpleNamespace(domain=0), SimpleNamespace(domain=1)]
    with pytest.raises(ConfigError, match="clusters 2 training images into 4 domains"):
        check_enough_images(items, DOMAINS, 1)
