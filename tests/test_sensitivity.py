"""Sensitivity sweeps: scripts/adu/sensitivity.sh (value tags, command lines,
bad input, skipping), experiments/launch/sweep_values.py, and parse_results.py --sweep on
hand-written results.json files (experiments/results/sweep.py, plots.py)."""
import os

import pytest

from results_files import parse, write_run
from script_harness import arg, dry_run_commands, needs_dassl
from train_harness import run_script

from experiments.launch import sweep_values
from experiments.results import plots

GAMMA = "TRAINER.ADU.DDL_GAMMA"
TOY = ["photo", "sketch", "clipart", "painting"]
# A recorded config: what every run of these tests shares but the swept key.
CONFIG = {"OPTIM.MAX_EPOCH": 10, "TRAINER.ADU.INSTAPG": True, GAMMA: 30.0}


@pytest.mark.parametrize("key, value, tag", [
    (GAMMA, 30.0, "DDL_GAMMA-30"),
    (GAMMA, 0.5, "DDL_GAMMA-0.5"),
    ("OPTIM.LR", 1e-05, "LR-1e-05"),
    ("TRAINER.ADU.INSTAPG_LAYERS", [6, 9], "INSTAPG_LAYERS-6_9"),
    ("TRAINER.ADU.INSTAPG", False, "INSTAPG-False"),
    ("INPUT.SIZE", (16, 16), "SIZE-16_16"),
    ("TRAINER.ADU.TEXT_TEMPLATE", "a {} drawing.", "TEXT_TEMPLATE-a_drawing."),
])
def test_value_tag_names_the_key_and_the_value_in_folder_safe_characters(key, value, tag):
    assert sweep_values.value_tag(key, value) == tag


@needs_dassl
def test_values_come_back_as_train_py_takes_them():
    assert sweep_values.sweep_lines(GAMMA, ["0", "30", "2.5"]) == [
        "DDL_GAMMA-0\t0.0", "DDL_GAMMA-30\t30.0", "DDL_GAMMA-2.5\t2.5"]
    assert sweep_values.sweep_lines("TRAINER.ADU.INSTAPG_LAYERS", ["[6,9]"]) == [
        "INSTAPG_LAYERS-6_9\t[6, 9]"]
    # a string key keeps "0.5" a string: quoted, or yacs would read a float
    assert sweep_values.sweep_lines("TRAINER.ADU.MMD_BANDWIDTH", ["median", "0.5"]) == [
        "MMD_BANDWIDTH-median\tmedian", "MMD_BANDWIDTH-0.5\t'0.5'"]


@needs_dassl
@pytest.mark.parametrize("key, values, message", [
    ("TRAINER.ADU.DDL_GAMA", ["1"], "'TRAINER.ADU.DDL_GAMA' is not a config key; did you "
                                    "mean TRAINER.ADU.DDL_GAMMA"),
    (GAMMA, ["abc"], "value 'abc' does not fit TRAINER.ADU.DDL_GAMMA: it takes a float"),
    (GAMMA, ["1", "1.0"], "values '1' and '1.0' give the same run"),
    ("SEED", ["1"], "SEED is set by the scripts; vary SEEDS instead"),
    ("TRAIN.PRINT_FREQ", ["1"], "does not change results"),
    (GAMMA, [], "no value to sweep"),
])
def test_a_key_or_value_a_sweep_cannot_use_is_refused(key, values, message):
    with pytest.raises(sweep_values.SweepError, match=message.replace("(", r"\(")):
        sweep_values.sweep_lines(key, values)


@needs_dassl
def test_dry_run_tags_every_value_in_its_folder_and_method(fake_env):
    proc = run_script("sensitivity.sh", "office_home", "art", GAMMA, "0", "30", "--",
                      "OPTIM.MAX_EPOCH", "2", env=dict(fake_env, DRY_RUN="1", SEEDS="1 2"))
    assert proc.returncode == 0, proc.stderr
    commands = dry_run_commands(proc.stdout)
    runs = f"{fake_env['OUTPUT']}/office_home/ADU_vit_b16_ep50"
    assert [arg(c, "--output-dir") for c in commands] == [
        f"{runs}_DDL_GAMMA-{v}/forget_art/8shots/seed{s}" for v in (0, 30) for s in (1, 2)]
    assert [arg(c, "TEST.METHOD_TAG") for c in commands] == [
        "ADU-DDL_GAMMA-0"] * 2 + ["ADU-DDL_GAMMA-30"] * 2
    # the swept value comes last (it wins) and as a float, as yacs needs it
    assert [c[-2:] for c in commands] == [[GAMMA, "0.0"]] * 2 + [[GAMMA, "30.0"]] * 2
    assert all(arg(c, "OPTIM.MAX_EPOCH") == "2" for c in commands)
    assert "sensitivity.sh: 4 would run, 0 skipped (done), 0 failed" in proc.stdout


@needs_dassl
def test_shots_sweep_sets_the_shots_folder_and_tag_prefixes_the_value(fake_env):
    proc = run_script("sensitivity.sh", "toy_domains", "sketch", "DATASET.NUM_SHOTS", "2", "4",
                      env=dict(fake_env, DRY_RUN="1", SEEDS="1", TAG="Baseline"))
    assert proc.returncode == 0, proc.stderr
    commands = dry_run_commands(proc.stdout)
    assert [arg(c, "--output-dir").split("toy_domains/")[1] for c in commands] == [
        f"ADU_toy_tiny_Baseline-NUM_SHOTS-{n}/forget_sketch/{n}shots/seed1" for n in (2, 4)]
    assert [arg(c, "DATASET.NUM_SHOTS") for c in commands] == ["2", "4"]
    assert [arg(c, "TEST.METHOD_TAG") for c in commands] == [
        "ADU-Baseline-NUM_SHOTS-2", "ADU-Baseline-NUM_SHOTS-4"]
    assert all(arg(c, "--config-file").endswith("ADU/toy_tiny.yaml") for c in commands)


@needs_dassl
@pytest.mark.parametrize("args, message", [
    (["office_home", "art", "TRAINER.ADU.DDL_GAMA", "1"],
     "sensitivity.sh: error: 'TRAINER.ADU.DDL_GAMA' is not a config key; did you mean "
     "TRAINER.ADU.DDL_GAMMA"),
    (["office_home", "art", GAMMA],
     "sensitivity.sh: error: usage: bash scripts/adu/sensitivity.sh DATASET FORGET KEY V1"),
    (["office_home", "art", GAMMA, "1", "--", GAMMA, "2"],
     "sensitivity.sh: error: TRAINER.ADU.DDL_GAMMA is the swept key"),
    (["office_home", "sculpture", GAMMA, "1"], "unknown domain 'sculpture'"),
])
def test_bad_input_fails_with_one_line_before_any_run(fake_env, args, message):
    proc = run_script("sensitivity.sh", *args, env=fake_env)
    assert proc.returncode == 2
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not os.path.exists(fake_env["OUTPUT"])


@needs_dassl
def test_finished_values_are_skipped_and_a_new_value_runs(fake_env):
    env = dict(fake_env, SEEDS="1")
    run_script("sensitivity.sh", "office_home", "art", GAMMA, "0", "30", env=env)
    proc = run_script("sensitivity.sh", "office_home", "art", GAMMA, "0", "30", "100",
                      env=dict(env, DRY_RUN="1"))
    assert "2 skipped (done)" in proc.stdout and "1 would run" in proc.stdout
    [command] = dry_run_commands(proc.stdout)
    assert command[-2:] == [GAMMA, "100.0"]


# ----- parse_results.py --sweep ------------------------------------------------

def write_sweep(root, method="ADU", values=(0.0, 10.0, 30.0, 100.0), seeds=(1, 2), tag=True,
                config=None, h_of=lambda value, seed: value / 2 + seed):
    """One run per (value, seed) in sensitivity.sh's layout; H = value / 2 + seed,
    Mem = H + 10 and For what makes H their harmonic mean (a record's H must be)."""
    for value in values:
        name = f"{method}-{sweep_values.value_tag(GAMMA, value)}" if tag else method
        for seed in seeds:
            h = h_of(value, seed)
            mem = h + 10
            write_run(root, "sketch", seed, mem=mem, for_=h * mem / (2 * mem - h), method=name,
                      dataset="toy_domains", domains=TOY,
                      config=dict(config or CONFIG, **{GAMMA: value}),
                      folder=os.path.join(root, name, f"seed{seed}"))


def sweep_rows(out):
    lines = out.splitlines()
    body = lines[lines.index(next(line for line in lines if line.startswith("---"))) + 1:]
    return [line.split() for line in body if line.strip()]


def test_sweep_table_averages_each_value_over_the_seeds_in_numeric_order(tmp_path, capsys):
    write_sweep(tmp_path, values=(100.0, 0.0, 30.0, 10.0))
    code, out, _ = parse(capsys, tmp_path, "--sweep", GAMMA)
    assert code == 0
    rows = sweep_rows(out)
    assert [(r[2], r[3]) for r in rows] == [("ADU", v) for v in ("0", "10", "30", "100")]
    # H over seeds 1, 2 is value / 2 + 1.5 with sample std 0.71
    assert [r[4:7] for r in rows] == [[f"{v / 2 + 1.5:.2f}", "±", "0.71"]
                                      for v in (0, 10, 30, 100)]
    assert all(r[-1] == "1,2" for r in rows)


def test_sweep_csv_gives_numbers(tmp_path, capsys):
    write_sweep(tmp_path, values=(0.0,), seeds=(1, 2, 3))
    code, out, _ = parse(capsys, tmp_path, "--sweep", GAMMA, "--format", "csv")
    header, row = out.splitlines()
    assert header == (f"dataset,forget,method,{GAMMA},h_mean,h_std,mem_mean,mem_std,"
                      "for_mean,for_std,seeds")
    fors = [h * (h + 10) / (h + 20) for h in (1, 2, 3)]  # For of H 1, 2, 3 with Mem H + 10
    mean = sum(fors) / 3
    std = (sum((f - mean) ** 2 for f in fors) / 2) ** 0.5
    assert row == (f"toy_domains,sketch,ADU,0,2.0000,1.0000,12.0000,1.0000,{mean:.4f},"
                   f"{std:.4f},\"1,2,3\"")


def test_an_untagged_run_of_the_same_config_fills_its_value(tmp_path, capsys):
    write_sweep(tmp_path, values=(0.0, 10.0))
    write_sweep(tmp_path, values=(30.0,), tag=False)  # the plain ADU runs at the default
    # plain runs of another config (1 epoch) stay out of the series
    write_sweep(tmp_path / "short", values=(30.0,), seeds=(3,), tag=False,
                config=dict(CONFIG, **{"OPTIM.MAX_EPOCH": 1}))
    code, out, _ = parse(capsys, tmp_path, "--sweep", GAMMA)
    assert code == 0
    assert [(r[3], r[-1]) for r in sweep_rows(out)] == [("0", "1,2"), ("10", "1,2"),
                                                         ("30", "1,2")]


def test_each_variant_is_its_own_series(tmp_path, capsys):
    write_sweep(tmp_path, values=(0.0, 30.0))
    write_sweep(tmp_path, method="ADU-Baseline", values=(0.0, 30.0),
                config=dict(CONFIG, **{"TRAINER.ADU.INSTAPG": False}))
    code, out, _ = parse(capsys, tmp_path, "--sweep", GAMMA)
    assert code == 0
    assert [(r[2], r[3]) for r in sweep_rows(out)] == [
        ("ADU", "0"), ("ADU", "30"), ("ADU-Baseline", "0"), ("ADU-Baseline", "30")]


def test_a_series_that_mixes_configs_is_refused(tmp_path, capsys):
    write_sweep(tmp_path, values=(0.0,))
    write_sweep(tmp_path, values=(30.0,), config=dict(CONFIG, **{"OPTIM.MAX_EPOCH": 1}))
    code, out, err = parse(capsys, tmp_path, "--sweep", GAMMA)
    assert code == 1 and not out
    assert "runs of different configs" in err and "OPTIM.MAX_EPOCH" in err


@pytest.mark.parametrize("key, message", [
    ("TRAINER.ADU.DDL_GAMA", "no run records the config key 'TRAINER.ADU.DDL_GAMA'"),
    ("TRAINER.ADU.INSTAPG", "no run was swept over TRAINER.ADU.INSTAPG"),
])
def test_a_key_without_a_sweep_says_so(tmp_path, capsys, key, message):
    write_sweep(tmp_path, values=(0.0,))
    code, _, err = parse(capsys, tmp_path, "--sweep", key)
    assert code == 1 and message in err


def test_sweep_plot_writes_a_png(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    write_sweep(tmp_path / "runs")
    png = tmp_path / "figs" / "gamma.png"
    code, _, err = parse(capsys, tmp_path / "runs", "--sweep", GAMMA, "--plot", png)
    assert code == 0 and f"plot written to {png}" in err
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_domain_plot_marks_the_forgotten_domains(tmp_path, capsys, monkeypatch):
    pytest.importorskip("matplotlib")
    figures = []
    monkeypatch.setattr(plots, "save", lambda fig, plt, path: figures.append(fig))
    for method, accs in (("ZeroshotCLIP", [60, 70, 90, 50]), ("ADU", [55, 12, 80, 45])):
        path = write_run(tmp_path, "sketch", 1, mem=60, for_=50, method=method,
                         dataset="toy_domains", domains=TOY, config=CONFIG)
        import json
        with open(path) as f:
            record = json.load(f)
        record["per_domain"] = {d: {"accuracy": a} for d, a in zip(TOY, accs)}
        with open(path, "w") as f:
            json.dump(record, f)
    code, _, _ = parse(capsys, tmp_path, "--table", "domains", "--plot", tmp_path / "d.png")
    assert code == 0
    [ax] = figures[0].axes
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        "photo", "sketch\n(forgotten)", "clipart", "painting"]
    bars = ax.patches
    heights = sorted((round(b.get_x(), 2), b.get_height(), bool(b.get_hatch())) for b in bars)
    # ZeroshotCLIP first (the paper's order), then ADU, per domain; only sketch hatched
    assert [h for _, h, _ in heights] == [60, 55, 70, 12, 90, 80, 50, 45]
    assert [hatched for _, _, hatched in heights] == [False, False, True, True] + [False] * 4
