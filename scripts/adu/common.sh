# shellcheck shell=bash
# Shared by the scripts in scripts/adu/ (sourced, not run): settings, input
# checks, the output layout, the skip test and the job queue.
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
#            tools/launcher.py)
#   DRY_RUN  1: print the train.py commands instead of running them (slurm:
#            the sbatch script and each array task's command)
#   QUIET    1: without DEVICES, send each run's output to <run>/job.log
#            (its last lines are shown when it fails)
#   PYTHON   the Python interpreter                             (default: python)
# Relative paths are taken from the current folder (run from the repository
# root, as in CoOp). Config options for train.py go after `--` on any
# script's command line, as KEY VALUE pairs (e.g. `-- OPTIM.MAX_EPOCH 10`).

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SCRIPT=$(basename "$0")
DATA=${DATA:-data}
TRAINER=${TRAINER:-ADU}
OUTPUT=${OUTPUT:-output/adu}
SEEDS=${SEEDS:-1 2 3}
TAG=${TAG:-}
DEVICES=${DEVICES:-}
LAUNCHER=${LAUNCHER:-local}
DRY_RUN=${DRY_RUN:-}
QUIET=${QUIET:-}
PYTHON=${PYTHON:-python}

dry_run() {
    [[ -n $DRY_RUN && $DRY_RUN != 0 ]]
}

die() {
    echo "$SCRIPT: error: $*" >&2
    exit 2
}

# ARGS... -> POSITIONAL (before `--`) and OPTS (after it, KEY VALUE pairs).
split_args() {
    POSITIONAL=()
    OPTS=()
    while (($#)); do
        if [[ $1 == -- ]]; then
            shift
            OPTS=("$@")
            break
        fi
        POSITIONAL+=("$1")
        shift
    done
    ((${#OPTS[@]} % 2 == 0)) || die "config options after -- come in KEY VALUE pairs, got: ${OPTS[*]}"
}

check_settings() {
    local s
    for s in $SEEDS; do
        [[ $s =~ ^[0-9]+$ ]] || die "SEEDS must be non-negative integers, got '$SEEDS'"
    done
    [[ -n ${SEEDS// /} ]] || die "SEEDS is empty"
    [[ $TAG =~ ^[A-Za-z0-9._-]*$ ]] || die "TAG may hold letters, digits, '.', '_' and '-' only, got '$TAG'"
    [[ -z $DEVICES || $DEVICES =~ ^[0-9]+(,[0-9]+)*$ ]] ||
        die "DEVICES must be comma-separated GPU ids like 0,1,2, got '$DEVICES'"
    check_launcher
}

# DATASET -> DOMAINS (array) and DATASET_CFG; the domain list comes from the
# dataset class (tools/dataset_info.py), which also rejects unknown names.
load_dataset() {
    local out
    out=$(PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" -m experiments.launch.dataset_info "$1" 2>&1) || die "$out"
    read -r -a DOMAINS <<<"${out##*$'\n'}"
    ((${#DOMAINS[@]} >= 2)) || die "dataset $1 reports domains '$out'; ADU needs two or more"
    DATASET=$1
    DATASET_CFG=$REPO/configs/datasets/$DATASET.yaml
    [[ -f $DATASET_CFG ]] || die "no dataset config $DATASET_CFG"
}

# CFG -> TRAINER_CFG, the method config of $TRAINER, and CFG_LABEL, what the
# run folders are named after: CFG, plus _<backbone> and _<size>px when the
# options after -- (OPTS, split first) change the config's backbone or image
# size, and _pseudo / _soft for inferred domain labels (tools/run_label.py),
# so that a folder never names a model or labels it did not run.
load_trainer_config() {
    local dir=$REPO/configs/trainers/$TRAINER names
    if [[ ! -d $dir ]]; then
        names=("$REPO"/configs/trainers/*/)
        names=("${names[@]%/}")
        die "no configs for trainer '$TRAINER' (looked in $dir); trainers with configs: ${names[*]##*/}"
    fi
    CFG=$1
    TRAINER_CFG=$dir/$CFG.yaml
    if [[ ! -f $TRAINER_CFG ]]; then
        names=("$dir"/*.yaml)
        names=("${names[@]##*/}")
        die "no config '$CFG' for $TRAINER (looked for $TRAINER_CFG); configs of $TRAINER: ${names[*]%.yaml}"
    fi
    CFG_LABEL=$CFG
    local i
    for ((i = 0; i < ${#OPTS[@]}; i += 2)); do
        if [[ ${OPTS[i]} == MODEL.BACKBONE.NAME || ${OPTS[i]} == INPUT.SIZE ||
            ${OPTS[i]} == DATASET.DOMAIN_LABELS ]]; then
            CFG_LABEL+=$(PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" -m experiments.launch.run_label "$TRAINER_CFG" "${OPTS[@]}") ||
                die "cannot read $TRAINER_CFG"
            break
        fi
    done
}

# SECOND ARGS...: the command line "DATASET SECOND [CFG] [SHOTS] [-- KEY VALUE ...]"
# of main.sh, sweep.sh and ablation.sh, checked and loaded (settings, trainer
# config, shots, dataset); POSITIONAL[1], the SECOND, is the script's to read.
parse_run_args() {
    local second=$1
    shift
    split_args "$@"
    ((${#POSITIONAL[@]} >= 2 && ${#POSITIONAL[@]} <= 4)) ||
        die "usage: bash scripts/adu/$SCRIPT DATASET $second [CFG] [SHOTS] [-- KEY VALUE ...]"
    check_settings
    load_trainer_config "${POSITIONAL[2]:-vit_b16_ep50}"
    SHOTS=${POSITIONAL[3]:-8}
    [[ $SHOTS =~ ^[1-9][0-9]*$ ]] || die "SHOTS must be a positive integer, got '$SHOTS'"
    load_dataset "${POSITIONAL[0]}"
}

# The paper's Baseline: ADU's deep vision prompts without InstaPG and DDL,
# run as TAG=Baseline (folder ADU_<cfg>_Baseline, method ADU-Baseline) by
# demo.sh, ablation.sh and compare.sh.
BASELINE_SWITCHES=(TRAINER.ADU.INSTAPG False TRAINER.ADU.DDL False)

# "art,clipart" -> FORGET_ARG ("art,clipart", in the dataset's domain order)
# and FORGET_DIR ("art+clipart"). Needs load_dataset first.
set_forget() {
    local -a given
    local name d known
    read -r -a given <<<"${1//,/ }"
    ((${#given[@]})) || die "no domain to forget given; domains of $DATASET: ${DOMAINS[*]}"
    for name in "${given[@]}"; do
        known=
        for d in "${DOMAINS[@]}"; do [[ $name == "$d" ]] && known=1; done
        [[ -n $known ]] || die "unknown domain '$name' for $DATASET; valid domains: ${DOMAINS[*]}"
    done
    local -a chosen=()
    for d in "${DOMAINS[@]}"; do
        for name in "${given[@]}"; do
            if [[ $name == "$d" ]]; then
                chosen+=("$d")
                break
            fi
        done
    done
    ((${#chosen[@]} < ${#DOMAINS[@]})) ||
        die "cannot forget every domain of $DATASET (${DOMAINS[*]}); leave at least one to memorize"
    FORGET_ARG=$(IFS=,; echo "${chosen[*]}")
    FORGET_DIR=$(IFS=+; echo "${chosen[*]}")
}

# DIR CMD...: true when DIR/results.json is a complete result of the config
# that CMD (a train.py command writing to DIR) resolves to: train.py
# --check-done compares the fingerprint results.json records with CMD's,
# without loading data. A corrupt result is reported and done again (train.py
# resumes from its checkpoints); one of another config is run again too, and
# train.py then refuses the folder, naming the keys that differ.
results_exist() {
    local file=$1/results.json
    shift
    [[ -f $file ]] || return 1
    if ! "$PYTHON" "$REPO/tools/parse_results.py" --check "$file"; then
        echo "$file is not a complete result (above); running again"
        return 1
    fi
    "$1" "$2" --check-done "${@:3}"
}

# ---- launching: here (the job queue) or on SLURM (tools/launcher.py) -----------
# The bash queue stays for local runs: submitit's local executor starts every
# job at once on the same first GPUs (no queue, no GPU per job).

# LAUNCHER must be local or slurm; slurm's settings are checked by the
# launcher itself (one line naming the bad one) before any run is planned.
check_launcher() {
    case $LAUNCHER in
    local) ;;
    slurm)
        [[ -z $DEVICES ]] || die "DEVICES places runs on this machine's GPUs; with LAUNCHER=slurm the scheduler places them (GPUS_PER_RUN): unset DEVICES"
        local out args=(check)
        ! dry_run || args+=(--dry-run)
        out=$(LAUNCHER_CALLER=$SCRIPT PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" -m experiments.launch.slurm "${args[@]}" 2>&1) ||
            die "${out#"$SCRIPT: error: "}"
        ;;
    *) die "LAUNCHER must be local or slurm, got '$LAUNCHER'" ;;
    esac
}

# DIR PID [EXIT]: DIR/launch.json for status.sh: a local run, the process it
# runs in and, once it ended, its exit status.
record_local_run() {
    local domains=
    [[ -z ${DOMAINS[*]-} ]] || domains=$(printf '"%s", ' "${DOMAINS[@]}")
    printf '{"launcher": "local", "host": "%s", "pid": %s, "domains": [%s]%s}\n' \
        "$HOSTNAME" "$2" "${domains%, }" "${3:+, \"exit\": $3}" >"$1/launch.json"
}

# The runs LAUNCHER=slurm submits at the end, one job array (tools/launcher.py):
# per run NAME LOG N ARG1 .. ARGN, each NUL-terminated.
SLURM_TASKS=
QUEUED=0
IFS=, read -r -a DEVICE_LIST <<<"$DEVICES"
SLOT_PID=()
SLOT_NAME=()
SLOT_LOG=()
FAILED=()
STARTED=0
SKIPPED=0

# Collect the finished job of slot I.
reap_slot() {
    local i=$1 rc=0
    wait "${SLOT_PID[i]}" || rc=$?
    record_local_run "$(dirname "${SLOT_LOG[i]}")" "${SLOT_PID[i]}" "$rc"
    if ((rc)); then
        FAILED+=("${SLOT_NAME[i]} (exit $rc, log ${SLOT_LOG[i]})")
        echo "[gpu ${DEVICE_LIST[i]}] FAILED (exit $rc): ${SLOT_NAME[i]}; log: ${SLOT_LOG[i]}"
    else
        echo "[gpu ${DEVICE_LIST[i]}] done: ${SLOT_NAME[i]}"
    fi
    SLOT_PID[i]=
}

# Set FREE_SLOT to a device with no running job, waiting for one if needed.
wait_free_slot() {
    local i
    while true; do
        for i in "${!DEVICE_LIST[@]}"; do
            if [[ -z ${SLOT_PID[i]:-} ]]; then
                FREE_SLOT=$i
                return
            fi
            if ! kill -0 "${SLOT_PID[i]}" 2>/dev/null; then
                reap_slot "$i"
                FREE_SLOT=$i
                return
            fi
        done
        sleep 1
    done
}

stop_jobs() {
    local i
    for i in "${!DEVICE_LIST[@]}"; do
        if [[ -n ${SLOT_PID[i]:-} ]] && kill -0 "${SLOT_PID[i]}" 2>/dev/null; then
            echo "stopping ${SLOT_NAME[i]}" >&2
            kill -TERM "${SLOT_PID[i]}" 2>/dev/null
        fi
    done
    exit 130
}
trap stop_jobs INT TERM

# Print a command so that it can be pasted into a shell.
print_command() {
    local arg words=()
    for arg in "$@"; do
        if [[ $arg =~ ^[A-Za-z0-9_./:,+=@%-]+$ ]]; then
            words+=("$arg")
        elif [[ $arg != *"'"* ]]; then
            words+=("'$arg'")
        else
            words+=("$(printf '%q' "$arg")")
        fi
    done
    echo "${words[*]}"
}

# NAME LOG CMD...: run CMD in the foreground, or on the next free device
# (output to LOG), or only print it (DRY_RUN); with LAUNCHER=slurm, add it to
# the job array that summarize submits. A failure is recorded, not fatal.
submit() {
    local name=$1 log=$2 rc=0
    shift 2
    STARTED=$((STARTED + 1))
    if [[ $LAUNCHER == slurm ]]; then
        [[ -n $SLURM_TASKS ]] || SLURM_TASKS=$(mktemp "${TMPDIR:-/tmp}/adu_slurm_tasks.XXXXXX")
        printf '%s\0' "$name" "$log" "$#" "$@" >>"$SLURM_TASKS"
        return
    fi
    if dry_run; then
        print_command "$@"
        return
    fi
    mkdir -p "$(dirname "$log")"
    if ((${#DEVICE_LIST[@]} == 0)); then
        record_local_run "$(dirname "$log")" "$$"
        if [[ -n $QUIET && $QUIET != 0 ]]; then
            echo "run: $name (log: $log)"
            "$@" >"$log" 2>&1 || rc=$?
            ((rc == 0)) || tail -n 20 "$log" >&2
        else
            echo "run: $name"
            "$@" || rc=$?
        fi
        record_local_run "$(dirname "$log")" "$$" "$rc"
        ((rc == 0)) || FAILED+=("$name (exit $rc)")
        return
    fi
    wait_free_slot
    echo "[gpu ${DEVICE_LIST[FREE_SLOT]}] start: $name; log: $log"
    CUDA_VISIBLE_DEVICES=${DEVICE_LIST[FREE_SLOT]} "$@" >"$log" 2>&1 &
    SLOT_PID[FREE_SLOT]=$!
    record_local_run "$(dirname "$log")" "$!"
    SLOT_NAME[FREE_SLOT]=$name
    SLOT_LOG[FREE_SLOT]=$log
}

# Train and evaluate every seed of SEEDS with the current settings, each
# into its run folder, unless its results.json is complete and of the same
# config (results_exist). train.py exits 2
# on a problem the user must fix (missing data, a failed download, a bad
# setting): the other runs would only repeat it, so the script stops at the first.
train_seeds() {
    local seed dir cmd
    for seed in $SEEDS; do
        dir=$OUTPUT/$DATASET/${TRAINER}_$CFG_LABEL${TAG:+_$TAG}/forget_$FORGET_DIR/${SHOTS}shots/seed$seed
        cmd=("$PYTHON" "$REPO/train.py" --root "$DATA" --seed "$seed" --trainer "$TRAINER"
            --dataset-config-file "$DATASET_CFG" --config-file "$TRAINER_CFG"
            --output-dir "$dir" --forget-domains "$FORGET_ARG" DATASET.NUM_SHOTS "$SHOTS")
        [[ -z $TAG ]] || cmd+=(TEST.METHOD_TAG "$TRAINER-$TAG")
        if results_exist "$dir" "${cmd[@]}" "${OPTS[@]}"; then
            echo "skip: $dir (done: results.json of the same config)"
            SKIPPED=$((SKIPPED + 1))
            continue
        fi
        submit "$dir" "$dir/job.log" "${cmd[@]}" "${OPTS[@]}"
        if [[ " ${FAILED[*]-}" == *" (exit 2)"* || " ${FAILED[*]-}" == *" (exit 2, log "* ]]; then
            summarize "(stopped: train.py exited 2; fix the error above and run again)"
        fi
    done
}

# Submit the runs submit queued as one SLURM job array (DRY_RUN: print it).
submit_slurm_array() {
    local args=(submit --tasks "$SLURM_TASKS" --job-name "adu_${SCRIPT%.sh}"
        --domains "${DOMAINS[*]-}")
    ! dry_run || args+=(--dry-run)
    if LAUNCHER_CALLER=$SCRIPT PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" -m experiments.launch.slurm "${args[@]}"; then
        # Runs an earlier submission still has pending or running were left out.
        [[ ! -s $SLURM_TASKS.queued ]] || QUEUED=$(<"$SLURM_TASKS.queued")
        STARTED=$((STARTED - QUEUED))
    else
        FAILED+=("the SLURM submission of $STARTED run(s) (sbatch's reason above)")
    fi
    rm -f "$SLURM_TASKS" "$SLURM_TASKS.queued"
    SLURM_TASKS=
}

# [NOTE]: the end of every script: wait for every job and print a summary
# (NOTE appended to it); exit 1 when a run failed, else return 0.
summarize() {
    local i
    for i in "${!DEVICE_LIST[@]}"; do
        [[ -z ${SLOT_PID[i]:-} ]] || reap_slot "$i"
    done
    local verb=ran
    ! dry_run || verb="would run"
    if [[ $LAUNCHER == slurm ]]; then
        verb=submitted
        ! dry_run || verb="would be submitted"
        [[ -z $SLURM_TASKS ]] || submit_slurm_array
    fi
    local queued=
    ((QUEUED == 0)) || queued=", $QUEUED skipped (queued)"
    echo "$SCRIPT: $STARTED $verb, $SKIPPED skipped (done)$queued, ${#FAILED[@]} failed${1:+ $1}"
    if ((${#FAILED[@]})); then
        printf '  failed: %s\n' "${FAILED[@]}" >&2
        exit 1
    fi
}

# summarize, then exit unless the runs' table can be printed now (not in a
# dry run, nor while SLURM jobs may still be queued): for scripts that end
# with a table.
summarize_before_table() {
    summarize "$@"
    dry_run && exit 0
    if [[ $LAUNCHER == slurm ]]; then
        echo "the table: run this again once the jobs are done (bash scripts/adu/status.sh $OUTPUT)"
        exit 0
    fi
}

