#!/usr/bin/env bash
# Set everything up, then run the whole test suite (ngspice tests included, never skipped).
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
.venv/bin/python -m pytest "$@"
rc=$?
if [ $rc -eq 5 ]; then
    echo "error: pytest collected no tests" >&2
    exit 1
fi
exit $rc
