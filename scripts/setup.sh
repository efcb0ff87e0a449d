#!/usr/bin/env bash
# Set up a fresh Debian machine (as root) for rnn2spice: ngspice from apt, and a
# virtualenv in .venv with the package and its test extras.  Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
for pkg in ngspice libngspice0 libngspice0-dev; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test]"
echo "setup done: $(ngspice -v 2>/dev/null | grep -o 'ngspice-[0-9.]*' | head -1), $(.venv/bin/rnn2spice --version)"
