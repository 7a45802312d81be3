"""One function per script of scripts/adu/ that plans runs: its arguments,
checks, variants and runs, in the order the script prints them. Each takes
the call's Settings and arguments and returns the exit status (a
UsageError or runner.ScriptExit ends it early). The usage comment of each
script (scripts/adu/<name>.sh) says what it runs. Imported by
experiments/launch/__main__.py.
"""
import hashlib
import itertools
import os
import re
import sys
import time

from experiments.launch import plan, results_check
from experiments.launch.runner import Runner
from experiments.launch.settings import UsageError, check, check_script_keys, split_args
from trainers.run.threads import cpu_count
from experiments.results import cli as results_cli

# compare.sh's methods, in the table's order: (trainer, tag).
ALL_METHODS = [("ZeroshotCLIP", ""), ("LPPlusPlusADU", ""), ("CLIPFitADU", ""), ("BBFADU", ""),
               ("CoOpADU", ""), ("MaPLeADU", ""), ("ADU", "Baseline"), ("ADU", "")]
# ablation.sh's variants: (tag, TRAINER.ADU switches); "" is full ADU.
ABLATION = [("Baseline", plan.BASELINE_SWITCHES),
            ("InstaPG-only", ["TRAINER.ADU.DDL", "False"]),
            ("DDL-only", ["TRAINER.ADU.INSTAPG", "False"]),
            ("DDL-CE-only", ["TRAINER.ADU.DDL_MMD", "False"]),
            ("DDL-MMD-only", ["TRAINER.ADU.DDL_CE", "False"]),
            ("", [])]


def table(s, *args) -> int:
    """`tools/parse_results.py ARGS` (its main, in this process): the table a
    script ends with; its exit status."""
    print(flush=True)
    status = results_cli.main(list(args))
    sys.stdout.flush()
    sys.stderr.flush()
    return status


def default_cfg(dataset) -> str:
    return "toy_tiny" if dataset.name == "toy_domains" else "vit_b16_ep50"


def busy_cpus(seconds: float = 0.5) -> float:
    """How many CPUs other processes keep busy now: the non-idle share of
    /proc/stat's CPU time over `seconds`, in CPUs (None where it cannot be read)."""
    def sample():
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
        return sum(fields), fields[3] + fields[4]  # all, idle + iowait
    try:
        total0, idle0 = sample()
        time.sleep(seconds)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    share = 1 - (idle1 - idle0) / max(total1 - total0, 1)
    return share * (os.cpu_count() or 1)


def toy_threads(busy) -> int:
    """torch threads per toy run: 2 on at least 2 free CPUs (measured on 2
    idle cores: the compare.sh call of docs/TOY.md took 58 s with 2 threads,
    82 s with 1), else 1 (beside a busy process two threads made a step 3.7x
    slower: docs/PERFORMANCE.md, "The demo's time and threads")."""
    free = cpu_count() - (busy if busy is not None else cpu_count())
    return 2 if free >= 1.5 else 1


def toy_defaults(s, dataset) -> None:
    """On the toy benchmark every script runs as demo.sh does, with a thread
    count chosen once, before its first run, from how busy the CPUs are
    (toy_threads) unless OMP_NUM_THREADS says otherwise, and, unless QUIET
    is set, each run's output in its job.log with one progress line per run
    and per epoch on the terminal (QUIET=0: every batch line)."""
    if dataset.name != "toy_domains":
        return
    if not os.environ.get("OMP_NUM_THREADS"):  # the runs' environment (local.py)
        os.environ["OMP_NUM_THREADS"] = str(toy_threads(busy_cpus()))
    if "QUIET" not in s.given:
        s.quiet = True


def run_args(s, args, second):
    """The command line "DATASET SECOND [CFG] [SHOTS] [-- KEY VALUE ...]" of
    main.sh, sweep.sh and ablation.sh -> (SECOND, dataset, trainer config,
    shots, options), checked in the order the scripts always have."""
    positional, opts = split_args(args)
    if not 2 <= len(positional) <= 4:
        raise UsageError(f"usage: bash scripts/adu/{s.script} DATASET {second} [CFG] [SHOTS] "
                         "[-- KEY VALUE ...]")
    check(s)
    check_script_keys(opts)
    dataset = plan.load_dataset(positional[0])
    tc = plan.load_trainer_config(s.trainer, (positional[2:3] or [default_cfg(dataset)])[0],
                                  opts)
    shots = plan.check_shots((positional[3:4] or ["8"])[0])
    toy_defaults(s, dataset)
    return positional[1], dataset, tc, shots, opts


def main(s, args) -> int:
    forget, dataset, tc, shots, opts = run_args(s, args, "FORGET")
    runner = Runner(s, dataset.domains)
    runner.train(plan.seed_runs(s, dataset, tc, shots, plan.forget_set(dataset, forget),
                                s.tag, opts))
    runner.summarize()
    return 0


def sweep(s, args) -> int:
    k, dataset, tc, shots, opts = run_args(s, args, "K")
    top = len(dataset.domains) - 1
    if not re.fullmatch(r"[0-9]+", k) or not 1 <= int(k) <= top:
        raise UsageError(f"K must be from 1 to {top} for {dataset.name} ({len(dataset.domains)} "
                         f"domains: {' '.join(dataset.domains)}), got '{k}'")
    combos = [",".join(c) for c in itertools.combinations(dataset.domains, int(k))]
    runner = Runner(s, dataset.domains)
    runner.say(f"{dataset.name}: {len(combos)} forget combination(s) of size {k}: "
               f"{' '.join(combos)}")
    for combo in combos:
        runner.train(plan.seed_runs(s, dataset, tc, shots, plan.forget_set(dataset, combo),
                                    s.tag, opts))
    runner.summarize()
    return 0


def ablation(s, args) -> int:
    if s.trainer != "ADU":
        raise UsageError("the ablation switches TRAINER.ADU options; it runs TRAINER=ADU only, "
                         f"got '{s.trainer}'")
    if s.tag:
        raise UsageError("the ablation sets TAG itself; unset TAG")
    forget, dataset, tc, shots, opts = run_args(s, args, "FORGET")
    forget = plan.forget_set(dataset, forget)
    runner = Runner(s, dataset.domains)
    for tag, switches in ABLATION:
        runner.say(f"== {tag or 'full ADU'}")
        runner.train(plan.seed_runs(s, dataset, tc, shots, forget, tag, opts + switches))
    runner.summarize()
    return 0


def chosen_methods(wanted: str) -> list:
    """METHODS ("CoOpADU ADU-Baseline") -> (trainer, tag) pairs in the table's order."""
    names = [f"{t}-{tag}" if tag else t for t, tag in ALL_METHODS]
    if not wanted:
        return list(ALL_METHODS)
    asked = wanted.split()
    for name in asked:
        if name not in names:
            raise UsageError(f"unknown method '{name}' in METHODS; methods: {' '.join(names)}")
    return [m for m, name in zip(ALL_METHODS, names) if name in asked]


def compare(s, args) -> int:
    if s.tag:
        raise UsageError("the comparison sets TAG itself (the Baseline); unset TAG")
    positional, opts = split_args(args)
    if not 2 <= len(positional) <= 4:
        raise UsageError(f"usage: bash scripts/adu/{s.script} DATASET FORGET [CFG] [SHOTS] "
                         "[-- KEY VALUE ...]")
    check(s)
    check_script_keys(opts)
    dataset = plan.load_dataset(positional[0])
    forget = plan.forget_set(dataset, positional[1])
    cfg = (positional[2:3] or [default_cfg(dataset)])[0]
    shots = plan.check_shots((positional[3:4] or ["8"])[0])
    methods = chosen_methods(s.get("METHODS"))
    for trainer, _ in methods:  # a missing config would otherwise stop the script hours in
        plan.load_trainer_config(trainer, cfg, opts)
    toy_defaults(s, dataset)
    start = time.monotonic()
    runner = Runner(s, dataset.domains)
    for trainer, tag in methods:
        method_opts = opts + (plan.BASELINE_SWITCHES if tag == "Baseline" else [])
        tc = plan.load_trainer_config(trainer, cfg, method_opts)
        runner.say(f"== {trainer}" + (f"-{tag}" if tag else ""))
        runner.train(plan.seed_runs(s, dataset, tc, shots, forget, tag, method_opts))
    runner.summarize_before_table(f"in {int(time.monotonic() - start)} s")
    return table(s, f"{s.output}/{dataset.name}", "--table", "1", "--seeds",
                 ",".join(s.seeds), "--allow-missing")


def sensitivity(s, args) -> int:
    from experiments.launch import sweep_values
    positional, opts = split_args(args)
    if len(positional) < 4:
        raise UsageError(f"usage: bash scripts/adu/{s.script} DATASET FORGET KEY V1 [V2 ...] "
                         "[-- KEY VALUE ...]")
    check(s)
    check_script_keys(opts)
    key, texts = positional[2], positional[3:]
    try:
        values = [line.split("\t", 1) for line in sweep_values.sweep_lines(key, texts)]
    except sweep_values.SweepError as err:
        raise UsageError(str(err)) from None
    if key in opts[::2]:
        raise UsageError(f"{key} is the swept key; leave it out of the options after --")
    dataset = plan.load_dataset(positional[0])
    forget = plan.forget_set(dataset, positional[1])
    cfg = s.get("CFG") or default_cfg(dataset)
    base_shots = plan.check_shots(s.get("SHOTS") or "8")
    plan.load_trainer_config(s.trainer, cfg, opts)
    toy_defaults(s, dataset)
    start = time.monotonic()
    runner = Runner(s, dataset.domains)
    for value_tag, value in values:
        tag = f"{s.tag}-{value_tag}" if s.tag else value_tag
        shots, value_opts = base_shots, list(opts)
        if key == "DATASET.NUM_SHOTS":
            shots = value
        else:
            value_opts += [key, value]
        tc = plan.load_trainer_config(s.trainer, cfg, value_opts)
        runner.say(f"== {key} = {value}")
        runner.train(plan.seed_runs(s, dataset, tc, shots, forget, tag, value_opts))
    runner.summarize_before_table(f"in {int(time.monotonic() - start)} s")
    return table(s, f"{s.output}/{dataset.name}", "--sweep", key)


def demo(s, args) -> int:
    positional, opts = split_args(args)
    if positional:
        raise UsageError('usage: [FORGET=domain] [SEEDS="1 2 3"] bash scripts/adu/demo.sh '
                         "[-- KEY VALUE ...]")
    if s.devices:
        raise UsageError("the demo runs on the CPU one run at a time; unset DEVICES")
    check(s)
    check_script_keys(opts)
    dataset = plan.load_dataset("toy_domains")
    forget = plan.forget_set(dataset, s.get("FORGET"))
    start = time.monotonic()
    runner = Runner(s, dataset.domains)
    steps = [("== 1/3 zero-shot CLIP", "ZeroshotCLIP", "", []),
             ("== 2/3 Baseline (deep vision prompts, no InstaPG, no DDL)", "ADU", "Baseline",
              plan.BASELINE_SWITCHES),
             ("== 3/3 ADU (prompts + InstaPG + Domain Disentangling Loss)", "ADU", "", [])]
    for title, trainer, tag, switches in steps:
        runner.say(title)
        tc = plan.load_trainer_config(trainer, "toy_tiny", opts + switches)
        runner.train(plan.seed_runs(s, dataset, tc, "8", forget, tag, opts + switches))
    runner.summarize_before_table(f"in {int(time.monotonic() - start)} s")
    return table(s, f"{s.output}/toy_domains", "--table", "domains")


def saved_epochs(run: str) -> list:
    """The epochs of a run's saved weights (<run>/*/model.pth.tar-E), ascending."""
    found = set()
    for name in os.listdir(run):
        folder = os.path.join(run, name)
        if os.path.isdir(folder):
            for file in os.listdir(folder):
                epoch = file.rpartition("model.pth.tar-")[2]
                if file.startswith("model.pth.tar-") and epoch.isdigit() \
                        and os.path.isfile(os.path.join(folder, file)):
                    found.add(int(epoch))
    return sorted(found)


def eval_folder(eval_output: str, run: str) -> str:
    """Where a run's evaluation goes: EVAL_OUTPUT + its last five path parts,
    the last one followed by 8 hex digits of its real path's sha256, so that
    two runs whose last five parts are the same (other OUTPUT roots) never
    share an evaluation folder."""
    tag = hashlib.sha256(os.path.realpath(run).encode()).hexdigest()[:8]
    return eval_output + "/" + "/".join(run.split("/")[-5:]) + "_" + tag


def evaluate(s, args) -> int:
    positional, opts = split_args(args)
    if not 1 <= len(positional) <= 2:
        raise UsageError("usage: bash scripts/adu/eval.sh RUN_ROOT [EPOCH] [-- KEY VALUE ...]")
    check(s)
    root = positional[0][:-1] if positional[0].endswith("/") else positional[0]
    epoch = (positional[1:2] or [""])[0]
    if not os.path.isdir(root):
        raise UsageError(f"no folder {root}")
    if epoch and not re.fullmatch(r"[1-9][0-9]*", epoch):
        raise UsageError(f"EPOCH must be a positive integer, got '{epoch}'")
    eval_output = s.get("EVAL_OUTPUT") or "output/adu_eval" + (f"_epoch{epoch}" if epoch else "")
    configs = sorted(os.path.join(folder, "config.yaml") for folder, _, files in os.walk(root)
                     if "config.yaml" in files)
    runner = Runner(s)
    found = passed_over = 0
    for config in configs:
        run = os.path.dirname(config)
        epochs = saved_epochs(run)
        if not epochs:
            runner.say(f"not evaluated: {run} (no saved weights)")
            passed_over += 1
            continue
        if results_check.problem(os.path.join(run, "results.json")) is not None:
            runner.say(f"not evaluated: {run} (not finished: no complete results.json)")
            passed_over += 1
            continue
        found += 1
        load = int(epoch) if epoch else epochs[-1]
        saved = " ".join(map(str, epochs))
        if load not in epochs:
            runner.fail(f"{run} (no weights of epoch {load}; saved: {saved})")
            runner.say(f"{run} has no weights of epoch {load} (saved: {saved})")
            continue
        out = eval_folder(eval_output, run)
        command = [s.python, os.path.join(plan.REPO, "train.py"), "--config-file", config,
                   "--output-dir", out, "--eval-only", "--model-dir", run,
                   "--load-epoch", str(load)]
        if s.given.get("DATA"):
            command += ["--root", s.given["DATA"]]
        runner.train([plan.Run(out, command + opts)])
    if not found:
        raise UsageError(f"no finished run (config.yaml, results.json and saved weights) "
                         f"under {root}")
    runner.summarize(f"({passed_over} not evaluated: no saved weights or not finished)"
                     if passed_over else "")
    return 0
