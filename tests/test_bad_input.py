"""A property of train.py's refusals, over a table of bad inputs.

For every input in BAD_INPUTS (each case of issue 26 and of README's
Troubleshooting table that a command line can cause), train.py, run in this
process, must: exit 2, print one line on stderr (`train.py: error: ...`,
with the expected words), print no traceback, leave no folder or file
behind (the output folder it would have made, or, when the folder was there,
nothing new in it) and refuse within a few seconds (validation before data
and models are built).
"""
import os
import time

import pytest

pytest.importorskip("dassl", reason="Dassl not installed (pip install it from GitHub, see README)")

from fake_data import make_office_home, write_truncated_image  # noqa: E402
from train_harness import REPO, TINY_OPTS, folder_held_by_another  # noqa: E402

# Seconds a refusal may take in-process (a data-stage one reads a tiny tree).
MAX_SECONDS = 5.0


def base_args(root, out, clip_file, forget="art"):
    return ["--root", str(root), "--seed", "1", "--trainer", "ADU",
            "--dataset-config-file", os.path.join(REPO, "configs", "datasets", "office_home.yaml"),
            "--config-file", os.path.join(REPO, "configs", "trainers", "ADU", "vit_b16_ep50.yaml"),
            "--output-dir", str(out), "--forget-domains", forget,
            "MODEL.BACKBONE.NAME", clip_file, *TINY_OPTS]


def replace_arg(args, flag, value):
    args = list(args)
    args[args.index(flag) + 1] = value
    return args


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


# name -> (how to make the command from the context, words the line must hold).
# The context `c` has root, out (the run folder), tmp, clip and base (the
# good command); each maker returns train.py's arguments.
BAD_INPUTS = {
    "zero epochs": (lambda c: c.base + ["OPTIM.MAX_EPOCH", "0"],
                    "OPTIM.MAX_EPOCH must be >= 1, got 0"),
    "negative epochs": (lambda c: c.base + ["OPTIM.MAX_EPOCH", "-1"],
                        "OPTIM.MAX_EPOCH must be >= 1, got -1"),
    "shots beyond every pair": (lambda c: c.base + ["DATASET.NUM_SHOTS", "100000"],
                                "DATASET.NUM_SHOTS 100000 is more than any (class, domain)"),
    "negative lambda": (lambda c: c.base + ["TRAINER.ADU.DDL_LAMBDA", "-1.0"],
                        "DDL_LAMBDA must be >= 0, got -1.0: a negative lambda flips"),
    "negative gamma": (lambda c: c.base + ["TRAINER.ADU.DDL_GAMMA", "-30"],
                       "DDL_GAMMA must be >= 0, got -30.0"),
    "nan gamma (yaml)": (lambda c: replace_arg(c.base, "--config-file", write(
        c.tmp / "nan.yaml", "TRAINER:\n  ADU:\n    DDL_GAMMA: .nan\n")),
        "TRAINER.ADU.DDL_GAMMA must be a finite number, got nan"),
    "negative lr": (lambda c: c.base + ["OPTIM.LR", "-0.1"], "OPTIM.LR must be >= 0"),
    "bool key given a word": (lambda c: c.base + ["TRAINER.ADU.DDL", "yes"],
                              "TRAINER.ADU.DDL takes True or False"),
    "int key given a float": (lambda c: c.base + ["DATASET.NUM_SHOTS", "2.5"],
                              "DATASET.NUM_SHOTS takes an integer"),
    "train batch 0": (lambda c: c.base + ["DATALOADER.TRAIN_X.BATCH_SIZE", "0"],
                      "DATALOADER.TRAIN_X.BATCH_SIZE must be >= 1, got 0"),
    "test batch 0": (lambda c: c.base + ["DATALOADER.TEST.BATCH_SIZE", "0"],
                     "DATALOADER.TEST.BATCH_SIZE must be >= 1, got 0"),
    "image size 0": (lambda c: c.base + ["INPUT.SIZE", "(0, 0)"],
                     "INPUT.SIZE must be two integers >= 1"),
    "print freq 0": (lambda c: c.base + ["TRAIN.PRINT_FREQ", "0"],
                     "TRAIN.PRINT_FREQ must be >= 1"),
    "negative workers": (lambda c: c.base + ["DATALOADER.NUM_WORKERS", "-1"],
                         "DATALOADER.NUM_WORKERS must be >= 0"),
    "bandwidth not positive": (lambda c: c.base + ["TRAINER.ADU.MMD_BANDWIDTH", "-0.5"],
                               "MMD_BANDWIDTH must be 'median' or a positive number"),
    "unknown forget loss": (lambda c: c.base + ["TRAINER.ADU.FORGET_LOSS", "kl"],
                            "FORGET_LOSS"),
    "yaml syntax error": (lambda c: replace_arg(c.base, "--config-file", write(
        c.tmp / "broken.yaml", "OPTIM:\n  LR: 0.1\n MAX_EPOCH: 2\n")),
        "broken.yaml, line 3: not valid YAML"),
    "yaml not a mapping": (lambda c: replace_arg(c.base, "--config-file", write(
        c.tmp / "list.yaml", "- 1\n- 2\n")), "list.yaml: expected KEY: value lines"),
    "yaml unknown key": (lambda c: replace_arg(c.base, "--config-file", write(
        c.tmp / "typo.yaml", "OPTIM:\n  MAX_EPOCHS: 2\n")),
        "unknown config key OPTIM.MAX_EPOCHS; did you mean OPTIM.MAX_EPOCH?"),
    "misspelt option": (lambda c: c.base + ["TRAINER.ADU.DDL_LAMDA", "3"],
                        "unknown config key TRAINER.ADU.DDL_LAMDA; did you mean "
                        "TRAINER.ADU.DDL_LAMBDA"),
    "lower-case option": (lambda c: c.base + ["optim.lr", "0.1"], "did you mean OPTIM.LR?"),
    "odd option count": (lambda c: c.base + ["OPTIM.LR"],
                         "KEY VALUE pairs; OPTIM.LR has no value"),
    "unknown trainer": (lambda c: replace_arg(c.base, "--trainer", "ADUU"),
                        "unknown trainer 'ADUU'"),
    "unknown dataset": (lambda c: c.base + ["DATASET.NAME", "officehome"],
                        "unknown dataset 'officehome'"),
    "unknown forget domain": (lambda c: replace_arg(c.base, "--forget-domains", "sketch"),
                              "Unknown domain ['sketch'] for office_home"),
    "every domain forgotten": (lambda c: replace_arg(
        c.base, "--forget-domains", "art,clipart,product,real_world"),
        "All domains of office_home are set to be forgotten"),
    "no forget domain": (lambda c: replace_arg(c.base, "--forget-domains", ","),
                         "No forget domain given for office_home"),
    "best_val model": (lambda c: c.base + ["TEST.FINAL_MODEL", "best_val"],
                       "TEST.FINAL_MODEL best_val selects the model on a validation split"),
    "val split": (lambda c: c.base + ["TEST.SPLIT", "val"], "TEST.SPLIT val"),
    "eval without model dir": (lambda c: ["--eval-only"] + c.base,
                               "--eval-only needs --model-dir"),
    "eval, model dir missing": (lambda c: ["--eval-only", "--model-dir", str(c.tmp / "none")]
                                + c.base, "does not exist"),
    "eval, no checkpoint": (lambda c: ["--eval-only", "--model-dir", str(c.empty)] + c.base,
                            "holds no checkpoint of any epoch"),
    "eval, epoch not saved": (lambda c: ["--eval-only", "--model-dir", str(c.trained),
                                         "--load-epoch", "7"] + c.base,
                              "holds no checkpoint of epoch 7 (model.pth.tar-7)"),
    "backbone file missing": (lambda c: replace_arg(c.base, "MODEL.BACKBONE.NAME",
                                                    str(c.tmp / "missing.pt")),
                              "CLIP checkpoint not found"),
    "backbone name unknown": (lambda c: replace_arg(c.base, "MODEL.BACKBONE.NAME", "ViT-Q/99"),
                              "Unknown CLIP backbone 'ViT-Q/99'"),
    "method config missing": (lambda c: replace_arg(c.base, "--config-file", "nope.yaml"),
                              "method config file not found"),
    "dataset config missing": (lambda c: replace_arg(c.base, "--dataset-config-file",
                                                     "nope.yaml"),
                               "dataset config file not found"),
    "resume folder missing": (lambda c: ["--resume", str(c.tmp / "gone")] + c.base,
                              "is no folder: pass the output directory of the run"),
    "output dir is a file": (lambda c: replace_arg(c.base, "--output-dir", c.a_file),
                             "is a file, not a folder"),
    "output dir a dangling link": (lambda c: replace_arg(c.base, "--output-dir", c.dangling),
                                   "is a symbolic link to a missing"),
    "output dir under a file": (lambda c: replace_arg(c.base, "--output-dir",
                                                      os.path.join(c.a_file, "run")),
                                "a file is where a folder should be"),
    "dataset missing": (lambda c: replace_arg(replace_arg(replace_arg(
        c.base, "--root", str(c.tmp / "empty")), "--dataset-config-file",
        os.path.join(REPO, "configs", "datasets", "imagenet.yaml")), "--forget-domains",
        "sketch"), "imagenet: missing "),
    "zero-byte test image": (lambda c: replace_arg(c.base, "--root", str(c.zero_root)),
                             "cannot be read (zero bytes), in the office_home test split"),
    "truncated shot": (lambda c: replace_arg(c.base, "--root", str(c.truncated_root)),
                       "cannot be read (image file is truncated"),
    "bad lock wait": (lambda c: c.base, "ADU_LOCK_WAIT='soon'"),
}
ENV = {"bad lock wait": {"ADU_LOCK_WAIT": "soon"}}


class Context:
    pass


def make_context(tmp, clip_file) -> Context:
    """The files the table's commands name, under `tmp`."""
    c = Context()
    c.tmp, c.clip = tmp, clip_file
    c.root = c.tmp / "data"
    make_office_home(str(c.root), num_classes=3, train_per_pair=3, val_per_pair=2)
    c.empty = c.tmp / "empty_run"
    c.empty.mkdir()
    c.trained = c.tmp / "trained_run"
    (c.trained / "learner").mkdir(parents=True)
    (c.trained / "learner" / "model.pth.tar-1").write_bytes(b"")
    c.a_file = write(c.tmp / "a_file", "not a folder")
    c.dangling = str(c.tmp / "dangling")
    os.symlink(str(c.tmp / "nowhere"), c.dangling)
    c.zero_root = c.tmp / "zero"
    top = make_office_home(str(c.zero_root), num_classes=3, train_per_pair=3, val_per_pair=2)
    open(os.path.join(top, "product", "val", "Bike", "val_00001.jpg"), "wb").close()
    c.truncated_root = c.tmp / "truncated"
    top = make_office_home(str(c.truncated_root), num_classes=3, train_per_pair=3,
                           val_per_pair=2)
    for i in range(3):
        write_truncated_image(os.path.join(top, "clipart", "train", "Bike", f"train_{i:05d}.jpg"))
    return c


@pytest.fixture(scope="module")
def context(tmp_path_factory, tiny_clip_file):
    return make_context(tmp_path_factory.mktemp("bad_input"), tiny_clip_file)


def snapshot(folder) -> set:
    return {os.path.join(d, f) for d, dirs, files in os.walk(folder) for f in files + dirs}


def refuse(args, capsys):
    """train.run(args) here: (exit status, stderr, seconds)."""
    import train
    start = time.monotonic()
    with pytest.raises(SystemExit) as exit_info:
        train.run(args)
    return exit_info.value.code, capsys.readouterr().err, time.monotonic() - start


def check_refusal(args, words, capsys, watched):
    before = snapshot(watched)
    code, err, seconds = refuse(args, capsys)
    assert code == 2, err
    assert "Traceback" not in err
    assert err.startswith("train.py: error: ") and err.count("\n") == 1, err
    assert words in err, err
    assert snapshot(watched) == before, "a refused run left files behind"
    assert seconds < MAX_SECONDS, f"refused after {seconds:.1f} s"


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_a_bad_input_is_refused_in_one_line_leaving_nothing(name, context, capsys, monkeypatch,
                                                             tmp_path):
    make, words = BAD_INPUTS[name]
    for key, value in ENV.get(name, {}).items():
        monkeypatch.setenv(key, value)
    context.base = base_args(context.root, tmp_path / "out" / "run", context.clip)
    check_refusal(make(context), words, capsys, context.tmp.parent)


def test_the_table_covers_at_least_30_inputs():
    assert len(BAD_INPUTS) >= 30


def test_a_taken_folder_is_refused_naming_the_holder(context, capsys, tmp_path):
    """A folder whose lock another process holds (here: another open file
    description in this process, which flock treats alike)."""
    with folder_held_by_another(tmp_path / "run") as out:
        check_refusal(base_args(context.root, out, context.clip),
                      f"{out} is in use by another train.py (pid 4242 on elsewhere)",
                      capsys, tmp_path)


def test_a_folder_of_another_config_is_refused_untouched(context, capsys, tmp_path):
    out = tmp_path / "run"
    write(out / "config.yaml", "# fingerprint: " + "0" * 64 + " (sha256)\nOPTIM:\n  LR: 9.0\n")
    check_refusal(base_args(context.root, out, context.clip), "holds a run of another config",
                  capsys, tmp_path)


def test_ints_for_float_keys_and_numbers_for_string_keys_are_what_the_user_means():
    from train import parse_args, setup_cfg
    cfg = setup_cfg(parse_args(["--trainer", "ADU", "--forget-domains", "sketch,sketch",
                                "TRAINER.ADU.DDL_LAMBDA", "5",
                                "TRAINER.ADU.MMD_BANDWIDTH", "0.5"]), quiet=True)
    assert cfg.TRAINER.ADU.DDL_LAMBDA == 5.0 and isinstance(cfg.TRAINER.ADU.DDL_LAMBDA, float)
    assert cfg.TRAINER.ADU.MMD_BANDWIDTH == "0.5"
    assert list(cfg.DATASET.FORGET_DOMAINS) == ["sketch"]


def test_duplicate_forget_domains_share_the_fingerprint():
    from trainers.run.fingerprint import fingerprint
    from train import parse_args, setup_cfg

    def fp(forget):
        return fingerprint(setup_cfg(parse_args(["--trainer", "ADU", "--forget-domains",
                                                 forget]), quiet=True))
    assert fp("sketch,sketch") == fp("sketch") != fp("art")


def test_a_good_command_gets_past_every_check(context, capsys, tmp_path):
    """The guard of the table: the base command itself is not refused
    (--no-train stops it after the data and the model are built)."""
    import train
    out = tmp_path / "run"
    train.run(["--no-train"] + base_args(context.root, out, context.clip))
    assert (out / "config.yaml").is_file()
    printed = capsys.readouterr().out
    assert "keys differ from the defaults" in printed
    assert "TRAINER.ADU.PREC: 'fp32' (default 'fp16')" in printed
    assert "OPTIM.ADAM_BETA1" not in printed  # the full config is in log.txt only
    assert "ADAM_BETA1" in (out / "log.txt").read_text()


def print_table():
    """`python tests/test_bad_input.py`: each input's message and seconds to
    refusal, as docs/RELIABILITY.md shows them (the shipped tiny CLIP)."""
    import contextlib
    import io
    import pathlib
    import tempfile

    import train
    tmp = pathlib.Path(tempfile.mkdtemp())
    c = make_context(tmp, os.path.join(REPO, "assets", "tiny_clip_toy.pt"))
    print("| input | exit | message (after `train.py: error: `) | s |\n|---|---|---|---|")
    for name in sorted(BAD_INPUTS):
        os.environ.update(ENV.get(name, {}))
        c.base = base_args(c.root, tmp / "out" / "run", c.clip)
        err = io.StringIO()
        start = time.monotonic()
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                train.run(BAD_INPUTS[name][0](c))
        except SystemExit as exit_info:
            code = exit_info.code
        seconds = time.monotonic() - start
        for key in ENV.get(name, {}):
            del os.environ[key]
        line = err.getvalue().strip().removeprefix("train.py: error: ")
        line = line.replace(str(tmp), "$TMP").replace(REPO + "/", "").replace("|", "\\|")
        print(f"| {name} | {code} | {line} | {seconds:.2f} |")


if __name__ == "__main__":
    import sys
    sys.path[:0] = [REPO, os.path.dirname(os.path.abspath(__file__))]
    print_table()
