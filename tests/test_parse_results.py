"""tools/parse_results.py on hand-written results.json trees."""
import csv
import io
import json
import os
import subprocess
import sys
from itertools import combinations

import pytest

from fake_data import OFFICE_HOME_DOMAINS
from results_files import parse, write_run

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write_complete(root, k=1, method="ADU", seeds=(1, 2, 3), skip=()):
    """Every combination of size k over `seeds`, except the (forget, seed) in `skip`."""
    for combo in combinations(OFFICE_HOME_DOMAINS, k):
        for seed in seeds:
            if (",".join(combo), seed) not in skip:
                write_run(root, combo, seed, mem=80.0, for_=60.0, method=method)


def csv_rows(out):
    return list(csv.DictReader(io.StringIO(out)))


def test_h_is_averaged_per_run_not_recomputed(tmp_path, capsys):
    # Per-run H: 18 and 18. From the averaged Mem (50) and For (50) it would be 50.
    write_run(tmp_path, "art", 1, mem=90.0, for_=10.0)
    write_run(tmp_path, "art", 2, mem=10.0, for_=90.0)
    code, out, _ = parse(capsys, tmp_path, "--format", "csv", "--allow-missing")
    assert code == 0
    [row] = csv_rows(out)
    assert float(row["h_mean"]) == pytest.approx(18.0)
    assert float(row["mem_mean"]) == pytest.approx(50.0)
    assert float(row["for_mean"]) == pytest.approx(50.0)


def test_mean_and_sample_std_over_seeds_and_combinations(tmp_path, capsys):
    # H 10, 20, 30 with Mem 70: For = 70 H / (140 - H) (a record's H is its
    # harmonic mean of Mem and For, or it is refused as edited).
    write_run(tmp_path, "art", 1, mem=70.0, for_=700 / 130)
    write_run(tmp_path, "art", 2, mem=70.0, for_=1400 / 120)
    write_run(tmp_path, "clipart", 1, mem=70.0, for_=2100 / 110)
    code, out, _ = parse(capsys, tmp_path, "--allow-missing")
    assert code == 0
    assert "20.00 ± 10.00" in out  # mean 20, sample std 10
    assert "70.00 ± 0.00" in out
    code, out, _ = parse(capsys, tmp_path, "--format", "csv", "--allow-missing")
    [row] = csv_rows(out)
    assert (row["runs"], row["expected_runs"], row["combinations"]) == ("3", "12", "2/4")
    assert float(row["h_std"]) == pytest.approx(10.0)


def test_complete_cells_count_runs_and_seeds_and_exit_0(tmp_path, capsys):
    write_complete(tmp_path, k=1)
    write_complete(tmp_path, k=2)
    write_complete(tmp_path, k=1, method="ADU-Baseline")
    code, out, err = parse(capsys, tmp_path)
    assert code == 0, err
    assert "Table 1: H / Mem / For (%), |D_forget| = 1" in out
    assert "Table 2: office_home" in out  # |D_forget| = 2 exists
    assert out.index("ADU-Baseline") < out.index("\nADU ")  # the paper's row order
    assert "12/12" in out and "18/18" in out and "6/6" in out
    assert out.count("3/3 seeds found") == 3
    assert "incomplete" not in err


def test_missing_seed_and_combination_are_named_and_exit_1(tmp_path, capsys):
    write_complete(tmp_path, k=1, skip={("art", 3), ("real_world", 1), ("real_world", 2),
                                        ("real_world", 3)})
    code, out, err = parse(capsys, tmp_path)
    assert code == 1
    assert "2/3 seeds found" in out and "3/4" in out and "8/12" in out
    assert "forget art: 2/3 seeds found (missing seed 3)" in err
    assert "forget real_world: no run (0/3 seeds found)" in err
    assert "pass --allow-missing" in err

    code, out, err = parse(capsys, tmp_path, "--allow-missing")
    assert code == 0 and "forget art: 2/3 seeds found" in err
    assert "accepted with --allow-missing" in err


def test_expected_seeds_come_from_the_seeds_flag(tmp_path, capsys):
    write_complete(tmp_path, k=3, seeds=(1, 2))
    assert parse(capsys, tmp_path)[0] == 1
    code, out, _ = parse(capsys, tmp_path, "--seeds", "1,2")
    assert code == 0 and "2/2 seeds found" in out and "8/8" in out
    write_run(tmp_path, ["art", "clipart", "product"], 7, mem=1.0, for_=1.0)
    code, out, _ = parse(capsys, tmp_path, "--seeds", "1,2")
    assert code == 0 and "also seed 7" in out


def test_corrupt_and_partial_files_are_named_and_skipped(tmp_path, capsys):
    write_complete(tmp_path, k=1)
    bad = tmp_path / "broken" / "results.json"
    bad.parent.mkdir()
    bad.write_text('{"dataset": "office_ho')
    partial = write_run(tmp_path, "art", 9, mem=80.0, for_=60.0,
                        folder=str(tmp_path / "partial"))
    record = json.load(open(partial))
    del record["h"]
    json.dump(record, open(partial, "w"))
    code, out, err = parse(capsys, tmp_path, "--seeds", "1,2,3")
    assert code == 2  # a damaged file: exit 2, the table of the others kept
    assert f"warning: skipping {bad}: not valid JSON" in err
    assert f"warning: skipping {partial}: 'h' is missing or not a number" in err
    assert "12/12" in out


def test_duplicate_runs_are_counted_once(tmp_path, capsys):
    write_complete(tmp_path, k=1)
    copy = write_run(tmp_path, "art", 1, mem=0.0, for_=0.0, h=0.0,
                     folder=str(tmp_path / "zz_copy"))
    code, out, err = parse(capsys, tmp_path)
    assert code == 0 and "12/12" in out
    assert f"skipping {copy}: the same run" in err


def test_empty_or_missing_root_says_so(tmp_path, capsys):
    code, _, err = parse(capsys, tmp_path)
    assert code == 1 and "no results.json found under" in err
    (tmp_path / "only_bad").mkdir()
    (tmp_path / "only_bad" / "results.json").write_text("")
    code, _, err = parse(capsys, tmp_path)
    assert code == 2 and "no readable results.json among the 1 found" in err
    code, _, err = parse(capsys, tmp_path / "nowhere")
    assert code == 2 and "is not a folder" in err


def test_markdown_and_csv_formats(tmp_path, capsys):
    write_complete(tmp_path, k=1)
    write_run(tmp_path, "art_painting", 1, mem=50.0, for_=50.0, dataset="pacs",
              domains=["photo", "art_painting", "cartoon", "sketch"], folder=str(tmp_path / "p"))
    code, out, _ = parse(capsys, tmp_path, "--format", "markdown", "--allow-missing")
    assert code == 0
    assert "## Table 1: H / Mem / For (%), |D_forget| = 1" in out
    assert "| method   | office_home H" in out and "pacs H" in out
    assert "|---" in out or "|:--" in out
    code, out, _ = parse(capsys, tmp_path, "--format", "csv", "--allow-missing")
    rows = csv_rows(out)
    assert [(r["dataset"], r["method"], r["forget_size"]) for r in rows] == [
        ("office_home", "ADU", "1"), ("pacs", "ADU", "1")]
    assert rows[1]["h_std"] == "" and rows[1]["seeds_found"] == "1/3"
    assert "forget cartoon: no run" in rows[1]["missing"]
    write_complete(tmp_path, k=2)
    code, out, _ = parse(capsys, tmp_path, "--format", "markdown", "--allow-missing")
    assert "| \\|D_forget\\|=2 H" in out
    for block in out.split("\n\n"):  # every row of a table has as many cells as its header
        lines = [line.replace("\\|", "") for line in block.splitlines() if line.startswith("|")]
        assert len({line.count("|") for line in lines}) <= 1, block


def test_methods_with_different_shots_are_kept_apart(tmp_path, capsys):
    write_run(tmp_path, "art", 1, mem=80.0, for_=60.0, shots=8)
    write_run(tmp_path, "art", 1, mem=80.0, for_=60.0, shots=16)
    code, out, _ = parse(capsys, tmp_path, "--allow-missing")
    assert code == 0
    assert "ADU (8 shots)" in out and "ADU (16 shots)" in out


def test_plot_writes_a_png(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    write_complete(tmp_path / "runs", k=1)
    write_complete(tmp_path / "runs", k=2, seeds=(1,))
    png = tmp_path / "plots" / "h.png"
    code, _, err = parse(capsys, tmp_path / "runs", "--plot", png, "--allow-missing")
    assert code == 0 and f"plot written to {png}" in err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_check_mode_and_the_command_line(tmp_path):
    good = write_run(tmp_path, "art", 1, mem=80.0, for_=60.0)
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    script = os.path.join(REPO, "tools", "parse_results.py")
    ok = subprocess.run([sys.executable, script, "--check", good], capture_output=True,
                        text=True)
    assert ok.returncode == 0 and ok.stderr == ""
    fail = subprocess.run([sys.executable, script, "--check", good, str(bad)],
                          capture_output=True, text=True)
    assert fail.returncode == 1 and f"{bad}: not a JSON object" in fail.stderr
    table = subprocess.run([sys.executable, script, str(tmp_path)], capture_output=True,
                           text=True)
    assert table.returncode == 1 and "Table 1" in table.stdout
    assert "forget clipart: no run" in table.stderr


def test_domain_table_averages_each_domain_over_seeds(tmp_path, capsys):
    for seed, (art, clip) in zip((1, 2), ((10.0, 80.0), (30.0, 90.0))):
        path = write_run(tmp_path, "art", seed, mem=85.0, for_=100 - art)
        record = json.load(open(path))
        record["per_domain"] = {"art": {"accuracy": art, "num_images": 4, "forget": True},
                                "clipart": {"accuracy": clip, "num_images": 4, "forget": False}}
        record["domain_probe_accuracy"] = 50.0 + seed
        json.dump(record, open(path, "w"))
    write_run(tmp_path, "art", 1, mem=70.0, for_=40.0, method="ZeroshotCLIP")
    code, out, _ = parse(capsys, tmp_path, "--table", "domains", "--format", "csv")
    assert code == 0
    rows = {r["method"]: r for r in csv_rows(out)}
    adu = rows["ADU"]
    assert adu["art"] == "20.00 ± 14.14*" and adu["clipart"] == "85.00 ± 7.07"
    assert adu["Mem"] == "85.00 ± 0.00" and adu["domain probe"] == "51.50 ± 0.71"
    assert adu["seeds"] == "1,2"
    # a run without per-domain numbers shows dashes, not a crash
    assert rows["ZeroshotCLIP"]["art"] == "-" and rows["ZeroshotCLIP"]["H"] == "50.91"
    code, out, _ = parse(capsys, tmp_path, "--table", "domains")
    assert code == 0 and "Per-domain accuracy" in out and "20.00 ± 14.14*" in out


CONFIG = {"OPTIM.MAX_EPOCH": 50, "OPTIM.LR": 0.0025, "TRAINER.ADU.DDL": True}


def test_runs_of_one_config_average_over_seeds_and_forget_domains(tmp_path, capsys):
    for forget in ("art", "clipart"):
        for seed in (1, 2):
            write_run(tmp_path, forget, seed, mem=80.0, for_=60.0, config=CONFIG)
    code, out, err = parse(capsys, tmp_path, "--seeds", "1,2", "--allow-missing")
    assert code == 0 and "Table 1" in out
    assert "fingerprint" not in err and "different configs" not in err


def test_a_cell_of_runs_with_different_configs_is_named_and_not_averaged(tmp_path, capsys):
    write_run(tmp_path, "art", 1, mem=80.0, for_=60.0, config=CONFIG)
    write_run(tmp_path, "art", 2, mem=80.0, for_=60.0, config=CONFIG)
    short = write_run(tmp_path, "clipart", 1, mem=10.0, for_=10.0,
                      config=dict(CONFIG, **{"OPTIM.MAX_EPOCH": 2}))
    code, out, err = parse(capsys, tmp_path, "--allow-missing")
    assert code == 1 and out == ""
    assert "runs of different configs would be averaged" in err
    assert ("office_home / ADU / |D_forget|=1: runs of 2 different configs (they differ in "
            "OPTIM.MAX_EPOCH)") in err
    assert "[OPTIM.MAX_EPOCH=50] in 2 run(s)" in err
    assert f"[OPTIM.MAX_EPOCH=2] in 1 run(s), e.g. {short}" in err
    # a row of the domain table averages one forget set only: no conflict yet
    assert parse(capsys, tmp_path, "--table", "domains")[0] == 0
    write_run(tmp_path, "art", 3, mem=80.0, for_=60.0, config=dict(CONFIG, **{"OPTIM.LR": 0.1}))
    code, out, err = parse(capsys, tmp_path, "--table", "domains")
    assert code == 1 and out == ""
    assert "office_home / forget art / ADU: runs of 2 different configs" in err


def test_runs_without_a_fingerprint_are_never_averaged_with_runs_that_have_one(
        tmp_path, capsys):
    write_run(tmp_path, "art", 1, mem=80.0, for_=60.0)
    write_run(tmp_path, "art", 2, mem=80.0, for_=60.0)
    code, out, err = parse(capsys, tmp_path, "--seeds", "1,2", "--allow-missing")
    assert code == 0 and "Table 1" in out
    assert "2 of 2 runs record no config fingerprint" in err
    write_run(tmp_path, "clipart", 1, mem=80.0, for_=60.0, config=CONFIG)
    code, out, err = parse(capsys, tmp_path, "--seeds", "1,2", "--allow-missing")
    assert code == 1 and out == ""
    assert "|D_forget|=1: 2 of 3 runs record no config fingerprint" in err


def test_domain_table_shows_rec_at_8_from_a_matching_robustness_json(tmp_path, capsys):
    def robustness(path, fingerprint, rec8):
        record = {"fingerprint": fingerprint, "probe": {"unlearned": {"1": 40.0, "8": rec8}}}
        with open(os.path.join(os.path.dirname(path), "robustness.json"), "w") as f:
            json.dump(record, f)
    for seed, rec8 in ((1, 60.0), (2, 80.0)):
        path = write_run(tmp_path, "art", seed, mem=85.0, for_=70.0, config=CONFIG)
        robustness(path, "f" * 64, rec8)
    code, out, _ = parse(capsys, tmp_path, "--table", "domains", "--format", "csv")
    assert code == 0 and csv_rows(out)[0]["Rec@8"] == "70.00 ± 14.14"
    # a robustness.json of another run (another fingerprint) is not shown
    other = write_run(tmp_path, "clipart", 1, mem=85.0, for_=70.0, config=CONFIG)
    robustness(other, "e" * 64, 10.0)
    code, out, _ = parse(capsys, tmp_path, "--table", "domains", "--format", "csv")
    assert {r["forget"]: r["Rec@8"] for r in csv_rows(out)} == {
        "art": "70.00 ± 14.14", "clipart": "-"}


def test_domain_table_has_no_rec_at_8_column_without_robustness_files(tmp_path, capsys):
    write_run(tmp_path, "art", 1, mem=85.0, for_=70.0)
    code, out, _ = parse(capsys, tmp_path, "--table", "domains", "--format", "csv")
    assert code == 0 and "Rec@8" not in csv_rows(out)[0]
