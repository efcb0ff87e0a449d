"""scripts/setup.sh and scripts/test.sh from a machine with nothing installed (issue 19).

The scripts run for real (bash, awk, sed, python3 for the apt source), in a copy of the
repository's scripts, with a PATH that holds only a handful of base tools and shims of the
package system: ``dpkg-query`` knows only what the fake ``apt-get`` installed (so at the start
it exits 1 for every package, like a fresh machine), ``apt-get`` / ``apt-cache`` / ``dpkg -x``
record their calls and act on a small state directory, and the python that makes the
virtualenv makes one whose ``python`` records its calls.  Installing a package through the fake
apt puts its commands (``ngspice``, ``shellcheck``) on the PATH, as the real one would.

Checked: the set-up reaches the virtualenv and the end on Debian 12 (backports route and the
unpacked ngspice 39) and elsewhere (the distribution's ngspice), asks apt for exactly the
right packages, changes nothing on a second run, and any failure of any step ends with
exactly one line from the script naming what failed; test.sh runs shellcheck (and fails on
its findings) before running pytest with each ngspice.
"""

from __future__ import annotations

import os
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BASE_TOOLS = ("bash", "sh", "env", "id", "mktemp", "cat", "rm", "mkdir", "chmod", "chown", "find", "head",
              "dirname", "basename", "tee", "awk", "sed", "grep", "sort", "tr", "python3", "cp", "ls")
BACKPORTS = "46.0+ds-1~bpo12+1"
RELEASE = "39.0+ds-1"

pytestmark = pytest.mark.skipif(shutil.which("dpkg") is None, reason="dpkg --compare-versions is used as is")

# Every shim appends one line "<name> <args>" to $SHIM_LOG, and fails (exit 100, apt's way)
# when $SHIM_FAIL names it ("apt-get install", "apt-get update", "venv", ...).
_COMMON = r'''#!/bin/bash
log() { printf '%s\n' "$*" >>"$SHIM_LOG"; }
fails() { case " $SHIM_FAIL " in *" $1 "*) return 0 ;; esac; return 1; }
'''

SHIMS = {
    "dpkg-query": _COMMON + r'''
pkg=${!#}
line=$(awk -v p="$pkg" '$1 == p {l = $0} END {print l}' "$SHIM_STATE/installed" 2>/dev/null)
if [ -z "$line" ]; then echo "dpkg-query: no packages found matching $pkg" >&2; exit 1; fi
echo "ii  ${line#* }"
''',
    "apt-get": _COMMON + r'''
log "apt-get $*"
args=() target=""
while [ $# -gt 0 ]; do
    case $1 in
        -o) shift 2; continue ;;
        -t) target=$2; shift 2; continue ;;
        -*) shift; continue ;;
    esac
    args+=("$1"); shift
done
verb=${args[0]}
[ "$verb" = install ] && log "frontend ${DEBIAN_FRONTEND:-unset}"
if fails "apt-get:$verb"; then echo "E: Unable to locate package ${args[1]:-}" >&2; exit 100; fi
case $verb in
    install)
        version=$RELEASE_VERSION
        case $target in *-backports) version=${SHIM_BACKPORTS_VERSION:-$BACKPORTS_VERSION} ;; esac
        for pkg in "${args[@]:1}"; do
            echo "$pkg $version" >>"$SHIM_STATE/installed"
            case $pkg in
                ngspice) printf '#!/bin/sh\necho "******  ngspice-%s : Circuit level simulation program"\n' \
                             "${version%%.*}" >"$SHIM_BIN/ngspice"; chmod 755 "$SHIM_BIN/ngspice" ;;
                kicad) printf '#!/bin/sh\necho "9.0.2"\n' >"$SHIM_BIN/kicad-cli"; chmod 755 "$SHIM_BIN/kicad-cli" ;;
                shellcheck) printf '#!/bin/sh\necho "shellcheck $*" >>"$SHIM_LOG"\ncase " $SHIM_FAIL " in *" shellcheck "*) echo "SC2086 finding"; exit 1 ;; esac\n' \
                             >"$SHIM_BIN/shellcheck"; chmod 755 "$SHIM_BIN/shellcheck" ;;
            esac
        done ;;
    download)
        for spec in "${args[@]:1}"; do
            name=${spec%%=*}; v=${spec#*=}; [ "$v" = "$spec" ] && v=1.0
            echo "$name" >"./${name}_${v}_amd64.deb"
        done ;;
esac
''',
    "apt-cache": _COMMON + r'''
log "apt-cache $*"
case $1 in
    madison)
        fails "apt-cache:madison" && exit 0
        echo "   ngspice | $BACKPORTS_VERSION | http://deb.debian.org/debian bookworm-backports/main amd64 Packages"
        echo "   ngspice | $RELEASE_VERSION | http://deb.debian.org/debian bookworm/main amd64 Packages" ;;
    depends)
        echo "ngspice"; echo "  Depends: libngspice0"; echo "  Depends: libreadline8"; echo "  Depends: libc6" ;;
esac
''',
    # dpkg: --compare-versions by the real one, -x unpacks a stand-in ngspice 39
    "dpkg": _COMMON + r'''
if [ "$1" = "--compare-versions" ]; then exec "$REAL_DPKG" "$@"; fi
log "dpkg $*"
if [ "$1" = "-x" ]; then
    case $(cat "$2") in
        ngspice)
            mkdir -p "$3/usr/bin" "$3/usr/share/ngspice/scripts"
            printf '#!/bin/sh\necho "******  ngspice-39 : Circuit level simulation program"\n' >"$3/usr/bin/ngspice"
            chmod 755 "$3/usr/bin/ngspice"
            echo "codemodel /usr/lib/x86_64-linux-gnu/ngspice/analog.cm" >"$3/usr/share/ngspice/scripts/spinit" ;;
        libngspice0)
            mkdir -p "$3/usr/lib/x86_64-linux-gnu"; : >"$3/usr/lib/x86_64-linux-gnu/libngspice.so.0" ;;
    esac
fi
''',
    # sudo resets the environment (env_reset): a variable set before it does not reach the command
    "sudo": _COMMON + 'unset DEBIAN_FRONTEND\nexec "$@"\n',
    # the python that makes the virtualenv (setup.sh's $PYTHON)
    "python-for-venv": _COMMON + r'''
log "python $*"
if [ "$1 $2" = "-m venv" ]; then
    if fails venv; then echo "Error: ensurepip is not available" >&2; exit 1; fi
    dir=${!#}
    [ "$3" = "--clear" ] && rm -rf "${dir:?}"/*
    mkdir -p "$dir/bin"
    cp "$SHIM_DIR/venv-python" "$dir/bin/python"
    printf '#!/bin/sh\necho "rnn2spice 9.9"\n' >"$dir/bin/rnn2spice"
    chmod 755 "$dir/bin/python" "$dir/bin/rnn2spice"
fi
''',
    "venv-python": _COMMON + r'''
log "venv-python $*"
case "$1 $2" in
    "-m pip")
        [ "$3" = "config" ] && exit 1
        if fails pip; then echo "ERROR: No matching distribution found for numpy" >&2; exit 1; fi ;;
    "-m pytest")
        log "pytest EXPECT=${RNN2SPICE_EXPECT_NGSPICE:-} ngspice=$(command -v ngspice) $(ngspice -v)" ;;
    "-c import torch") exit 1 ;;
esac
''',
}


class Machine:
    """A temporary copy of the scripts and a fake package system (module docstring)."""

    def __init__(self, tmp: Path, *, os_id: str = "debian", codename: str = "bookworm", sources: str | None = None):
        self.repo = tmp / "repo"
        (self.repo / "scripts").mkdir(parents=True)
        (self.repo / ".ci").mkdir()
        for name in ("setup.sh", "test.sh", "demo.sh"):
            shutil.copy(ROOT / "scripts" / name, self.repo / "scripts" / name)
        shutil.copy(ROOT / ".ci" / "run", self.repo / ".ci" / "run")
        self.shims, self.bin, self.state = tmp / "shims", tmp / "installed-bin", tmp / "state"
        self.base = tmp / "base"
        for d in (self.shims, self.bin, self.state, self.base):
            d.mkdir()
        for tool in BASE_TOOLS:
            # python3: this interpreter (a PATH entry may be a wrapper that needs its own PATH)
            found = sys.executable if tool == "python3" else shutil.which(tool)
            assert found, f"base tool {tool} missing"
            (self.base / tool).symlink_to(found)
        for name, text in SHIMS.items():
            path = self.shims / name
            path.write_text(text)
            path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        (self.state / "installed").write_text("libc6 2.36-9\n")  # a fresh Debian has its C library
        self.etc = tmp / "etc-apt"
        (self.etc / "sources.list.d").mkdir(parents=True)
        (self.etc / "sources.list").write_text(
            sources if sources is not None else "deb http://deb.debian.org/debian bookworm main\n"
            "deb http://security.debian.org/debian-security bookworm-security main\n")
        self.os_release = tmp / "os-release"
        self.os_release.write_text(f"ID={os_id}\nVERSION_CODENAME={codename}\n")
        self.log = tmp / "calls.log"
        self.log.touch()

    def run(self, script: str, *args: str, fail: str = "", **env) -> subprocess.CompletedProcess:
        path = os.pathsep.join(str(d) for d in (self.shims, self.bin, self.base))
        full = {"PATH": path, "HOME": str(self.repo), "SHIM_LOG": str(self.log), "SHIM_STATE": str(self.state),
                "SHIM_BIN": str(self.bin), "SHIM_DIR": str(self.shims), "SHIM_FAIL": fail,
                "REAL_DPKG": shutil.which("dpkg"), "BACKPORTS_VERSION": BACKPORTS, "RELEASE_VERSION": RELEASE,
                "PYTHON": str(self.shims / "python-for-venv"), "APT_ETC": str(self.etc),
                "SETUP_OS_RELEASE": str(self.os_release), **env}
        return subprocess.run(["bash", str(self.repo / "scripts" / script), *args], env=full, capture_output=True,
                              text=True, timeout=60)

    def calls(self, prefix: str = "") -> list[str]:
        return [line for line in self.log.read_text().splitlines() if line.startswith(prefix)]

    def installs(self) -> list[list[str]]:
        """The package lists of every ``apt-get install`` (options dropped, -t kept as '-t X')."""
        out = []
        for line in self.calls("apt-get "):
            words = shlex.split(line)[1:]
            if "install" not in words:
                continue
            target = words[words.index("-t") + 1] if "-t" in words else None
            pkgs = words[words.index("install") + 1:]
            if "-t" in pkgs:
                i = pkgs.index("-t")
                pkgs = pkgs[:i] + pkgs[i + 2:]
            out.append(([f"-t {target}"] if target else []) + pkgs)
        return out


def one_setup_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("setup:")]
    assert len(lines) == 1, stderr
    assert stderr.rstrip("\n").splitlines()[-1] == lines[0], stderr  # the last word is the script's
    return lines[0]


def test_setup_from_nothing_on_debian_12_reaches_the_virtualenv_and_the_end(tmp_path):
    m = Machine(tmp_path)
    done = m.run("setup.sh")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout == "setup done: rnn2spice 9.9; ngspice 39 in .venv/ngspice-39; KiCad 9.0.2\n"
    assert m.installs() == [["-t bookworm-backports", "ngspice", "libngspice0", "libngspice0-dev"], ["shellcheck"],
                            ["-t bookworm-backports", "--no-install-recommends", "kicad"], ["python3-venv"]]
    assert m.calls("apt-get update") == ["apt-get update -qq"]  # once, however many installs
    source = (m.etc / "sources.list.d" / "rnn2spice-backports.sources").read_text()
    assert "URIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main" in source
    assert "security" not in source
    assert m.calls("python ") == ["python -m venv --clear .venv"]
    assert m.calls("venv-python -m pip install") == [
        "venv-python -m pip install -q --disable-pip-version-check -e .[test,docs]"]
    # ngspice 39 with the library it needs that is not installed (libc6 is)
    (download,) = m.calls("apt-get download")
    assert shlex.split(download)[-3:] == [f"ngspice={RELEASE}", f"libngspice0={RELEASE}", "libreadline8"]
    old = m.repo / ".venv" / "ngspice-39"
    assert (old / ".complete").read_text().strip() == str(old)
    assert f"{old}/usr/lib/" in (old / "usr/share/ngspice/scripts/spinit").read_text()
    env = (old / "env").read_text()
    assert f'RNN2SPICE_NGSPICE="{old}/bin/ngspice"' in env and "libngspice.so.0" in env

    # a second run changes nothing and asks apt for nothing
    before = len(m.calls())
    again = m.run("setup.sh")
    assert again.returncode == 0 and again.stdout == done.stdout, again.stderr
    assert [c for c in m.calls()[before:] if not c.startswith("venv-python")] == []


def test_setup_elsewhere_installs_the_distribution_ngspice(tmp_path):
    m = Machine(tmp_path, os_id="ubuntu", codename="noble")
    done = m.run("setup.sh")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "setup done: rnn2spice 9.9; KiCad 9.0.2\n"
    assert m.installs() == [["ngspice", "libngspice0", "libngspice0-dev"], ["shellcheck"],
                            ["--no-install-recommends", "kicad"], ["python3-venv"]]
    assert m.calls("apt-get download") == [] and not (m.repo / ".venv" / "ngspice-39").exists()
    assert not (m.etc / "sources.list.d" / "rnn2spice-backports.sources").exists()


def test_setup_installs_only_what_is_missing(tmp_path):
    m = Machine(tmp_path, os_id="ubuntu", codename="noble")
    with open(m.state / "installed", "a") as fh:
        fh.write("ngspice 42\nlibngspice0 42\n")
    assert m.run("setup.sh").returncode == 0
    assert m.installs() == [["libngspice0-dev"], ["shellcheck"], ["--no-install-recommends", "kicad"],
                            ["python3-venv"]]


# (what fails, the fragment of the one line that names it)
FAILURES = [
    ("apt-get:update", "apt-get update"),
    ("apt-get:install", "apt-get -y -qq -o Dpkg::Use-Pty=0 install -t bookworm-backports ngspice"),
    ("apt-get:download", "apt-get download"),
    ("apt-cache:madison", "apt knows no ngspice 39 for bookworm"),
    ("venv", "-m venv --clear .venv"),
    ("pip", "pip install -q --disable-pip-version-check -e .[test,docs]"),
]


@pytest.mark.parametrize("fail,named", FAILURES, ids=[f for f, _ in FAILURES])
def test_every_failing_step_ends_with_one_line_naming_it(tmp_path, fail, named):
    m = Machine(tmp_path)
    done = m.run("setup.sh", fail=fail)
    assert done.returncode != 0
    line = one_setup_line(done.stderr)
    assert named in line, line
    assert done.stdout == ""


def test_no_apt_source_and_too_old_backports_are_one_line_each(tmp_path):
    m = Machine(tmp_path / "a", sources="")
    done = m.run("setup.sh")
    assert done.returncode == 1
    assert "no apt source entry for bookworm" in one_setup_line(done.stderr)
    m = Machine(tmp_path / "b")
    done = m.run("setup.sh", SHIM_BACKPORTS_VERSION="45.2+ds-1~bpo12+1")
    assert done.returncode == 1
    assert one_setup_line(done.stderr) == "setup: bookworm-backports gave ngspice 45.2+ds-1~bpo12+1, need >= 46"


def test_test_script_from_nothing_runs_shellcheck_then_pytest_with_both_ngspice(tmp_path):
    m = Machine(tmp_path)
    done = m.run("test.sh", "-q")
    assert done.returncode == 0, done.stdout + done.stderr
    assert m.calls("shellcheck") == ["shellcheck scripts/demo.sh scripts/setup.sh scripts/test.sh .ci/run"]
    pytests = m.calls("pytest ")
    assert len(pytests) == 2, m.calls()
    assert pytests[0].startswith(f"pytest EXPECT=46 ngspice={m.bin}/ngspice") and "ngspice-46" in pytests[0]
    assert pytests[1].startswith(f"pytest EXPECT=39 ngspice={m.repo}/.venv/ngspice-39/bin/ngspice")
    assert m.calls("venv-python -m pytest") == ["venv-python -m pytest -q", "venv-python -m pytest -m ngspice -q"]


def test_test_script_fails_on_shellcheck_findings_before_any_test(tmp_path):
    m = Machine(tmp_path)
    done = m.run("test.sh", "-q", fail="shellcheck")
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == "error: shellcheck found problems in scripts/*.sh or .ci/run"
    assert m.calls("venv-python -m pytest") == []


def test_test_script_stops_when_setup_fails(tmp_path):
    m = Machine(tmp_path)
    done = m.run("test.sh", fail="pip")
    assert done.returncode == 1
    assert "pip install" in one_setup_line(done.stderr)
    assert m.calls("venv-python -m pytest") == [] and m.calls("shellcheck") == []


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck not installed (scripts/setup.sh installs it)")
def test_the_scripts_are_shellcheck_clean():
    done = subprocess.run(["shellcheck", *sorted(str(p) for p in (ROOT / "scripts").glob("*.sh")),
                           str(ROOT / ".ci" / "run")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout


def test_apt_runs_noninteractive_under_sudo(tmp_path):
    """sudo resets the environment: DEBIAN_FRONTEND must be set after it (sudo env VAR=... apt-get)."""
    m = Machine(tmp_path)
    shim = m.base / "id"  # not root, so the script goes through (the shim of) sudo
    shim.unlink()
    shim.write_text('#!/bin/sh\necho 1000\n')
    shim.chmod(0o755)
    assert m.run("setup.sh").returncode == 0
    assert m.calls("frontend ") == ["frontend noninteractive"] * 4


def test_python3_venv_already_installed_is_not_asked_for(tmp_path):
    m = Machine(tmp_path, os_id="ubuntu", codename="noble")
    with open(m.state / "installed", "a") as fh:
        fh.write("python3-venv 3.11.2-1+b1\n")
    assert m.run("setup.sh").returncode == 0
    assert ["python3-venv"] not in m.installs()


def test_a_partial_virtualenv_from_a_failed_run_is_made_again(tmp_path):
    m = Machine(tmp_path)
    venv_bin = m.repo / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    # what `python3 -m venv` leaves when ensurepip is missing: a python without pip
    (venv_bin / "python").write_text('#!/bin/sh\necho "No module named pip" >&2; exit 1\n')
    (venv_bin / "python").chmod(0o755)
    done = m.run("setup.sh")
    assert done.returncode == 0, done.stderr
    assert m.calls("python ") == ["python -m venv --clear .venv"]
    assert m.calls("venv-python -m pip install") == [
        "venv-python -m pip install -q --disable-pip-version-check -e .[test,docs]"]
    # and a sound one is kept
    before = len(m.calls("python "))
    assert m.run("setup.sh").returncode == 0
    assert len(m.calls("python ")) == before


def test_a_repository_path_with_sed_specials_is_written_verbatim(tmp_path):
    m = Machine(tmp_path / "a&b#c\\d")
    done = m.run("setup.sh")
    assert done.returncode == 0, done.stderr
    old = m.repo / ".venv" / "ngspice-39"
    assert (old / "usr/share/ngspice/scripts/spinit").read_text() == \
        f"codemodel {old}/usr/lib/x86_64-linux-gnu/ngspice/analog.cm\n"
