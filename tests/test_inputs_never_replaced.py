"""An input of a run is never replaced, not even with --force (red-team findings on issue 19):
the journal beside a study's results file, KiCad's side files and the --opamp-model library
were outside the distinct-from-inputs check, so ``montecarlo r.json.runs.jsonl -o r.json
--force`` truncated and then deleted its own spec, and ``compile --opamp-model vend.lib:OPX
-o vend.lib --force`` overwrote the library.  A journal is written only as a regular file.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import GOOD_SPEC, env_with

ROOT = Path(__file__).resolve().parents[1]
LIB = ".subckt OPX inp inn vp vn out\nE1 out 0 inp inn 1e5\n.ends OPX\n"


def cli(*argv, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rnn2spice", *map(str, argv)], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env=env_with(RNN2SPICE_TRACEBACK=None), stdin=subprocess.DEVNULL)


def refused(done, *fragments) -> str:
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rnn2spice: error: "), done.stderr
    for f in fragments:
        assert f in lines[0], lines[0]
    return lines[0]


def spec_text() -> str:
    return yaml.safe_dump(GOOD_SPEC)


@pytest.mark.parametrize("study", ["montecarlo", "sweep"])
def test_a_spec_named_like_the_journal_survives_force(tmp_path, study):
    spec = tmp_path / "r.json.runs.jsonl"
    spec.write_text(spec_text())
    extra = ["--runs", "2"] if study == "montecarlo" else ["--param", "tau=1e-3,2e-3"]
    done = cli(study, spec, "-o", tmp_path / "r.json", "--force", *extra, cwd=tmp_path)
    refused(done, "the journal of --output", "the spec", "an input of this run")
    assert spec.read_text() == spec_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json.runs.jsonl"]


def test_a_stimulus_named_like_the_journal_survives_force(tmp_path):
    (tmp_path / "s.yaml").write_text(spec_text())
    stim = tmp_path / "r.json.runs.jsonl"
    stim.write_bytes(b"0\n1\n")
    done = cli("montecarlo", tmp_path / "s.yaml", "-o", tmp_path / "r.json", "--force", "--runs", "2",
               "--stimulus", stim, cwd=tmp_path)
    refused(done, "the journal of --output", "--stimulus")
    assert stim.read_bytes() == b"0\n1\n"


def test_a_spec_csv_named_like_the_journal_survives_force(tmp_path):
    (tmp_path / "r.json.runs.jsonl").write_text("0,0\n1e-3,1\n")
    (tmp_path / "s.yaml").write_text(yaml.safe_dump({**GOOD_SPEC, "inputs": [{"kind": "file",
                                                                               "path": "r.json.runs.jsonl"}]}))
    done = cli("montecarlo", tmp_path / "s.yaml", "-o", tmp_path / "r.json", "--force", "--runs", "2", cwd=tmp_path)
    refused(done, "the journal of --output", "inputs[0]")
    assert (tmp_path / "r.json.runs.jsonl").read_text() == "0,0\n1e-3,1\n"


@pytest.mark.parametrize("command,output", [("compile", "vend.lib"), ("kicad", "vend.kicad_sch"),
                                            ("simulate", "vend.lib"), ("bom", "vend.lib")])
def test_the_opamp_model_library_survives_force(tmp_path, command, output):
    (tmp_path / "s.yaml").write_text(spec_text())
    (tmp_path / "vend.lib").write_text(LIB)
    done = cli(command, tmp_path / "s.yaml", "--form", "opamp", "--opamp-model", "vend.lib:OPX",
               "-o", tmp_path / output, "--force", cwd=tmp_path)
    refused(done, "--opamp-model", "'vend.lib'", "an input of this run")
    assert (tmp_path / "vend.lib").read_text() == LIB


def test_a_kicad_side_file_that_is_the_spec_survives_force(tmp_path):
    spec = tmp_path / "t.lib"  # a YAML spec by any name: the side file t.lib of t.kicad_sch
    spec.write_text(spec_text())
    done = cli("kicad", spec, "--form", "opamp", "-o", tmp_path / "t.kicad_sch", "--force", cwd=tmp_path)
    refused(done, "(t.lib)", "the spec")
    assert spec.read_text() == spec_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.lib"]


def test_the_api_kicad_refuses_its_model_library_too(tmp_path):
    import rnn2spice
    from rnn2spice.errors import OutputError

    (tmp_path / "vend.lib").write_text(LIB)
    (tmp_path / "s.yaml").write_text(spec_text())
    net = rnn2spice.load(tmp_path / "s.yaml")
    with pytest.raises(OutputError, match="build.opamp_model"):
        rnn2spice.kicad(net, output=tmp_path / "vend.kicad_sch", form="opamp",
                        build=rnn2spice.Build(opamp_model=f"{tmp_path / 'vend.lib'}:OPX"), force=True)
    assert (tmp_path / "vend.lib").read_text() == LIB


def test_a_study_to_a_device_keeps_no_journal_and_a_fifo_journal_is_refused(tmp_path):
    (tmp_path / "s.yaml").write_text(spec_text())
    os.mkfifo(tmp_path / "r.json.runs.jsonl")  # no reader: opening it for writing would hang
    done = cli("montecarlo", tmp_path / "s.yaml", "-o", tmp_path / "r.json", "--runs", "2", cwd=tmp_path, timeout=30)
    refused(done, "the journal of --output", "not a regular file")
    # results through /dev/null: no /dev/null.runs.jsonl is attempted, and --resume is refused
    done = cli("montecarlo", tmp_path / "s.yaml", "-o", "/dev/null", "--runs", "2", "--resume", cwd=tmp_path)
    refused(done, "regular file")
    done = cli("montecarlo", tmp_path / "s.yaml", "-o", "-", "--runs", "2", cwd=tmp_path)
    refused(done, "'-' (standard output)")


@pytest.mark.parametrize("journal", ["not-utf8", "sparse-6-gb", "endless-line"])
def test_resume_from_a_hostile_journal_is_one_line_exit_2(tmp_path, journal):
    """--resume read the journal whole and as text: a non-UTF-8 one ended in 'internal error:
    UnicodeDecodeError' (exit 70), a huge one in memory exhaustion."""
    from rnn2spice.workflows.study import _JOURNAL_HEAD

    head = _JOURNAL_HEAD if isinstance(_JOURNAL_HEAD, bytes) else _JOURNAL_HEAD.encode()
    (tmp_path / "s.yaml").write_text(spec_text())
    path = tmp_path / "r.json.runs.jsonl"
    if journal == "not-utf8":
        path.write_bytes(head + b'\xff\xfe"}\n')
    elif journal == "sparse-6-gb":
        path.write_bytes(head + b'x"}\n')
        os.truncate(path, 6 << 30)
    else:
        path.write_bytes(head + b"x" * (1 << 20))
    before = path.stat().st_size
    done = cli("montecarlo", tmp_path / "s.yaml", "-o", tmp_path / "r.json", "--runs", "2", "--resume", cwd=tmp_path)
    line = refused(done, "--resume", "r.json.run")
    assert "internal error" not in line
    assert path.stat().st_size == before


def test_the_override_is_named_in_the_callers_words(tmp_path):
    """The command line says --force, the API force=True (was both at once: '--force (force=True)')."""
    from rnn2spice.errors import OutputError
    from rnn2spice.report.files import check_output

    mine = tmp_path / "notes.txt"
    mine.write_text("mine\n")
    with pytest.raises(OutputError) as info:
        check_output(mine, "output", "netlist")
    assert "force=True" in str(info.value) and "--force" not in str(info.value)
    (tmp_path / "s.yaml").write_text(spec_text())
    line = refused(cli("compile", tmp_path / "s.yaml", "-o", mine, cwd=tmp_path), "--output", "--force")
    assert "force=True" not in line
    assert mine.read_text() == "mine\n"


def test_a_report_never_replaces_a_study_results_file(tmp_path):
    """`verify --report r.json` replaced a montecarlo results file: a study's results are an
    output kind of their own; a report replaces a report (and the study its results)."""
    (tmp_path / "s.yaml").write_text(spec_text())
    results = tmp_path / "r.json"
    done = cli("montecarlo", tmp_path / "s.yaml", "-o", results, "--runs", "2", "--tolerance", "0", cwd=tmp_path,
               timeout=120)
    assert done.returncode in (0, 1), done.stderr
    kept = results.read_bytes()
    line = refused(cli("verify", tmp_path / "s.yaml", "--report", results, cwd=tmp_path), "--report", "r.json")
    assert "--force" in line and results.read_bytes() == kept
    report = tmp_path / "v.json"
    assert cli("verify", tmp_path / "s.yaml", "--report", report, cwd=tmp_path).returncode == 0
    assert cli("verify", tmp_path / "s.yaml", "--report", report, cwd=tmp_path).returncode == 0  # its own kind


def test_save_through_a_link_puts_the_matrices_beside_the_spec_it_writes(tmp_path):
    """Network.save through a symbolic link wrote the .npz beside the link while the spec went
    to the link's target, whose reference to its matrices then resolved elsewhere."""
    import numpy as np

    import rnn2spice

    n = 12  # more than 8 neurons: the matrices go to <stem>.npz
    rng = np.random.default_rng(1)
    data = {**GOOD_SPEC, "w": (rng.standard_normal((n, n)) * 0.1).tolist(), "w_in": [[1.0]] * n, "h0": [0.0] * n}
    (tmp_path / "big.yaml").write_text(yaml.safe_dump(data))
    net = rnn2spice.load(tmp_path / "big.yaml")
    (tmp_path / "store").mkdir()
    (tmp_path / "links").mkdir()
    target = tmp_path / "store" / "net.yaml"
    link = tmp_path / "links" / "net.yaml"
    rnn2spice.save(net, target)  # an earlier spec there (no file is created through a dangling link)
    (tmp_path / "store" / "net.npz").unlink()
    link.symlink_to(target)
    rnn2spice.save(net, link)
    assert (tmp_path / "store" / "net.npz").is_file() and not (tmp_path / "links" / "net.npz").exists()
    for path in (link, target):
        again = rnn2spice.load(path)
        assert np.array_equal(np.asarray(again.w), np.asarray(net.w))
