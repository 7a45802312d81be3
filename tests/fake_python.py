"""Stands in for `python` (the scripts' $PYTHON) in the script tests.

- `train.py ...` with FAKE_TRAIN=1 appends its arguments,
  CUDA_VISIBLE_DEVICES, OMP_NUM_THREADS (and when it started) as one JSON line to $FAKE_LOG, sleeps $FAKE_SLEEP
  seconds, and writes into --output-dir what a finished run leaves there:
  results.json, config.yaml and learner/model.pth.tar-2 (with --eval-only:
  a copy of the --model-dir's results.json); a seed listed in
  $FAKE_FAIL_SEEDS exits $FAKE_FAIL_CODE (default 3) instead. results.json
  and config.yaml record the real fingerprint of the command's config
  (train.py's setup_cfg, as train.py resolves it), which the launcher's
  skip test compares;
- anything else (the launcher itself, and train.py without FAKE_TRAIN) goes
  to the real Python.
"""
import json
import os
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def option(args, name, default=None):
    return args[args.index(name) + 1] if name in args else default


def resolved(args):
    """The command's config, resolved without torch (the launcher's way)."""
    from train import parse_args, setup_cfg
    return setup_cfg(parse_args(args), quiet=True)


def fake_train(args):
    sys.path.insert(0, REPO)  # a task of the fake SLURM has no PYTHONPATH
    with open(os.environ["FAKE_LOG"], "a") as f:
        f.write(json.dumps({"args": args, "cuda": os.environ.get("CUDA_VISIBLE_DEVICES"),
                            "threads": os.environ.get("OMP_NUM_THREADS"),
                            "start": time.time()}) + "\n")
    time.sleep(float(os.environ.get("FAKE_SLEEP", "0")))
    seed = int(option(args, "--seed", "1"))
    if str(seed) in os.environ.get("FAKE_FAIL_SEEDS", "").split(","):
        print(f"fake train.py: seed {seed} fails on purpose", file=sys.stderr)
        return int(os.environ.get("FAKE_FAIL_CODE", "3"))
    from user_errors import UserError
    try:
        cfg = resolved(args)
    except UserError as err:  # as train.py says it
        print(f"train.py: error: {err}", file=sys.stderr)
        return 2
    from datasets.domain_lists import DOMAINS
    from trainers.run.fingerprint import config_yaml, results_fields
    out = option(args, "--output-dir")
    os.makedirs(out, exist_ok=True)
    if "--eval-only" in args:
        from trainers.run.provenance import eval_record_name, seal
        with open(os.path.join(option(args, "--model-dir"), "results.json")) as f:
            record = json.load(f)
        record.update(results_fields(cfg))
        record["provenance"] = {"kind": "evaluation",
                                "model_dir": os.path.abspath(option(args, "--model-dir"))}
        name = eval_record_name(option(args, "--load-epoch"))
        with open(os.path.join(out, name), "w") as f:
            json.dump(seal(record), f)
        return 0
    os.makedirs(os.path.join(out, "learner"), exist_ok=True)
    with open(os.path.join(out, "config.yaml"), "w") as f:
        f.write(config_yaml(cfg))
    with open(os.path.join(out, "learner", "model.pth.tar-2"), "w") as f:
        f.write("fake\n")
    dataset = cfg.DATASET.NAME or "office_home"  # a command without a dataset config
    domains = DOMAINS[dataset]
    forget = list(cfg.DATASET.FORGET_DOMAINS)
    record = {"dataset": dataset, "trainer": cfg.TRAINER.NAME,
              "method": cfg.TEST.METHOD_TAG or cfg.TRAINER.NAME,
              "seed": seed, "num_shots": cfg.DATASET.NUM_SHOTS,
              "domains": domains, "forget_domains": forget,
              "memorize_domains": [d for d in domains if d not in forget],
              "mem": 80.0, "for": 60.0, "h": 2 * 80.0 * 60.0 / 140.0, **results_fields(cfg)}
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(record, f)
    return 0


def main(args):
    script = args[0] if args else ""
    if script.endswith("train.py") and os.environ.get("FAKE_TRAIN") == "1":
        return fake_train(args[1:])
    os.execv(sys.executable, [sys.executable, *args])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
