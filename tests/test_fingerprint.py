"""The config fingerprint (trainers/run/fingerprint.py): what it keeps,
how it is computed and recorded, and how a mismatch is named."""
import hashlib

import pytest
from yacs.config import CfgNode as CN

from trainers.run.fingerprint import (
    EXCLUDED,
    cfg_keys,
    check_run_folder,
    config_yaml,
    fingerprint,
    recorded,
    results_fields,
)
from user_errors import PathTakenError


def small_cfg(**changes):
    cfg = CN()
    cfg.OUTPUT_DIR = "out/a"
    cfg.SEED = 1
    cfg.OPTIM = CN()
    cfg.OPTIM.LR = 0.0025
    cfg.OPTIM.MAX_EPOCH = 50
    cfg.INPUT = CN()
    cfg.INPUT.SIZE = (224, 224)
    cfg.TRAIN = CN()
    cfg.TRAIN.PRINT_FREQ = 5
    for key, value in changes.items():
        node = cfg
        *path, last = key.split("__")
        for part in path:
            node = node[part]
        node[last] = value
    return cfg


def test_the_fingerprint_is_the_sha256_of_the_kept_keys_canonical_json():
    # Written out by hand: sorted dotted keys, no spaces, tuples as lists,
    # OUTPUT_DIR and TRAIN.PRINT_FREQ left out.
    expected = hashlib.sha256(
        b'{"INPUT.SIZE":[224,224],"OPTIM.LR":0.0025,"OPTIM.MAX_EPOCH":50,"SEED":1}'
    ).hexdigest()
    assert fingerprint(small_cfg()) == expected
    assert results_fields(small_cfg()) == {
        "fingerprint": expected,
        "fingerprint_keys": {"INPUT.SIZE": [224, 224], "OPTIM.LR": 0.0025,
                             "OPTIM.MAX_EPOCH": 50, "SEED": 1}}


def test_excluded_keys_do_not_change_it_and_kept_ones_do():
    base = fingerprint(small_cfg())
    assert fingerprint(small_cfg(OUTPUT_DIR="elsewhere", TRAIN__PRINT_FREQ=1)) == base
    for change in ({"SEED": 2}, {"OPTIM__LR": 0.01}, {"INPUT__SIZE": (32, 32)}):
        assert fingerprint(small_cfg(**change)) != base, change


def test_every_excluded_key_exists_in_the_real_config_tree():
    pytest.importorskip("dassl", reason="Dassl not installed (pip install it from GitHub, "
                                        "see README)")
    from dassl.config import get_cfg_default

    from trainers.config import extend_cfg
    cfg = get_cfg_default()
    extend_cfg(cfg)
    for key in EXCLUDED:
        node = cfg
        for part in key.split("."):
            assert part in node, f"EXCLUDED names {key}, which the config does not have"
            node = node[part]


def test_keys_added_later_are_left_out_at_their_default_only(tmp_path, monkeypatch):
    """A config that has the keys added since fingerprints began at their
    defaults has the fingerprint of one from before they existed (finished
    runs stay valid); another value is kept, and a folder of the old config
    refuses it by name. Which keys those are is derived from
    trainers/config.py: a key added there joins no list."""
    pytest.importorskip("dassl", reason="Dassl not installed (pip install it from GitHub, "
                                        "see README)")
    from dassl.config import get_cfg_default

    import trainers.config
    from trainers.run import fingerprint as fp

    def with_keys(add_new_key):
        cfg = get_cfg_default()
        trainers.config.extend_cfg(cfg)
        if add_new_key:
            cfg.TRAINER.ADU.A_NEW_KEY = 0.5
        return cfg

    added = fp.added_defaults()
    # the pseudo-label keys, the loader keys, the release switches, CoOp's nodes
    for key in ("DATASET.DOMAIN_LABELS", "DATALOADER.CACHE_SHOTS", "TRAINER.ADU.DOMAIN_HEAD",
                "TRAINER.COOP.N_CTX", "DATASET.SUBSAMPLE_CLASSES"):
        assert key in added
    assert not set(added) & fp.FIRST_KEYS and "TRAINER.ADU.DDL_LAMBDA" not in added
    # no key of Dassl's own (DATASET.NUM_SHOTS gets the project's default): kept at any value
    assert not set(added) & set(fp.flatten(get_cfg_default()))
    cfg = with_keys(False)
    assert not set(added) & set(cfg_keys(cfg))
    # The config as it was before: none of the added keys.
    old = cfg.clone()
    for key in added:
        *path, last = key.split(".")
        node = old
        for part in path:
            node = node[part]
        del node[last]
    assert fingerprint(old) == fingerprint(cfg)
    (tmp_path / "config.yaml").write_text(config_yaml(old))
    check_run_folder(cfg, str(tmp_path))
    for key, value in (("DOMAIN_LABELS", "pseudo"), ("LABELLED_PER_DOMAIN", 2),
                       ("SOFT_TEMPERATURE", 0.5)):
        changed = cfg.clone()
        changed.DATASET[key] = value
        assert cfg_keys(changed)[f"DATASET.{key}"] == value
        with pytest.raises(PathTakenError, match=f"DATASET.{key}: \\(absent\\) -> {value}"):
            check_run_folder(changed, str(tmp_path))
    # A key added to trainers/config.py tomorrow: neutral at its default, kept otherwise.
    real_extend = trainers.config.extend_cfg
    monkeypatch.setattr(trainers.config, "extend_cfg",
                        lambda c: (real_extend(c), c.TRAINER.ADU.__setitem__("A_NEW_KEY", 0.5)))
    monkeypatch.setattr(fp, "extend_cfg", trainers.config.extend_cfg)
    fp.added_defaults.cache_clear()
    try:
        new = with_keys(True)
        assert fingerprint(new) == fingerprint(cfg)
        new.TRAINER.ADU.A_NEW_KEY = 0.25
        assert cfg_keys(new)["TRAINER.ADU.A_NEW_KEY"] == 0.25
    finally:
        fp.added_defaults.cache_clear()


def test_config_yaml_records_the_fingerprint_and_gives_the_keys_back(tmp_path):
    cfg = small_cfg()
    (tmp_path / "config.yaml").write_text(config_yaml(cfg))
    path, recorded_fingerprint, keys = recorded(str(tmp_path))
    assert path == str(tmp_path / "config.yaml")
    assert recorded_fingerprint == fingerprint(cfg)
    assert keys == results_fields(cfg)["fingerprint_keys"]
    # and yacs reads the file back as the same config (the line is a comment)
    assert CN.load_cfg((tmp_path / "config.yaml").read_text()) == CN.load_cfg(cfg.dump())


def test_a_folder_is_refused_with_the_keys_that_differ_old_to_new(tmp_path):
    (tmp_path / "config.yaml").write_text(config_yaml(small_cfg()))
    check_run_folder(small_cfg(OUTPUT_DIR="x", TRAIN__PRINT_FREQ=9), str(tmp_path))
    with pytest.raises(PathTakenError) as err:
        check_run_folder(small_cfg(OPTIM__MAX_EPOCH=2, SEED=3), str(tmp_path))
    assert "config.yaml -> this command: OPTIM.MAX_EPOCH: 50 -> 2; SEED: 1 -> 3)" in str(err.value)
    new_key = small_cfg()
    new_key.OPTIM.NEW_KEY = True
    with pytest.raises(PathTakenError, match=r"OPTIM.NEW_KEY: \(absent\) -> True"):
        check_run_folder(new_key, str(tmp_path))


def test_a_folder_recording_nothing_is_accepted_and_an_old_one_refused(tmp_path):
    check_run_folder(small_cfg(), str(tmp_path / "new"))
    check_run_folder(small_cfg(), str(tmp_path))  # empty
    (tmp_path / "results.json").write_text('{"h": 50.0}')
    with pytest.raises(PathTakenError, match="results.json has none"):
        check_run_folder(small_cfg(), str(tmp_path))
    (tmp_path / "config.yaml").write_text(small_cfg().dump())
    with pytest.raises(PathTakenError, match="config.yaml has none"):
        check_run_folder(small_cfg(), str(tmp_path))
