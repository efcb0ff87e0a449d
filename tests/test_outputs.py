"""Nothing destroyed: what an output path names decides how it is written (issue 9).

Devices, FIFOs and open descriptors (``/dev/fd/1``) are written through, a symbolic link's file is replaced (the link stays),
dangling links, block devices and files with several hard links are refused, an output is
never an input of the same run or another output, an existing file keeps its mode and
owner, a new one follows the umask, and ``import`` does not overwrite an unrelated NPZ.
Every refusal here happens before any work, so no test needs ngspice.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from rnn2spice.cli.app import main
from rnn2spice.errors import OutputError
from rnn2spice.report.files import write_atomic
from rnn2spice.workflows.importers import INLINE_MAX_NEURONS, import_model

from conftest import GOOD_SPEC, earlier_output

OLD = b"old content\n"
ROOT = os.geteuid() == 0


def run(argv, capsys) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


@pytest.fixture
def spec(tmp_path) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(GOOD_SPEC))
    return path


@pytest.fixture
def matrix_spec(tmp_path) -> Path:
    """A spec whose w comes from w.npy and whose input is a CSV waveform."""
    np.save(tmp_path / "w.npy", np.array(GOOD_SPEC["w"]))
    (tmp_path / "u.csv").write_text("t,v\n0,0\n1e-3,1\n5e-3,1\n")
    path = tmp_path / "mspec.yaml"
    path.write_text(yaml.safe_dump({**GOOD_SPEC, "w": {"file": "w.npy"}, "inputs": [{"kind": "file", "path": "u.csv"}]}))
    return path


def make_device(path: Path, kind: int, device: tuple[int, int]) -> Path:
    try:
        os.mknod(path, kind | 0o666, os.makedev(*device))
    except PermissionError:
        pytest.skip("creating a device node needs root (CAP_MKNOD)")
    return path


# --------------------------------------------------------------------------- non-regular targets

def test_null_device_is_written_through_not_replaced(tmp_path, spec, capsys):
    """A /dev/null node (made here, so the real one is never at risk): as root a rename would
    turn it into a regular file."""
    null = make_device(tmp_path / "null", stat.S_IFCHR, (1, 3))
    code, err = run(["compile", spec, "-o", null], capsys)
    assert code == 0, err
    assert stat.S_ISCHR(os.lstat(null).st_mode) and os.lstat(null).st_rdev == os.makedev(1, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["null", "spec.yaml"]  # no temporary left


def test_null_device_may_take_several_outputs(tmp_path, spec, capsys):
    null = make_device(tmp_path / "null", stat.S_IFCHR, (1, 3))
    code, err = run(["verify", spec, "--report", null], capsys)
    assert code == 0, err
    assert stat.S_ISCHR(os.lstat(null).st_mode)
    write_atomic(null, "a")
    write_atomic(null, b"b")
    assert stat.S_ISCHR(os.lstat(null).st_mode)


def test_block_device_is_refused(tmp_path, spec, capsys):
    disk = make_device(tmp_path / "disk", stat.S_IFBLK, (7, 0))
    code, err = run(["compile", spec, "-o", disk], capsys)
    assert code == 2
    assert "--output" in err and "block device" in err, err
    assert stat.S_ISBLK(os.lstat(disk).st_mode)


def test_fifo_is_written_through(tmp_path, spec, capsys):
    fifo = tmp_path / "pipe.cir"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a reader, so the writer's open does not wait
    try:
        code, err = run(["compile", spec, "-o", fifo], capsys)
        assert code == 0, err
        try:
            received = os.read(reader, 1 << 16)  # the netlist is far below the pipe's buffer
        except BlockingIOError:
            received = b""
    finally:
        os.close(reader)
    assert b"netlist of spec good" in received and received.rstrip().endswith(b".end")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe.cir", "spec.yaml"]


def test_open_descriptor_is_appended_to_not_replaced(tmp_path, spec):
    """``-o /dev/fd/1`` with stdout appending to a log (``>> log``): the log keeps its lines."""
    log = tmp_path / "log.cir"
    log.write_text("earlier\n")
    with open(log, "ab") as out:
        proc = subprocess.run([sys.executable, "-m", "rnn2spice", "compile", str(spec), "-o", "/dev/fd/1"],
                              stdout=out, stderr=subprocess.PIPE, text=True, timeout=300,
                              cwd=Path(__file__).resolve().parents[1])
    assert proc.returncode == 0, proc.stderr
    text = log.read_text()
    assert text.startswith("earlier\n") and "netlist of spec good" in text and text.endswith(".end\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.cir", "spec.yaml"]


def test_symlink_target_is_replaced_and_link_kept(tmp_path, spec, capsys):
    real = tmp_path / "sub" / "real.cir"
    real.parent.mkdir()
    real.write_bytes(earlier_output(real, OLD))
    real.chmod(0o600)
    link = tmp_path / "link.cir"
    link.symlink_to(Path("sub") / "real.cir")
    code, err = run(["compile", spec, "-o", link], capsys)
    assert code == 0, err
    assert link.is_symlink() and os.readlink(link) == os.path.join("sub", "real.cir")
    assert real.read_text().endswith(".end\n")
    assert stat.S_IMODE(real.stat().st_mode) == 0o600
    assert sorted(p.name for p in real.parent.iterdir()) == ["real.cir"]


def test_dangling_symlink_is_refused(tmp_path, spec, capsys):
    link = tmp_path / "out.cir"
    link.symlink_to(tmp_path / "elsewhere" / "x.cir")
    code, err = run(["compile", spec, "-o", link], capsys)
    assert code == 2
    assert "--output" in err and "symbolic link" in err and "does not exist" in err, err
    assert link.is_symlink() and not link.exists()
    with pytest.raises(OutputError, match="symbolic link"):
        write_atomic(link, "x")
    assert link.is_symlink() and not link.exists()


def test_symlink_loop_is_refused(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.symlink_to(b)
    b.symlink_to(a)
    with pytest.raises(OutputError, match="^out: "):
        write_atomic(a, "x", field="out")
    assert a.is_symlink() and b.is_symlink()


# --------------------------------------------------------------------------- output == input

def test_output_equal_to_the_spec_is_refused(tmp_path, spec, capsys):
    before = spec.read_bytes()
    alias = tmp_path / "alias.yaml"
    alias.symlink_to(spec.name)
    for target in (spec, alias, Path(os.path.relpath(spec))):
        code, err = run(["compile", spec, "-o", target], capsys)
        assert code == 2, err
        assert "--output" in err and "the spec" in err, err
        assert spec.read_bytes() == before


@pytest.mark.parametrize("argv", [
    ["simulate", "{spec}", "-o", "{spec}"],
    ["check", "{spec}", "--report", "{spec}"],
    ["check", "{spec}", "--netlist", "{spec}"],
    ["verify", "{spec}", "--report", "{spec}"],
    ["ac", "{spec}", "--fmin", "10", "--fmax", "1e4", "--plot", "{spec}"],
    ["task", "{spec}", "--stimulus", "pulse", "--dt", "1e-4", "--report", "{spec}"],
], ids=lambda a: a[0] + "-" + a[-2].strip("-"))
def test_every_command_refuses_to_write_over_its_spec(argv, spec, capsys):
    before = spec.read_bytes()
    code, err = run([a.format(spec=spec) for a in argv], capsys)
    assert code == 2, err
    assert argv[-2] in err and "the spec" in err and "input" in err, err
    assert spec.read_bytes() == before


@pytest.mark.parametrize("name, field", [("w.npy", "w.file"), ("u.csv", "inputs[0].path")])
def test_output_equal_to_a_file_the_spec_names_is_refused(tmp_path, matrix_spec, capsys, name, field):
    target = tmp_path / name
    before = target.read_bytes()
    code, err = run(["compile", matrix_spec, "-o", target], capsys)
    assert code == 2, err
    assert "--output" in err and f"the spec's {field}" in err, err
    assert target.read_bytes() == before
    code, err = run(["check", matrix_spec, "--report", target], capsys)
    assert code == 2 and "--report" in err and field in err, err
    assert target.read_bytes() == before


def test_verify_report_equal_to_its_netlist_input_is_refused(tmp_path, spec, capsys):
    netlist = tmp_path / "n.cir"
    assert run(["compile", spec, "-o", netlist], capsys)[0] == 0
    before = netlist.read_bytes()
    code, err = run(["verify", spec, "--netlist", netlist, "--report", netlist], capsys)
    assert code == 2 and "--report" in err and "--netlist" in err, err
    assert netlist.read_bytes() == before


def test_task_report_equal_to_its_stimulus_is_refused(tmp_path, spec, capsys):
    stim = tmp_path / "x.csv"
    stim.write_text("0\n1\n0\n")
    code, err = run(["task", spec, "--stimulus", stim, "--dt", "1e-4", "--plot", stim], capsys)
    assert code == 2 and "--plot" in err and "--stimulus" in err, err
    assert stim.read_text() == "0\n1\n0\n"


def test_report_equal_to_plot_is_refused(tmp_path, spec, capsys):
    report = tmp_path / "r.json"
    report.write_bytes(earlier_output(report, OLD))
    alias = tmp_path / "alias.json"
    alias.symlink_to(report.name)
    for plot in (report, alias):
        code, err = run(["check", spec, "--report", report, "--plot", plot], capsys)
        assert code == 2, err
        assert "--plot" in err and "--report" in err and "own file" in err, err
        assert report.read_bytes() == earlier_output(report, OLD)
    new = tmp_path / "new.json"  # not there yet: the same path is still the same file
    code, err = run(["ac", spec, "--fmin", "10", "--fmax", "1e4", "--report", new, "--plot", new], capsys)
    assert code == 2 and "--plot" in err and "--report" in err, err
    assert not new.exists()


# --------------------------------------------------------------------------- hard links

def test_hard_link_to_the_spec_is_refused_naming_both(tmp_path, spec, capsys):
    link = tmp_path / "copy.yaml"
    os.link(spec, link)
    before = spec.read_bytes()
    code, err = run(["compile", spec, "-o", link], capsys)
    assert code == 2 and "--output" in err and "the spec" in err, err
    assert spec.read_bytes() == before and os.path.samefile(spec, link)


def test_hard_link_to_a_matrix_is_refused_naming_both(tmp_path, matrix_spec, capsys):
    link = tmp_path / "other.bin"
    os.link(tmp_path / "w.npy", link)
    code, err = run(["compile", matrix_spec, "-o", link], capsys)
    assert code == 2 and "--output" in err and "w.file" in err, err
    assert os.path.samefile(tmp_path / "w.npy", link)


def test_file_with_several_hard_links_is_refused(tmp_path, spec, capsys):
    """Replacing it would split the links; writing in place would not be atomic."""
    out, other = tmp_path / "out.cir", tmp_path / "backup.cir"
    old = earlier_output(out, OLD)
    out.write_bytes(old)
    os.link(out, other)
    code, err = run(["compile", spec, "-o", out], capsys)
    assert code == 2 and "--output" in err and "hard links" in err, err
    assert out.read_bytes() == old and os.path.samefile(out, other)
    with pytest.raises(OutputError, match="2 hard links"):
        write_atomic(out, "new")
    assert out.read_bytes() == old and os.path.samefile(out, other)


# --------------------------------------------------------------------------- mode and owner

def test_existing_file_keeps_its_mode(tmp_path, spec, capsys):
    out = tmp_path / "secret.cir"
    out.write_bytes(earlier_output(out, OLD))
    out.chmod(0o600)
    code, err = run(["compile", spec, "-o", out], capsys)
    assert code == 0, err
    assert out.read_text().endswith(".end\n")
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    out.chmod(0o640)
    write_atomic(out, "x")
    assert stat.S_IMODE(out.stat().st_mode) == 0o640 and out.read_text() == "x"


@pytest.mark.skipif(not ROOT, reason="giving a file to another user needs root")
def test_existing_file_keeps_its_owner(tmp_path):
    out = tmp_path / "theirs.json"
    out.write_bytes(OLD)
    os.chown(out, 12345, 23456)
    write_atomic(out, "{}\n")
    info = out.stat()
    assert (info.st_uid, info.st_gid) == (12345, 23456) and out.read_text() == "{}\n"


@pytest.mark.parametrize("mask, mode", [(0o027, 0o640), (0o077, 0o600), (0o002, 0o664)])
def test_new_file_follows_the_umask(tmp_path, spec, capsys, mask, mode):
    out = tmp_path / "new.cir"
    old = os.umask(mask)
    try:
        code, err = run(["compile", spec, "-o", out], capsys)
    finally:
        os.umask(old)
    assert code == 0, err
    assert stat.S_IMODE(out.stat().st_mode) == mode


# --------------------------------------------------------------------------- import: the NPZ beside the spec

def large_model(path: Path) -> Path:
    n = INLINE_MAX_NEURONS + 1
    np.savez(path, W=np.eye(n) * 0.5, W_in=np.ones((n, 1)))
    return path


def test_import_refuses_an_unrelated_npz_and_force_overwrites_it(tmp_path, capsys):
    model = large_model(tmp_path / "model.npz")
    results = tmp_path / "results.npz"
    np.savez(results, data=np.arange(3.0))
    before = results.read_bytes()
    argv = ["import", model, "--dt", "1e-3", "-o", tmp_path / "results.yaml"]
    code, err = run(argv, capsys)
    assert code == 2 and "results.npz" in err and "--force" in err, err
    assert results.read_bytes() == before and not (tmp_path / "results.yaml").exists()
    with pytest.raises(OutputError, match="results.npz"):
        import_model(model, tmp_path / "results.yaml", dt=1e-3)
    assert results.read_bytes() == before
    code, err = run([*argv, "--force"], capsys)
    assert code == 0, err
    with np.load(results) as npz:
        assert "W" in npz.files and "data" not in npz.files


def test_import_replaces_its_own_npz(tmp_path, capsys):
    """The NPZ an earlier import to the same spec wrote is recognised and replaced without --force."""
    from rnn2spice.workflows.importers.spec_writer import is_imported_npz

    model = large_model(tmp_path / "model.npz")
    out, npz = tmp_path / "spec.yaml", tmp_path / "spec.npz"
    assert run(["import", model, "--dt", "1e-3", "-o", out], capsys)[0] == 0
    assert is_imported_npz(npz, out) and not is_imported_npz(npz, tmp_path / "other.yaml")
    code, err = run(["import", model, "--dt", "2e-3", "-o", out], capsys)
    assert code == 0, err
    assert yaml.safe_load(out.read_text())["provenance"]["mapping"]["dt"] == 2e-3
    result = import_model(model, out, dt=1e-3, tau=5e-3, force=False)
    assert result.npz_path == npz and result.spec.tau[0] == 5e-3 and is_imported_npz(npz, out)


@pytest.mark.parametrize("case", ["not-an-import", "other-keys", "no-spec"])
def test_import_does_not_take_an_npz_that_only_looks_like_its_own(tmp_path, capsys, case):
    model = large_model(tmp_path / "model.npz")
    out, npz = tmp_path / "spec.yaml", tmp_path / "spec.npz"
    assert run(["import", model, "--dt", "1e-3", "-o", out], capsys)[0] == 0
    data = yaml.safe_load(out.read_text())
    if case == "not-an-import":
        del data["provenance"]
        out.write_text(yaml.safe_dump(data))
    elif case == "other-keys":
        np.savez(npz, W=np.eye(3), mine=np.zeros(2))
    else:
        out.unlink()
    before = npz.read_bytes()
    spec_before = out.read_bytes() if out.exists() else None
    code, err = run(["import", model, "--dt", "1e-3", "-o", out], capsys)
    # a spec rewritten by hand is no longer rnn2spice's: refused first (and its NPZ with it)
    named = "spec.yaml' exists and is not a spec written by rnn2spice" if case == "not-an-import" else "spec.npz"
    assert code == 2 and named in err, err
    assert npz.read_bytes() == before and (out.read_bytes() if out.exists() else None) == spec_before


def test_import_through_a_symlink_puts_the_npz_beside_the_real_spec(tmp_path, capsys):
    model = large_model(tmp_path / "model.npz")
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "net.yaml").write_bytes(earlier_output("net.yaml", OLD))  # an earlier spec of rnn2spice's
    link = tmp_path / "link.yaml"
    link.symlink_to(Path("real") / "net.yaml")
    code, err = run(["import", model, "--dt", "1e-3", "-o", link], capsys)
    assert code == 0, err
    assert link.is_symlink() and (tmp_path / "real" / "net.npz").is_file()
    assert not (tmp_path / "link.npz").exists()


def test_import_output_hard_linked_to_the_model_is_refused(tmp_path, capsys):
    model = large_model(tmp_path / "model.npz")
    link = tmp_path / "model-link.yaml"
    os.link(model, link)
    before = model.read_bytes()
    code, err = run(["import", model, "--dt", "1e-3", "-o", link], capsys)
    assert code == 2 and "--output" in err and "model file" in err, err
    assert model.read_bytes() == before and os.path.samefile(model, link)


# --------------------------------------------------------------------------- outputs of a kind

@pytest.mark.parametrize("command", [["check"], ["task", "--stimulus", "pulse", "--trials", "1", "--dt", "1e-3"], ["montecarlo", "--runs", "2"],
                                     ["ac", "--fmin", "1", "--fmax", "10"]])
def test_plot_replaces_only_a_figure(tmp_path, spec, capsys, command):
    # a slip of the tab key (--plot notes.txt, --plot results.json) must not eat the file
    notes = tmp_path / "notes.txt"
    notes.write_bytes(OLD)
    argv = [command[0], spec, *command[1:], "--plot", notes]
    if command[0] == "montecarlo":
        argv += ["-o", tmp_path / "mc.json"]
    code, err = run(argv, capsys)
    assert code == 2 and "--plot" in err and ("not a PNG" in err or "figure format" in err)
    assert notes.read_bytes() == OLD and not (tmp_path / "mc.json").exists()


def test_api_study_output_replaces_only_an_earlier_results_file(tmp_path, spec):
    # the API has no spec path to compare with; the CLI refuses the spec as --output already
    from rnn2spice import load
    from rnn2spice.workflows.montecarlo import montecarlo

    net = load(spec)
    for victim in (spec, tmp_path / "report.json"):
        if not victim.exists():
            victim.write_text('{\n  "kind": "check"\n}\n')
        before = victim.read_bytes()
        with pytest.raises(OutputError, match="not a montecarlo or sweep results file"):
            montecarlo(net, runs=1, output=victim, jobs=1)
        assert victim.read_bytes() == before


@pytest.mark.parametrize("kind", ["file", "link"])
def test_a_study_journal_never_replaces_a_file_it_did_not_write(tmp_path, spec, capsys, kind):
    # the journal <output>.runs.jsonl is written and then removed: a link there once led the
    # study to destroy the spec it was reading, a file there was silently deleted
    journal = tmp_path / "res.json.runs.jsonl"
    if kind == "link":
        journal.symlink_to(spec)
    else:
        journal.write_bytes(OLD)
    before = spec.read_bytes()
    code, err = run(["montecarlo", spec, "--runs", "2", "-o", tmp_path / "res.json"], capsys)
    assert code == 2 and "journal" in err
    assert spec.read_bytes() == before and not (tmp_path / "res.json").exists()
    assert journal.is_symlink() if kind == "link" else journal.read_bytes() == OLD
