"""`python -m experiments.launch SCRIPT ARGS...`: one call of a script of
scripts/adu/ (main.sh, sweep.sh, ablation.sh, compare.sh, sensitivity.sh,
demo.sh, eval.sh, toy_report.sh, status.sh, gpu_check.sh) in one process.

A UsageError is printed as `SCRIPT: error: ...` with exit status 2; Ctrl-C
or SIGTERM stops the runs the GPU queue has started (exit 130). The
planning scripts are in experiments/launch/scripts.py; toy_report.sh (which
calls three of them), status.sh and gpu_check.sh are here. Imported by
experiments/launch/__main__.py only.
"""
import os
import signal
import sys
import time

from experiments.launch import local, scripts, slurm
from experiments.launch.runner import ScriptExit
from experiments.launch.settings import UsageError, read_settings, split_args


def toy_report(s, args) -> int:
    if args:
        raise UsageError('usage: [FORGETS="sketch clipart"] [SEEDS="1 2 3"] '
                         "bash scripts/adu/toy_report.sh")
    environ = dict(s.given, OUTPUT=s.output, SEEDS=s.get("SEEDS"))
    start = time.monotonic()
    for forget in s.get("FORGETS").split():
        print(f"=== forget {forget}", flush=True)
        calls = [("demo.sh", [], dict(environ, FORGET=forget), "demo.sh failed"),
                 ("ablation.sh", ["toy_domains", forget, "toy_tiny"],
                  dict(environ, TRAINER="ADU"), "ablation.sh failed"),
                 ("main.sh", ["toy_domains", forget, "toy_tiny_release"],
                  dict(environ, TRAINER="ADU", TAG="release"),
                  "main.sh with toy_tiny_release failed")]
        for script, script_args, env, failed in calls:
            if call(script, script_args, env):
                raise UsageError(f"{failed} (forget {forget})")
    if s.dry_run:
        return 0
    print(f"All runs done in {int(time.monotonic() - start)} s", flush=True)
    scripts.table(s, f"{s.output}/toy_domains", "--table", "domains", "--allow-missing")
    print(flush=True)
    from experiments.toy import regime  # torch: only once every run is done
    return regime.main([os.path.join(scripts.plan.REPO, "assets", "tiny_clip_toy.pt"),
                        "--root", s.data])


def status(s, args) -> int:
    positional, opts = split_args(args)
    if len(positional) != 1 or opts:
        raise UsageError("usage: bash scripts/adu/status.sh OUTPUT")
    if not os.path.isdir(positional[0]):
        raise UsageError(f"no folder {positional[0]}")
    try:
        seeds = slurm.parse_seeds(s.given.get("SEEDS", ""))  # the user's, not the default
    except slurm.SettingError as err:
        raise UsageError(str(err)) from None
    return slurm.status(positional[0], seeds)


def gpu_check(s, args) -> int:
    positional, opts = split_args(args)
    if len(positional) > 1 or opts:
        raise UsageError("usage: bash scripts/adu/gpu_check.sh [OUT]")
    os.environ.setdefault("OUTDATED_IGNORE", "1")  # Dassl -> wilds: no network check
    from experiments.bench import gpu_check as check  # torch and Dassl: from here on only
    return check.main(["--out", (positional or ["output/gpu_check"])[0], "--data", s.data])


SCRIPTS = {"main.sh": scripts.main, "sweep.sh": scripts.sweep, "ablation.sh": scripts.ablation,
           "compare.sh": scripts.compare, "sensitivity.sh": scripts.sensitivity,
           "demo.sh": scripts.demo, "eval.sh": scripts.evaluate, "toy_report.sh": toy_report,
           "status.sh": status, "gpu_check.sh": gpu_check}


def call(script: str, args, environ) -> int:
    """One script call with this environment; its exit status."""
    try:
        return SCRIPTS[script](read_settings(script, environ), list(args))
    except UsageError as err:
        sys.stdout.flush()
        print(f"{script}: error: {err}", file=sys.stderr, flush=True)
        return 2
    except ScriptExit as end:
        return end.code


def interrupted(signum, frame):
    raise KeyboardInterrupt


def main(argv) -> int:
    if not argv or (argv[0] if argv[0].endswith(".sh") else argv[0] + ".sh") not in SCRIPTS:
        print(f"usage: python -m experiments.launch SCRIPT ARGS...; scripts: "
              f"{' '.join(SCRIPTS)}", file=sys.stderr)
        return 2
    script = argv[0] if argv[0].endswith(".sh") else argv[0] + ".sh"
    signal.signal(signal.SIGTERM, interrupted)
    try:
        return call(script, argv[1:], os.environ)
    except KeyboardInterrupt:
        local.stop_all()
        return 130
