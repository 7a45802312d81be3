#!/usr/bin/env bash
# Create or update the project's virtual environment: PyTorch, Dassl and
# requirements.txt in .venv. `make demo`, `make test` and .ci/run call it.
#
#   bash scripts/setup_env.sh
#
# Dassl is not on PyPI: it is cloned from GitHub into .venv/src/Dassl.pytorch
# (or taken from there when already present). Where GitHub cannot be reached,
# the archive DASSL_TARBALL (default: ../shared/vendor/Dassl.pytorch-c61a1b5.tar.gz,
# the same code) is unpacked there instead; Dassl never goes into the project.
# Its source is fetched first, so that a machine without it fails at once,
# not after minutes of installing.
#
# Each install step leaves a stamp file in .venv recording what it installed:
# a second call installs nothing, and a step runs again only when its stamp
# is missing or differs (e.g. after requirements.txt changed). Delete .venv
# to start over.
#
# Settings (environment, all optional):
#   VENV           the environment folder                (default: .venv)
#   PYTHON3        the Python that creates it            (default: python3)
#   DASSL_TARBALL  Dassl archive for machines without GitHub (see above)
#   DASSL_URL      the Git repository of Dassl           (default: its GitHub)
#   GIT_TIMEOUT    seconds allowed for the clone         (default: 60)
#   TORCH_INDEX    pip index to install torch/torchvision from (default: PyPI,
#                  whose Linux x86 wheel is the CUDA build, torch 2.14.1+cu130,
#                  with its nvidia-* packages: a 6.1 GB .venv, GPU or not); the
#                  CPU-only build, without them: TORCH_INDEX=https://download.pytorch.org/whl/cpu
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PYTHON3=${PYTHON3:-python3}
DASSL_TARBALL=${DASSL_TARBALL:-../shared/vendor/Dassl.pytorch-c61a1b5.tar.gz}
GIT_TIMEOUT=${GIT_TIMEOUT:-60}
TORCH_INDEX=${TORCH_INDEX:-}
DASSL_URL=${DASSL_URL:-https://github.com/KaiyangZhou/Dassl.pytorch.git}
TORCH_PINS=(torch==2.14.1 torchvision==0.29.1)
# What Dassl imports (its own requirements file pins old linters: --no-deps).
DASSL_DEPS=(numpy 'setuptools<81' wilds tensorboard scipy scikit-learn)

die() {
    echo "setup_env.sh: error: $*" >&2
    exit 1
}

# STEP VALUE: true when the stamp of STEP records VALUE (the step is done).
done_already() {
    [[ -f $VENV/.stamp-$1 && $(cat "$VENV/.stamp-$1") == "$2" ]]
}

stamp() {
    echo "$2" >"$VENV/.stamp-$1"
}

# Dassl: a checkout already there, else a clone, else the archive.
DASSL_DIR=$VENV/src/Dassl.pytorch
if [[ ! -f $DASSL_DIR/setup.py ]]; then
    mkdir -p "$VENV/src"
    tmp=$(mktemp -d "$VENV/src/.dassl.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    bounded=()
    ! command -v timeout >/dev/null || bounded=(timeout "$GIT_TIMEOUT")
    echo "Cloning Dassl from $DASSL_URL"
    if GIT_TERMINAL_PROMPT=0 ${bounded[@]+"${bounded[@]}"} \
        git clone -q --depth 1 "$DASSL_URL" "$tmp/Dassl.pytorch" 2>"$tmp/git.log"; then
        mv "$tmp/Dassl.pytorch" "$DASSL_DIR"
    elif [[ -f $DASSL_TARBALL ]]; then
        echo "Cannot clone it ($(tail -n 1 "$tmp/git.log")); unpacking $DASSL_TARBALL"
        tar -xzf "$DASSL_TARBALL" -C "$tmp"
        [[ -f $tmp/Dassl.pytorch/setup.py ]] ||
            die "$DASSL_TARBALL holds no Dassl.pytorch/setup.py; use the archive named in docs/INSTALL.md"
        mv "$tmp/Dassl.pytorch" "$DASSL_DIR"
    else
        die "cannot get Dassl: cloning $DASSL_URL failed ($(tail -n 1 "$tmp/git.log")) and there is no archive at $DASSL_TARBALL; clone it into $DASSL_DIR, or set DASSL_TARBALL to a Dassl.pytorch .tar.gz, and run again"
    fi
    rm -rf "$tmp"
    trap - EXIT
fi
if [[ ! -x $VENV/bin/python ]]; then
    command -v "$PYTHON3" >/dev/null || die "$PYTHON3 not found; install Python 3 (3.10 or newer)"
    echo "Creating $VENV with $("$PYTHON3" --version 2>&1)"
    "$PYTHON3" -m venv "$VENV" ||
        die "'$PYTHON3 -m venv $VENV' failed; install the venv module (Debian/Ubuntu: apt install python3-venv)"
fi
PY=$VENV/bin/python
pip_install() {
    "$PY" -m pip install -q --disable-pip-version-check "$@"
}

# The stamp names the index too, so that another TORCH_INDEX installs again.
TORCH_BUILD="${TORCH_PINS[*]}${TORCH_INDEX:+ from $TORCH_INDEX}"
torch_index=()
[[ -z $TORCH_INDEX ]] || torch_index=(--index-url "$TORCH_INDEX")
if ! done_already torch "$TORCH_BUILD"; then
    if [[ -z $TORCH_INDEX ]]; then
        echo "Installing ${TORCH_PINS[*]} from PyPI (on Linux the CUDA build, a 6 GB .venv;" \
            "the CPU-only build: TORCH_INDEX=https://download.pytorch.org/whl/cpu, README 'Install')"
    else
        echo "Installing $TORCH_BUILD"
    fi
    pip_install ${torch_index[@]+"${torch_index[@]}"} "${TORCH_PINS[@]}"
    stamp torch "$TORCH_BUILD"
fi

REQUIREMENTS=$(cksum <requirements.txt)
if ! done_already requirements "$REQUIREMENTS"; then
    echo "Installing requirements.txt"
    pip_install -r requirements.txt
    stamp requirements "$REQUIREMENTS"
fi

DASSL_ABS=$(cd "$DASSL_DIR" && pwd)
if ! done_already dassl "$DASSL_ABS" || ! "$PY" -c "import dassl" 2>/dev/null; then
    echo "Installing Dassl from $DASSL_DIR"
    pip_install "${DASSL_DEPS[@]}"
    pip_install --no-deps --no-build-isolation -e "$DASSL_DIR"
    stamp dassl "$DASSL_ABS"
fi
