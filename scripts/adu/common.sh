# shellcheck shell=bash
# Shared by the scripts in scripts/adu/ (sourced, not run). Each script is a
# CoOp-style entry point: its usage comment, then `launch "$@"`, one call of
# the launcher (python -m experiments.launch, experiments/launch/), which
# plans the script's runs, skips the finished ones and runs the rest here
# or on SLURM, in one Python process.
#
# Settings come from the environment (all optional):
#   DATA     dataset root, --root of train.py                   (default: data)
#   TRAINER  trainer; its configs are configs/trainers/$TRAINER/ (default: ADU)
#   OUTPUT   root of the run folders                            (default: output/adu)
#   SEEDS    seeds to run, space-separated                      (default: "1 2 3")
#   TAG      variant name: folder <trainer>_<cfg>_<TAG>, results.json method
#            <trainer>-<TAG> (TEST.METHOD_TAG); empty for the plain method
#   DEVICES  GPU ids, e.g. "0,1,2": one run per GPU at a time, each with its
#            own CUDA_VISIBLE_DEVICES and log file; empty: one run at a time in
#            the foreground on the default device
#   LAUNCHER local (default: runs on this machine, as DEVICES says) or slurm
#            (every run of the call submitted as one SLURM job array through
#            submitit; PARTITION, TIMEOUT_MIN, GPUS_PER_RUN, CPUS_PER_RUN,
#            MEM_GB, ACCOUNT, QOS, ARRAY_PARALLELISM, SBATCH_EXTRA: see
#            experiments/launch/slurm.py)
#   DRY_RUN  1: print the train.py commands instead of running them (slurm:
#            the sbatch script and each array task's command)
#   QUIET    1: without DEVICES, send each run's output to <run>/job.log
#            (its last lines are shown when it fails); the terminal shows one
#            progress line per run and per epoch. Default on toy_domains (0
#            there shows every batch line), off elsewhere
#   OMP_NUM_THREADS  torch's CPU threads per run; on toy_domains, unless set: 2 on two free CPUs, else 1
#            (as demo.sh: faster there, docs/PERFORMANCE.md)
#   PYTHON   the Python interpreter (default: the repository's .venv/bin/python,
#            which `make` sets up, when it exists, else python); a script
#            stops at once when it lacks Dassl, torch or clip
# Relative paths are taken from the current folder (run from the repository
# root, as in CoOp). Config options for train.py go after `--` on any
# script's command line, as KEY VALUE pairs (e.g. `-- OPTIM.MAX_EPOCH 10`).
# A finished run (its results.json complete and of the same config) is
# skipped; the first train.py exit status 2 (a setting to fix) stops the
# script; a bad argument or setting is one line `SCRIPT: error: ...`, exit 2.

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# ARGS...: run this script's call in the launcher, with $PYTHON (which
# also runs train.py) and the repository root on its module path.
launch() {
    if [[ -z ${PYTHON:-} ]]; then
        # experiments/launch/interpreter.py's default_python, which must agree.
        PYTHON=python
        [[ ! -x $REPO/.venv/bin/python ]] || PYTHON=$REPO/.venv/bin/python
    fi
    export PYTHON
    command -v "$PYTHON" >/dev/null || {
        echo "$(basename "$0"): error: PYTHON=$PYTHON: no such program; set PYTHON to a" \
            "Python with the packages (e.g. PYTHON=.venv/bin/python) or unset it" >&2
        exit 2
    }
    PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" exec "$PYTHON" -m experiments.launch "$(basename "$0")" "$@"
}
