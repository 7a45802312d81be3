"""Accidents a careful user tries after training (evaluation, sweeps over
finished runs, tables, backbones, the run folder's files), each either
handled already or fixed by issue 37; docs/RELIABILITY.md's table "After
training" lists them. Cheap: records written as the runs write them
(no training), train.py refusing in this process before any data is read.

    .venv/bin/python -m pytest tests/test_accidents_results.py -q
"""
import json
import os
import shutil
import time

import pytest

pytest.importorskip("dassl", reason="Dassl not installed (see README)")

from train_harness import REPO, TINY_OPTS, run_in_process  # noqa: E402

from tool_entry import load_tool  # noqa: E402

import train  # noqa: E402
from experiments.launch.skip import is_done  # noqa: E402
from trainers.run import provenance  # noqa: E402
from trainers.run.fingerprint import config_yaml, results_fields  # noqa: E402

DOMAINS = ["art", "clipart", "product", "real_world"]


def train_args(folder, backbone, *extra, forget="art", opts=(), seed=1):
    return ["--root", os.path.dirname(str(folder)), "--seed", str(seed), "--trainer", "ADU",
            "--dataset-config-file", os.path.join(REPO, "configs/datasets/office_home.yaml"),
            "--config-file", os.path.join(REPO, "configs/trainers/ADU/vit_b16_ep50.yaml"),
            "--output-dir", str(folder), "--forget-domains", forget, *extra,
            "MODEL.BACKBONE.NAME", str(backbone), *TINY_OPTS, *opts]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ADU_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "file_sha256"


@pytest.fixture
def backbone(tmp_path, cache):
    path = tmp_path / "clip.pt"
    path.write_bytes(b"weights of a CLIP" * 64)
    return path


def finished(folder, backbone, kind="training", mem=80.0, for_=60.0, sealed=True, seed=1):
    """A finished run's folder as train.py leaves it (config.yaml, a learner
    checkpoint's name, results.json with its provenance): its train.py arguments."""
    args = train_args(folder, backbone, seed=seed)
    cfg = train.setup_cfg(train.parse_args(args), quiet=True)
    os.makedirs(os.path.join(folder, "learner"), exist_ok=True)
    with open(os.path.join(folder, "learner", "model.pth.tar-1"), "w") as f:
        f.write("not read by these tests\n")
    with open(os.path.join(folder, "config.yaml"), "w") as f:
        f.write(config_yaml(cfg))
    record = {"dataset": "office_home", "trainer": "ADU", "method": "ADU", "seed": seed,
              "num_shots": 2, "domains": DOMAINS, "forget_domains": ["art"],
              "memorize_domains": DOMAINS[1:], "epoch": 1, "max_epoch": 1,
              "mem": mem, "for": for_, "h": 2 * mem * for_ / (mem + for_),
              **results_fields(cfg)}
    record["provenance"] = {"kind": kind, "backbone": {
        "name": str(backbone), "sha256": provenance.backbone_sha256(str(backbone), str)}}
    with open(os.path.join(folder, "results.json"), "w") as f:
        json.dump(provenance.seal(record) if sealed else record, f, indent=2)
    return args


def edit(path, **changes):
    record = json.load(open(path))
    record.update(changes)
    json.dump(record, open(path, "w"), indent=2)


def as_evaluation(path, sealed=True):
    """The record at `path` turned into an evaluation's, as --eval-only writes one."""
    record = json.load(open(path))
    record.pop("record_sha256", None)
    record["provenance"] = dict(record["provenance"], kind="evaluation")
    json.dump(provenance.seal(record) if sealed else record, open(path, "w"))


# --- the skip test over finished runs --------------------------------------

def test_a_finished_run_is_done(tmp_path, backbone):
    assert is_done(str(tmp_path / "run"), finished(tmp_path / "run", backbone))


@pytest.mark.parametrize("accident, change, message", [
    ("H edited by hand, seal kept", {"h": 99.0}, "changed after the run wrote it"),
    ("Mem and H edited consistently", {"mem": 90.0, "h": 2 * 90 * 60 / 150},
     "changed after the run wrote it"),
    ("H edited, seal removed", {"h": 99.0, "record_sha256": None},
     "is not the harmonic mean"),
])
def test_an_edited_result_is_named_and_run_again(tmp_path, backbone, capsys, accident,
                                                 change, message):
    args = finished(tmp_path / "run", backbone)
    path = tmp_path / "run" / "results.json"
    record = json.load(open(path))
    record.update(change)
    if change.get("record_sha256", "") is None:
        del record["record_sha256"]
    json.dump(record, open(path, "w"))
    assert not is_done(str(tmp_path / "run"), args)
    out, err = capsys.readouterr()
    assert message in err and "running again" in out


def test_an_evaluations_record_in_place_of_results_json_is_not_done(tmp_path, backbone,
                                                                    capsys):
    args = finished(tmp_path / "run", backbone, kind="evaluation")
    assert not is_done(str(tmp_path / "run"), args)
    assert "record of an evaluation" in capsys.readouterr().err


def test_a_result_written_before_provenance_is_still_done(tmp_path, backbone):
    """No needless rerun of the runs finished before this: no provenance, no seal."""
    args = finished(tmp_path / "run", backbone, sealed=False)
    record = json.load(open(tmp_path / "run" / "results.json"))
    del record["provenance"]
    json.dump(record, open(tmp_path / "run" / "results.json", "w"))
    assert is_done(str(tmp_path / "run"), args)


def test_check_done_says_not_done_for_an_edited_result(tmp_path, backbone):
    args = finished(tmp_path / "run", backbone)
    edit(tmp_path / "run" / "results.json", h=99.0)
    at = args.index("MODEL.BACKBONE.NAME")
    with pytest.raises(SystemExit) as exit_info:
        train.run(args[:at] + ["--check-done"] + args[at:])
    assert exit_info.value.code == 1


# --- backbones -------------------------------------------------------------

def test_a_touched_backbone_keeps_the_run_done(tmp_path, backbone):
    args = finished(tmp_path / "run", backbone)
    later = time.time() + 10
    os.utime(backbone, (later, later))
    assert is_done(str(tmp_path / "run"), args)


def test_a_backbone_replaced_with_its_size_and_mtime_kept_is_seen(tmp_path, backbone, capsys):
    args = finished(tmp_path / "run", backbone)
    st = os.stat(backbone)
    data = bytearray(backbone.read_bytes())
    data[5] ^= 1
    backbone.write_bytes(bytes(data))
    os.utime(backbone, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert not is_done(str(tmp_path / "run"), args)
    assert "another backbone" in capsys.readouterr().out


@pytest.mark.parametrize("damage", ["garbage", "forged digest", "another file's entry"])
def test_a_damaged_digest_cache_entry_is_recomputed(backbone, cache, damage):
    right = provenance.file_sha256(backbone)
    assert provenance.cached_file_sha256(str(backbone)) == right
    [entry] = list(cache.iterdir())
    if damage == "garbage":
        entry.write_text('{"path": ')
    else:
        record = json.loads(entry.read_text())
        if damage == "forged digest":
            record["sha256"] = "0" * 64  # its check no longer matches
        else:
            record["path"] = "/elsewhere/clip.pt"
            record["check"] = provenance.entry_check(record)
        entry.write_text(json.dumps(record))
    assert provenance.cached_file_sha256(str(backbone)) == right
    assert json.loads(entry.read_text())["sha256"] == right  # written again


# --- evaluation -------------------------------------------------------------

def saved_run(tmp_path, backbone):
    run = tmp_path / "run"
    finished(run, backbone)
    return run


@pytest.mark.parametrize("accident, extra, opts, message", [
    ("another seed", ["--seed", "2"], [], "SEED: 1 -> 2"),
    ("another backbone file", [], ["MODEL.BACKBONE.NAME", "COPY"],
     "MODEL.BACKBONE.NAME"),
    ("another trainer's method keys", [], ["TRAINER.ADU.DDL_GAMMA", "0.5"],
     "TRAINER.ADU.DDL_GAMMA"),
])
def test_eval_only_refuses_weights_of_another_config(tmp_path, backbone, capsys, accident,
                                                     extra, opts, message):
    run = saved_run(tmp_path, backbone)
    if "COPY" in opts:  # the same CLIP at another path: another MODEL.BACKBONE.NAME
        copy = tmp_path / "other" / backbone.name
        copy.parent.mkdir()
        shutil.copyfile(backbone, copy)
        opts = [str(copy) if o == "COPY" else o for o in opts]
    args = train_args(tmp_path / "eval", backbone, "--eval-only", "--model-dir", str(run),
                      *extra, opts=opts)
    err = run_in_process(args, capsys)
    assert err.count("\n") == 1 and message in err and "--cross-eval" in err
    assert not (tmp_path / "eval").exists()


def test_eval_only_with_another_test_batch_size_is_accepted(tmp_path, backbone):
    run = saved_run(tmp_path, backbone)
    args = train.parse_args(train_args(tmp_path / "eval", backbone, "--eval-only",
                                       "--model-dir", str(run),
                                       opts=["DATALOADER.TEST.BATCH_SIZE", "3"]))
    cfg = train.setup_cfg(args, quiet=True)
    source = train.check_weights_source(cfg, args)
    assert source["kind"] == "evaluation" and source["fingerprint"]


def test_eval_only_of_a_checkpoint_outside_any_run_needs_cross_eval(tmp_path, backbone,
                                                                    capsys):
    loose = tmp_path / "loose" / "model.pth.tar-1"
    loose.parent.mkdir()
    loose.write_text("x")
    args = train_args(tmp_path / "eval", backbone, "--eval-only", "--model-dir", str(loose))
    err = run_in_process(args, capsys)
    assert "records no training config" in err and "--cross-eval" in err


def test_cross_eval_without_eval_only_is_refused(tmp_path, backbone, capsys):
    err = run_in_process(train_args(tmp_path / "run", backbone, "--cross-eval"), capsys)
    assert "--cross-eval labels an evaluation" in err
    assert not (tmp_path / "run").exists()


def test_eval_sh_gives_each_source_run_its_own_folder():
    from experiments.launch.scripts import eval_folder
    tail = "office_home/ADU_vit_b16_ep50/forget_art/2shots/seed1"
    a = eval_folder("output/adu_eval", f"output/adu/{tail}")
    b = eval_folder("output/adu_eval", f"output/adu_other/{tail}")
    assert a != b and a.startswith(f"output/adu_eval/{tail}_")
    assert eval_folder("output/adu_eval", f"output/adu/{tail}") == a  # stable: skipped when done


# --- tables -----------------------------------------------------------------

@pytest.fixture
def tables(tmp_path, backbone):
    """Two finished runs (seeds 1 and 2) under tmp_path/runs."""
    for seed in (1, 2):
        finished(tmp_path / "runs" / f"seed{seed}", backbone, seed=seed)
    return tmp_path / "runs"


def parse(capsys, *args):
    code = load_tool("parse_results").main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("accident, damage", [
    ("truncated", lambda p: p.write_text(p.read_text()[:40])),
    ("another format (YAML)", lambda p: p.write_text("dataset: office_home\nh: 50\n")),
    ("a dangling link", lambda p: (p.unlink(), p.symlink_to(p.parent / "gone.json"))),
    ("an evaluation's record renamed", as_evaluation),
])
def test_a_damaged_results_file_is_named_and_the_others_are_tabulated(tables, capsys,
                                                                      accident, damage):
    path = tables / "seed2" / "results.json"
    damage(path)
    code, out, err = parse(capsys, tables, "--seeds", "1", "--allow-missing")
    assert code == 2
    assert f"skipping {path}:" in err and "train.py command again" in err
    assert "Table 1" in out and "80.00" in out  # seed 1 still tabulated


def test_evaluations_are_tabulated_apart_from_the_training_runs(tables, capsys):
    evaluation = tables / "seed1" / "results_eval_epoch1.json"
    shutil.copy(tables / "seed1" / "results.json", evaluation)
    edit(evaluation, mem=50.0, h=2 * 50 * 60 / 110)
    as_evaluation(evaluation)
    code, out, _ = parse(capsys, tables, "--seeds", "1,2", "--allow-missing")
    assert code == 0 and "50.00" not in out and "80.00" in out
    code, out, _ = parse(capsys, tables, "--seeds", "1", "--evaluations", "--allow-missing")
    assert code == 0 and "50.00" in out and "80.00" not in out


# --- the analysis tools on a damaged run ------------------------------------

@pytest.mark.parametrize("tool, damage, message", [
    ("analyze", lambda p: p.write_text(p.read_text()[:30]), "does not read as JSON"),
    ("robustness", lambda p: edit(p, h=99.0), "changed after the run wrote it"),
    ("analyze", lambda p: as_evaluation(p, sealed=False), "record of an evaluation"),
])
def test_the_analysis_tools_name_a_damaged_results_json(tmp_path, backbone, capsys, tool,
                                                       damage, message):
    run = saved_run(tmp_path, backbone)
    path = run / "results.json"
    damage(path)
    with pytest.raises(SystemExit) as exit_info:
        load_tool(tool).main([str(run), "--cpu"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1
    assert str(path) in err and message in err and "train.py command again" in err


# --- the run folder's files ---------------------------------------------------

def test_a_link_planted_at_a_written_file_is_replaced_not_followed(tmp_path):
    from trainers.run.files import write_json_atomic
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "results.json").symlink_to(victim)
    write_json_atomic(str(tmp_path / "run" / "results.json"), {"h": 1})
    assert victim.read_text() == "keep me"
    assert not (tmp_path / "run" / "results.json").is_symlink()


def test_a_link_planted_at_the_temporary_name_is_not_followed(tmp_path):
    from trainers.run.files import temp_path, write_json_atomic
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (tmp_path / "run").mkdir()
    target = str(tmp_path / "run" / "config.json")
    os.symlink(victim, temp_path(target))
    write_json_atomic(target, {"a": 1})
    assert victim.read_text() == "keep me" and json.load(open(target)) == {"a": 1}


def test_a_log_link_planted_in_the_run_folder_is_refused(tmp_path, backbone, capsys):
    """Dassl's logger asks os.path.exists (which follows the link) and opens
    log.txt for writing: a dangling link would create its target."""
    victim = tmp_path / "elsewhere" / "victim.txt"
    victim.parent.mkdir()
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "log.txt").symlink_to(victim)
    err = run_in_process(train_args(tmp_path / "run", backbone), capsys)
    assert "log.txt is a symbolic link" in err and err.count("\n") == 1
    assert not victim.exists()
    shutil.rmtree(tmp_path / "run")


def test_a_link_planted_between_the_removal_and_the_creation_is_not_followed(
        tmp_path, monkeypatch):
    """A link that appears at the temporary name after the stale one was
    removed (a race): the exclusive, no-follow creation fails instead of
    writing through it."""
    from trainers.run import files
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (tmp_path / "run").mkdir()
    target = str(tmp_path / "run" / "config.json")
    os.symlink(victim, files.temp_path(target))
    monkeypatch.setattr(files.os, "unlink", lambda path: None)  # the link "comes back"
    with pytest.raises(OSError):
        files.write_json_atomic(target, {"a": 1})
    assert victim.read_text() == "keep me"
