#!/usr/bin/env bash
# Set everything up, then run the whole test suite (ngspice tests included, never skipped)
# with the default ngspice (46 on Debian 12), and the ngspice tests (-m ngspice) once more
# with ngspice 39 (unpacked by setup.sh into .venv/ngspice-39).  Arguments go to both runs;
# both must pass, and a run that collects no tests fails.  First, scripts/*.sh must be
# clean under shellcheck (installed by setup.sh); then the documentation site is built with
# `mkdocs build --strict` (it must build without a warning).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
bash scripts/setup.sh || exit 1
if ! command -v shellcheck >/dev/null 2>&1; then
    echo "error: shellcheck is not installed (scripts/setup.sh installs it)" >&2
    exit 1
fi
shellcheck scripts/*.sh .ci/run || { echo "error: shellcheck found problems in scripts/*.sh or .ci/run" >&2; exit 1; }
# The KiCad tests (-m kicad) are required like the ngspice ones: without kicad-cli they fail.
if ! command -v kicad-cli >/dev/null 2>&1; then
    echo "error: kicad-cli (KiCad 9) is not installed (scripts/setup.sh installs it)" >&2
    exit 1
fi
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

# The versions are this script's choice, not the caller's environment's.
unset RNN2SPICE_NGSPICE RNN2SPICE_LIBNGSPICE NGSPICE_LIBRARY_PATH RNN2SPICE_SOLVER

run_pytest() {  # pytest "$@", where "no tests ran" (exit status 5) is a failure
    .venv/bin/python -m pytest "$@"
    local rc=$?
    if [ $rc -eq 5 ]; then
        echo "error: pytest collected no tests" >&2
        return 1
    fi
    return $rc
}

# tests/test_versions.py checks that both backends run the version named here.
default=$(ngspice -v 2>/dev/null | grep -o 'ngspice-[0-9][0-9.]*' | head -1)
RNN2SPICE_EXPECT_NGSPICE=${default#ngspice-} run_pytest "$@"
rc=$?

old=.venv/ngspice-39
if [ -f "$old/.complete" ]; then
    # ngspice 39 as the default: first on PATH, and PySpice's library path.  (Not through
    # RNN2SPICE_NGSPICE / RNN2SPICE_LIBNGSPICE, which override what the tests of missing
    # or broken installations set up; tests/test_versions.py checks that route itself.)
    lib=""
    for lib in "$old"/usr/lib/*/libngspice.so.0; do break; done
    echo "--- ngspice tests again with ngspice 39 ($old)"
    PATH="$PWD/$old/bin:$PATH" NGSPICE_LIBRARY_PATH="$PWD/$lib" RNN2SPICE_EXPECT_NGSPICE=39 \
        run_pytest -m ngspice "$@"
    rc39=$?
    [ $rc -ne 0 ] || rc=$rc39
elif grep -q '^VERSION_CODENAME=bookworm' /etc/os-release 2>/dev/null; then
    echo "error: ngspice 39 is missing from $old (scripts/setup.sh unpacks it)" >&2
    rc=1
else
    echo "note: ngspice 39 is only kept on Debian 12; the tests ran with $default alone"
fi

# The documentation site: a broken link, a missing page or a failed docstring fails CI.  The
# build also runs the damped oscillator in ngspice to draw its figures (scripts/gen_docs.py).
echo "--- documentation: mkdocs build --strict"
site=$(mktemp -d)
if ! NO_MKDOCS_2_WARNING=1 DISABLE_MKDOCS_2_WARNING=true .venv/bin/python -m mkdocs build --strict --quiet \
        --site-dir "$site"; then
    echo "error: mkdocs build --strict failed" >&2
    rc=1
fi
rm -rf "$site"
exit $rc
