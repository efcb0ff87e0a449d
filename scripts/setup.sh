#!/usr/bin/env bash
# Set up a Debian/Ubuntu machine for rnn2spice: ngspice from apt, and a virtualenv in .venv
# with the package and its test and docs extras.  Safe to run again (it only changes what is missing),
# and quiet unless something goes wrong.
#
# On Debian 12 (bookworm) ngspice comes from bookworm-backports (46 and later: KLU solver,
# shared-library fixes); the apt source for it is derived from the machine's own Debian entry
# (same mirror).  The bookworm release's ngspice 39 is kept as well, unpacked (not installed)
# into .venv/ngspice-39, so that both versions can be tested; select it with
#     . .venv/ngspice-39/env        (sets RNN2SPICE_NGSPICE and RNN2SPICE_LIBNGSPICE)
# Elsewhere the distribution's ngspice is installed.
#
# Where it looks is overridable, for tests/test_setup_script.py only (which runs this script
# against shims of apt, dpkg and python): SETUP_OS_RELEASE (default /etc/os-release) and
# APT_ETC (default /etc/apt).
set -Eeuo pipefail
# Any failure ends the script with exactly one line saying what failed (set -e alone ends it
# silently): printed by the main shell only (a failing subshell or command substitution
# exits quietly and the main shell names the command that contained it); the command that
# `quietly` ran is named rather than quietly's own `return`.  Deliberate stops use fail().
failed_command=""
on_error() {
    local rc=$?
    [ "$BASH_SUBSHELL" -eq 0 ] || exit "$rc"
    echo "setup: failed (exit $rc) at scripts/setup.sh line $1: ${failed_command:-$2}" >&2
    exit "$rc"
}
trap 'on_error "$LINENO" "$BASH_COMMAND"' ERR
fail() {  # one line saying why, then exit 1 (exit does not run the ERR trap)
    echo "setup: $*" >&2
    exit 1
}
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SUDO=(); [ "$(id -u)" -eq 0 ] || SUDO=(sudo)
# env after sudo: sudo resets the environment, so a variable set before it would not reach apt-get
APT_GET=("${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -y -qq -o Dpkg::Use-Pty=0)
PKGS=(ngspice libngspice0 libngspice0-dev)
WANT_MAJOR=46            # lowest ngspice accepted from bookworm-backports
OLD_PREFIX="$ROOT/.venv/ngspice-39"
APT_ETC=${APT_ETC:-/etc/apt}

# shellcheck source=/dev/null
. "${SETUP_OS_RELEASE:-/etc/os-release}" 2>/dev/null || true
codename=${VERSION_CODENAME:-}
quietly() {  # run "$@"; its output is shown only when it fails
    local log rc=0
    # on a terminal, say what is running: installs take minutes and print nothing otherwise
    if [ -t 2 ]; then echo "setup: running $* ..." >&2; fi
    log=$(mktemp)
    "$@" >"$log" 2>&1 || rc=$?
    [ $rc -eq 0 ] || { cat "$log" >&2; failed_command="$*"; }
    rm -f "$log"
    return $rc
}
updated=0
apt_update() {
    [ $updated -eq 1 ] && return 0
    quietly "${SUDO[@]}" apt-get update -qq
    updated=1
}

installed_version() {  # the installed version of package $1, or nothing (never fails:
    # dpkg-query exits 1 for a package it has never seen, which under pipefail would end the script)
    { dpkg-query -W -f='${db:Status-Abbrev} ${Version}\n' "$1" 2>/dev/null || true; } | awk '$1 == "ii" {print $2}'
}

# Writes the deb822 source for ${codename}-backports, derived from the first active entry
# for ${codename} in /etc/apt/sources.list or /etc/apt/sources.list.d/* (URI, components,
# Signed-By); prints nothing and returns 1 when there is no such entry.
backports_source() {
    python3 - "$codename" "$APT_ETC" <<'EOF'
import glob, re, sys
codename, etc = sys.argv[1], sys.argv[2]
entries = []  # (uri, components, signed_by)
for path in [f"{etc}/sources.list", *sorted(glob.glob(f"{etc}/sources.list.d/*.list"))]:
    try:
        lines = open(path, encoding="utf-8", errors="replace").read().splitlines()
    except OSError:
        continue
    for line in lines:
        line = line.split("#", 1)[0].strip()
        m = re.match(r"deb\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)\s+(.*)", line)
        if m and m.group(3) in (codename, codename + "-backports"):
            signed = re.search(r"signed-by=(\S+)", m.group(1) or "")
            entries.append((m.group(2), m.group(4).split(), signed.group(1) if signed else None, m.group(3)))
for path in sorted(glob.glob(f"{etc}/sources.list.d/*.sources")):
    try:
        text = open(path, encoding="utf-8", errors="replace").read()
    except OSError:
        continue
    for stanza in re.split(r"\n\s*\n", text):
        fields, key = {}, None
        for line in stanza.splitlines():
            if line.startswith("#"):
                continue
            if line[:1] in (" ", "\t") and key:
                fields[key] += "\n" + line.strip()
            elif ":" in line:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                fields[key] = value.strip()
        if fields.get("enabled", "yes").lower() == "no" or "deb" not in fields.get("types", "").split():
            continue
        suites = fields.get("suites", "").split()
        for suite in (codename, codename + "-backports"):
            if suite in suites and fields.get("uris"):
                signed = fields.get("signed-by", "")
                entries.append((fields["uris"].split()[0], fields.get("components", "main").split(),
                                signed if signed and "\n" not in signed else None, suite))
if any(suite.endswith("-backports") for *_, suite in entries):
    print("present")
    sys.exit(0)
for uri, components, signed, suite in entries:
    if "security" in uri:
        continue
    print("Types: deb")
    print(f"URIs: {uri}")
    print(f"Suites: {codename}-backports")
    print(f"Components: {' '.join(components)}")
    if signed:
        print(f"Signed-By: {signed}")
    sys.exit(0)
sys.exit(1)
EOF
}

install_distribution_ngspice() {
    local need=()
    for pkg in "${PKGS[@]}"; do
        [ -n "$(installed_version "$pkg")" ] || need+=("$pkg")
    done
    if [ ${#need[@]} -gt 0 ]; then
        apt_update
        quietly "${APT_GET[@]}" install "${need[@]}"
    fi
}

# ngspice >= $WANT_MAJOR from bookworm-backports (all three packages at the same version).
install_backports_ngspice() {
    local pkg current ok=1
    current=$(installed_version ngspice)
    for pkg in "${PKGS[@]}"; do
        [ "$(installed_version "$pkg")" = "$current" ] || ok=0
    done
    if [ $ok -eq 1 ] && dpkg --compare-versions "${current:-0}" ge "$WANT_MAJOR"; then
        return 0
    fi
    local source file="$APT_ETC/sources.list.d/rnn2spice-backports.sources"
    if ! source=$(backports_source); then
        fail "no apt source entry for $codename found in $APT_ETC; cannot add $codename-backports"
    fi
    if [ "$source" != "present" ] && { [ ! -f "$file" ] || [ "$(cat "$file")" != "$source" ]; }; then
        echo "$source" | "${SUDO[@]}" tee "$file" >/dev/null
    fi
    apt_update
    quietly "${APT_GET[@]}" install -t "$codename-backports" "${PKGS[@]}"
    current=$(installed_version ngspice)
    if dpkg --compare-versions "${current:-0}" lt "$WANT_MAJOR"; then
        fail "$codename-backports gave ngspice ${current:-nothing}, need >= $WANT_MAJOR"
    fi
}

# ngspice 39 (the bookworm release) unpacked into $OLD_PREFIX, with the libraries its binary
# needs that are not installed, a wrapper that runs it against them, and an env file.
unpack_ngspice_39() {
    local stamp="$OLD_PREFIX/.complete" version
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$OLD_PREFIX" ] \
        && "$OLD_PREFIX/bin/ngspice" -v 2>/dev/null | grep -q 'ngspice-39'; then
        return 0
    fi
    version=$({ apt-cache madison ngspice 2>/dev/null || true; } | awk -F'|' '$2 ~ /^ *39[.+]/ {gsub(/ /, "", $2); print $2; exit}')
    if [ -z "$version" ]; then
        apt_update
        version=$({ apt-cache madison ngspice || true; } | awk -F'|' '$2 ~ /^ *39[.+]/ {gsub(/ /, "", $2); print $2; exit}')
    fi
    [ -n "$version" ] || fail "apt knows no ngspice 39 for $codename"
    local tmp; tmp=$(mktemp -d)
    chmod 755 "$tmp"; chown _apt "$tmp" 2>/dev/null || true  # apt downloads as user _apt
    # The libraries ngspice 39 links against that are not installed (after the upgrade).
    local deps=() dep
    for dep in $(apt-cache depends "ngspice=$version" "libngspice0=$version" 2>/dev/null \
                 | awk '$1 == "Depends:" && $2 ~ /^lib/ {print $2}' | sort -u); do
        [ -n "$(installed_version "$dep")" ] || deps+=("$dep")
    done
    (cd "$tmp" && quietly apt-get download -qq "ngspice=$version" "libngspice0=$version" "${deps[@]}")
    rm -rf "$OLD_PREFIX"
    mkdir -p "$OLD_PREFIX"
    for deb in "$tmp"/*.deb; do dpkg -x "$deb" "$OLD_PREFIX"; done
    rm -rf "$tmp"
    rm -rf "$OLD_PREFIX/usr/share/doc" "$OLD_PREFIX/usr/share/man" "$OLD_PREFIX/usr/share/info"
    local libdir; libdir=$(dirname "$(find "$OLD_PREFIX" -name 'libngspice.so.0' | head -1)")
    # spinit names its code models by absolute path: point it at the unpacked ones.
    # (python, not sed: the prefix is data and may hold sed's special characters, & and #)
    python3 - "$OLD_PREFIX/usr/share/ngspice/scripts/spinit" "$OLD_PREFIX" <<'EOF'
import sys
path, prefix = sys.argv[1], sys.argv[2]
with open(path, encoding="utf-8", errors="surrogateescape") as fh:
    text = fh.read()
with open(path, "w", encoding="utf-8", errors="surrogateescape") as fh:
    fh.write(text.replace("/usr/lib/", prefix + "/usr/lib/"))
EOF
    mkdir -p "$OLD_PREFIX/bin"
    cat >"$OLD_PREFIX/bin/ngspice" <<EOF
#!/bin/sh
# ngspice $version unpacked by scripts/setup.sh: its libraries, scripts and code models.
export LD_LIBRARY_PATH="$libdir:$OLD_PREFIX/lib/$(basename "$libdir")\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
export SPICE_LIB_DIR="$OLD_PREFIX/usr/share/ngspice"
export SPICE_SCRIPTS="$OLD_PREFIX/usr/share/ngspice/scripts"
exec "$OLD_PREFIX/usr/bin/ngspice" "\$@"
EOF
    chmod 755 "$OLD_PREFIX/bin/ngspice"
    cat >"$OLD_PREFIX/env" <<EOF
# . this file to make rnn2spice use ngspice $version (both backends)
export RNN2SPICE_NGSPICE="$OLD_PREFIX/bin/ngspice"
export RNN2SPICE_LIBNGSPICE="$libdir/libngspice.so.0"
EOF
    if ! "$OLD_PREFIX/bin/ngspice" -v 2>/dev/null | grep -q 'ngspice-39'; then
        fail "the unpacked ngspice $version does not run: $("$OLD_PREFIX/bin/ngspice" -v 2>&1 | head -c 300 | tr '\n' ' ')"
    fi
    echo "$OLD_PREFIX" >"$stamp"
}

# The shell linter (scripts/test.sh checks scripts/*.sh with it), from the distribution.
install_shellcheck() {
    command -v shellcheck >/dev/null 2>&1 && return 0
    apt_update
    quietly "${APT_GET[@]}" install shellcheck
}

# KiCad 9 (its command line checks the schematics `rnn2spice kicad` writes: tests/test_kicad.py),
# only when kicad-cli is missing or older; on Debian 12 from bookworm-backports (the apt source
# install_backports_ngspice adds, run first), elsewhere the distribution's.  No recommends:
# ~120 MB instead of GBs of libraries and 3D models.
KICAD_MAJOR=9
kicad_major() {  # kicad-cli's major version, or nothing (never fails: without kicad-cli grep
    # finds nothing and exits 1, which under pipefail would end the script on a fresh machine)
    { kicad-cli version 2>/dev/null || true; } | { grep -oE '^[0-9]+' || true; } | head -1
}
install_kicad() {
    local have target=()
    have=$(kicad_major)
    [ -n "$have" ] && [ "$have" -ge "$KICAD_MAJOR" ] && return 0
    if [ "${ID:-}" = "debian" ] && [ "$codename" = "bookworm" ]; then
        target=(-t "$codename-backports")
    fi
    apt_update
    quietly "${APT_GET[@]}" install "${target[@]}" --no-install-recommends kicad
    have=$(kicad_major)
    if [ -z "$have" ] || [ "$have" -lt "$KICAD_MAJOR" ]; then
        fail "apt gave kicad-cli ${have:-nothing}, need KiCad >= $KICAD_MAJOR"
    fi
}

if [ "${ID:-}" = "debian" ] && [ "$codename" = "bookworm" ]; then
    install_backports_ngspice
else
    install_distribution_ngspice
fi
install_shellcheck
install_kicad

# `python3 -m venv` needs ensurepip, which Debian and Ubuntu ship apart from python3, in
# python3-venv (not on Debian 12's cloud images).
install_python_venv() {
    [ -n "$(installed_version python3-venv)" ] && return 0
    apt_update
    quietly "${APT_GET[@]}" install python3-venv
}
install_python_venv

PY=${PYTHON:-python3}
# A virtualenv left by a failed run (python there, pip missing or broken) is made again.
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -m pip --version >/dev/null 2>&1; then
    quietly "$PY" -m venv --clear .venv
fi
quietly .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test,docs]"
if [ "$codename" = "bookworm" ]; then
    unpack_ngspice_39
fi
echo "setup done: $(.venv/bin/rnn2spice --version)$([ -x "$OLD_PREFIX/bin/ngspice" ] && echo "; ngspice 39 in .venv/ngspice-39"); KiCad $(kicad-cli version)"
