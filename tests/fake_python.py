"""Stands in for `python` (the scripts' $PYTHON) in tests/test_scripts.py.

It answers quickly what would otherwise import Dassl (about 10 s a call):
- `-m experiments.launch.dataset_info office_home` (or `toy_domains`) prints the domains;
- `train.py ...` with FAKE_TRAIN=1 appends its arguments and
  CUDA_VISIBLE_DEVICES as one JSON line to $FAKE_LOG, sleeps $FAKE_SLEEP
  seconds, and writes into --output-dir what a finished run leaves there:
  results.json, config.yaml and learner/model.pth.tar-2 (with --eval-only:
  a copy of the --model-dir's results.json); a seed listed in
  $FAKE_FAIL_SEEDS exits $FAKE_FAIL_CODE (default 3) instead. Its
  results.json records a fake fingerprint of the command (its arguments but
  the paths), which `train.py --check-done` compares as the real one does;
- anything else (and train.py without FAKE_TRAIN) goes to the real Python.
"""
import hashlib
import json
import os
import sys
import time

from fake_data import OFFICE_HOME_DOMAINS, TOY_DOMAINS

DOMAINS = {"office_home": OFFICE_HOME_DOMAINS, "toy_domains": TOY_DOMAINS}


def option(args, name, default=None):
    return args[args.index(name) + 1] if name in args else default


def fake_fingerprint(args):
    """The command's arguments without the ones the real fingerprint leaves out."""
    kept, skip = [], False
    for a in args:
        if skip:
            skip = False
        elif a in ("--output-dir", "--root"):
            skip = True
        elif a != "--check-done":
            kept.append(a)
    return hashlib.sha256(json.dumps(kept).encode()).hexdigest()


def check_done(args):
    try:
        with open(os.path.join(option(args, "--output-dir"), "results.json")) as f:
            record = json.load(f)
    except (OSError, ValueError):
        return 1
    return 0 if record.get("fingerprint") == fake_fingerprint(args) else 1


def fake_train(args):
    if "--check-done" in args:
        return check_done(args)
    with open(os.environ["FAKE_LOG"], "a") as f:
        f.write(json.dumps({"args": args, "cuda": os.environ.get("CUDA_VISIBLE_DEVICES")})
                + "\n")
    time.sleep(float(os.environ.get("FAKE_SLEEP", "0")))
    seed = int(option(args, "--seed", "1"))
    if str(seed) in os.environ.get("FAKE_FAIL_SEEDS", "").split(","):
        print(f"fake train.py: seed {seed} fails on purpose", file=sys.stderr)
        return int(os.environ.get("FAKE_FAIL_CODE", "3"))
    out = option(args, "--output-dir")
    os.makedirs(out, exist_ok=True)
    if "--eval-only" in args:
        with open(os.path.join(option(args, "--model-dir"), "results.json")) as f:
            record = json.load(f)
        record["fingerprint"] = fake_fingerprint(args)
        with open(os.path.join(out, "results.json"), "w") as f:
            json.dump(record, f)
        return 0
    os.makedirs(os.path.join(out, "learner"), exist_ok=True)
    for name in ("config.yaml", "learner/model.pth.tar-2"):
        with open(os.path.join(out, name), "w") as f:
            f.write("fake\n")
    forget = option(args, "--forget-domains").split(",")
    record = {"dataset": "office_home", "trainer": option(args, "--trainer"),
              "method": option(args, "TEST.METHOD_TAG", option(args, "--trainer")),
              "seed": seed, "num_shots": int(option(args, "DATASET.NUM_SHOTS", "8")),
              "domains": OFFICE_HOME_DOMAINS, "forget_domains": forget,
              "memorize_domains": [d for d in OFFICE_HOME_DOMAINS if d not in forget],
              "mem": 80.0, "for": 60.0, "h": 2 * 80.0 * 60.0 / 140.0,
              "fingerprint": fake_fingerprint(args)}
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(record, f)
    return 0


def main(args):
    script = args[0] if args else ""
    if args[:2] == ["-m", "experiments.launch.dataset_info"] and len(args) == 3 \
            and args[2] in DOMAINS:
        print(" ".join(DOMAINS[args[2]]))
        return 0
    if script.endswith("train.py") and os.environ.get("FAKE_TRAIN") == "1":
        return fake_train(args[1:])
    os.execv(sys.executable, [sys.executable, *args])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
