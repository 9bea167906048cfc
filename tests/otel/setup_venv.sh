#!/usr/bin/env bash
# Makes (or reuses) a Python venv holding the OpenTelemetry SDK pinned in
# requirements.txt beside this script, for tests/otel/agent.py.
#
#   tests/otel/setup_venv.sh VENV_DIR
#
# - Idempotent: a stamp file in the venv holds the sha256 of requirements.txt;
#   when it matches, nothing is installed and the script returns at once.
# - Safe to call from several processes at once: every caller takes an
#   exclusive flock on VENV_DIR.lock, so one installs and the rest wait, then
#   find the stamp.
# - stdout carries exactly one line, the venv's python (VENV_DIR/bin/python,
#   absolute); everything else (pip, progress, errors) goes to stderr.
#
# Exit codes: 0 ready; 2 usage or unusable VENV_DIR; 3 python3 (>= 3.10) or its
# venv module is missing (Debian: apt-get install python3-venv); 4 pip failed.
# PYTHON may name another interpreter to build the venv from (default python3).
set -euo pipefail

die() {
    local code=$1
    shift
    printf 'setup_venv.sh: %s\n' "$*" >&2
    exit "$code"
}

[[ $# -eq 1 && -n $1 ]] || die 2 "usage: $0 VENV_DIR"

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
req="$here/requirements.txt"
[[ -f $req ]] || die 2 "missing $req"

venv=${1%/}
[[ -n $venv ]] || die 2 "refusing to use / as VENV_DIR"
mkdir -p "$(dirname "$venv")"
venv="$(cd "$(dirname "$venv")" && pwd)/$(basename "$venv")"
stamp="$venv/.agentdeck-requirements.sha256"
python="$venv/bin/python"

want=$(sha256sum "$req")
want=${want%% *}

exec 9>"$venv.lock"
flock -x -w 900 9 || die 2 "timed out waiting for the lock $venv.lock"

# Fast path: a finished install of this very requirements file.
if [[ -x $python && -f $stamp && "$(<"$stamp")" == "$want" ]]; then
    printf '%s\n' "$python"
    exit 0
fi

py=${PYTHON:-python3}
need_venv_pkg="install Debian's python3-venv package (apt-get install -y python3-venv)"
command -v "$py" >/dev/null 2>&1 ||
    die 3 "$py not found: install Python 3.10 or newer (Debian: apt-get install -y python3 python3-venv)"
"$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' ||
    die 3 "$py is $("$py" -c 'import sys; print(sys.version.split()[0])') but the pinned OpenTelemetry SDK needs Python >= 3.10"
"$py" -c 'import venv, ensurepip' >/dev/null 2>&1 ||
    die 3 "$py has no working venv module (venv/ensurepip missing): $need_venv_pkg"

# From here on the venv is being changed: drop the stamp first, so that a
# failure anywhere below leaves a venv the next run reinstalls.
rm -f "$stamp"

if [[ -e $venv && ! -f $venv/pyvenv.cfg ]]; then
    if [[ -d $venv && -z "$(ls -A "$venv")" ]]; then
        : # an empty directory: fine to build in
    else
        die 2 "$venv exists and is not a venv; refusing to touch it"
    fi
fi

if [[ -f $venv/pyvenv.cfg ]] && ! "$python" -c 'import sys' >/dev/null 2>&1; then
    # A venv whose interpreter is gone (its base Python moved or was removed).
    echo "setup_venv.sh: $venv is broken, rebuilding it" >&2
    "$py" -m venv --clear "$venv" >&2 || die 3 "could not rebuild the venv $venv: $need_venv_pkg"
elif [[ ! -f $venv/pyvenv.cfg ]]; then
    echo "setup_venv.sh: creating $venv" >&2
    if ! "$py" -m venv "$venv" >&2; then
        rm -rf "$venv"
        die 3 "could not create the venv $venv: $need_venv_pkg"
    fi
fi

echo "setup_venv.sh: installing $req" >&2
"$python" -m pip install --disable-pip-version-check --no-input -q -r "$req" >&2 ||
    die 4 "pip install -r $req failed"

printf '%s\n' "$want" >"$stamp.tmp"
mv -f "$stamp.tmp" "$stamp"
printf '%s\n' "$python"
