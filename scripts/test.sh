#!/usr/bin/env bash
# Set everything up, then run the whole test suite (ngspice tests included, never skipped).
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
# The PyTorch importer is an optional extra.  Where a CPU wheel of torch lies in pip's
# find-links folder (this project's CI machines), install it and make its tests required;
# elsewhere they are skipped with a visible reason (PyPI alone would pull a multi-GB CUDA build).
links="${PIP_FIND_LINKS:-} $(.venv/bin/python -m pip config get global.find-links 2>/dev/null || true)"
for dir in $links; do
    for wheel in "$dir"/torch-*+cpu-*.whl; do
        [ -f "$wheel" ] || continue
        .venv/bin/python -c "import torch" 2>/dev/null || .venv/bin/python -m pip install -q "$wheel" || exit 1
        export RNN2SPICE_REQUIRE_TORCH=1
        break 2
    done
done
.venv/bin/python -m pytest "$@"
rc=$?
if [ $rc -eq 5 ]; then
    echo "error: pytest collected no tests" >&2
    exit 1
fi
exit $rc
