"""The way in (issue 23): a short README with a generated picture, the license and citation,
and a documentation site whose every page exists (``mkdocs build --strict`` itself runs in
scripts/test.sh, after the tests)."""

from __future__ import annotations

import re

import pytest
import yaml

import rnn2spice

from conftest import ROOT


def test_readme_is_an_entry_not_a_log():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 200
    for command in ("bash scripts/demo.sh", "bash scripts/test.sh"):  # CI calls test.sh: it must stay
        assert command in text
    assert "Caruso" in text and "Jarne" in text
    for named in re.findall(r"`((?:tests|scripts|docs|examples|netlists)/[\w./-]+)`", text):  # files it names exist
        assert (ROOT / named).exists(), named
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):  # every relative link resolves
        if not target.startswith("http"):
            assert (ROOT / target).exists(), target


def test_license_citation_changelog():
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert 'license = { text = "MIT" }' in (ROOT / "pyproject.toml").read_text()
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert citation["license"] == "MIT" and citation["version"] == rnn2spice.__version__
    paper = citation["preferred-citation"]
    assert paper["title"] == "Recurrent Neural Networks as Electrical Networks, a formalization"
    assert [a["family-names"] for a in paper["authors"]] == ["Caruso", "Jarne"]
    assert "## Unreleased" in (ROOT / "CHANGELOG.md").read_text()


def test_the_readme_picture_is_generated_not_pasted():
    """docs/assets/damped-oscillator.svg is `rnn2spice schematic netlists/damped-oscillator.yaml`'s output."""
    pytest.importorskip("schemdraw")
    net = rnn2spice.load(ROOT / "netlists" / "damped-oscillator.yaml")
    assert rnn2spice.schematic(net, fmt="svg") == (ROOT / "docs" / "assets" / "damped-oscillator.svg").read_bytes()


def _nav_files(nav) -> list[str]:
    out = []
    for entry in nav:
        value = entry if isinstance(entry, str) else next(iter(entry.values()))
        out += _nav_files(value) if isinstance(value, list) else [value]
    return out


def test_every_page_of_the_site_exists():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text().replace("!!python", "#"))
    assert config["strict"] is True and config["theme"]["name"] == "material"
    pages = _nav_files(config["nav"])
    # scripts/gen_docs.py writes them at build time
    generated = {"reference/cli.md", "reference/spec-keys.md", "reference/environment.md"}
    assert len(pages) >= 8 and generated <= set(pages)
    for page in set(pages) - generated:
        assert (ROOT / "docs" / page).is_file(), page
    # the pages of the other features are in the navigation
    for page in ("certificate.md", "trained-networks.md", "real-parts.md", "kicad.md", "chaos.md", "benchmarks.md"):
        assert page in pages
    # Diataxis: tutorials, how-to guides, explanation, reference
    sections = [next(iter(e)) for e in config["nav"] if isinstance(e, dict)]
    for section in ("Tutorials", "How-to guides", "Explanation", "Reference"):
        assert section in sections


def test_the_measurements_moved_to_the_benchmarks_page():
    text = (ROOT / "docs" / "benchmarks.md").read_text()
    for table_head in ("| case | baseline | ours | ratio | target | met |", "| GBW | eigenvalue shift |",
                       "| network | pulse | decision discrete / SPICE |"):
        assert table_head in text


@pytest.mark.ngspice
def test_the_first_tutorial_runs_as_written(tmp_path, monkeypatch, capsys):
    """docs/tutorials/first-circuit.md: its Python blocks, one after the other, as a reader types them."""
    (tmp_path / "netlists").symlink_to(ROOT / "netlists")
    monkeypatch.chdir(tmp_path)
    text = (ROOT / "docs" / "tutorials" / "first-circuit.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) >= 4
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "first-circuit.md", "exec"), namespace)
    assert namespace["result"].passed and (tmp_path / "osc.yaml").is_file()
    assert "G_0_1 " in capsys.readouterr().out  # print(circuit.netlist) showed the coupling source


def _console_commands(text: str) -> list[str]:
    return [line[2:] for block in re.findall(r"```console\n(.*?)```", text, re.S)
            for line in block.splitlines() if line.startswith("$ ")]


def test_readme_commands_write_only_into_folders_that_exist():
    """A `-o dir/file` in the README works in a fresh clone: dir is in the repository or made first."""
    commands = _console_commands((ROOT / "README.md").read_text())
    assert len(commands) >= 8
    for command in commands:
        for target in re.findall(r"-o (\S+)", command):
            folder = target.rpartition("/")[0]
            assert not folder or (ROOT / folder).is_dir() or f"mkdir -p {folder} " in command, command


@pytest.mark.ngspice
def test_readme_check_output_is_what_check_prints(tmp_path, monkeypatch, capsys):
    """README's sample `check` lines are the tool's, except the seconds."""
    from rnn2spice.cli.app import main
    text = (ROOT / "README.md").read_text()
    shown = text.split("$ rnn2spice check netlists/damped-oscillator.yaml --plot osc.png\n")[1].split("\n$ ")[0]
    monkeypatch.chdir(tmp_path)
    assert main(["check", str(ROOT / "netlists" / "damped-oscillator.yaml")]) == 0
    printed = capsys.readouterr().out.strip()
    seconds = re.compile(r" in \d+\.\d+ s")
    printed, shown = seconds.sub(" in _ s", printed), seconds.sub(" in _ s", shown.strip())
    version = re.search(r"ngspice \d+ \(", shown).group(0)
    if version not in printed:  # another ngspice (CI's run with 39): its own solver and last digits
        masked = re.compile(r"ngspice \d+ \(\w+, \w+\)|\d+(\.\d+)?(e[-+]\d+)?")
        printed, shown = masked.sub("_", printed), masked.sub("_", shown)
    assert printed == shown


def test_chaos_page_recipe_writes_the_network_it_measures(tmp_path, monkeypatch):
    """docs/chaos.md's script writes chaotic.yaml: ctrnn, n = 80, g = 4 from default_rng(2)."""
    import numpy as np
    monkeypatch.chdir(tmp_path)
    text = (ROOT / "docs" / "chaos.md").read_text()
    exec(compile(re.findall(r"```python\n(.*?)```", text, re.S)[0], "chaos.md", "exec"), {})
    net = rnn2spice.load("chaotic.yaml")
    assert (net.n, net.convention, net.activation, net.t_stop) == (80, "ctrnn", "tanh", 0.5)
    w = np.asarray(net.w)
    assert 3.8 < np.sqrt(w.shape[0]) * w.std() < 4.2  # W_ij ~ N(0, g^2/n), g = 4
    assert "rnn2spice check chaotic.yaml" in text and "-v" in text


def test_build_page_bom_example_is_what_bom_writes(tmp_path, monkeypatch, capsys):
    """docs/how-to/build.md shows the orderable list's real header and first rows."""
    from rnn2spice.cli.app import main
    monkeypatch.chdir(tmp_path)
    text = (ROOT / "docs" / "how-to" / "build.md").read_text()
    shown = text.split("$ head -4 parts.csv\n")[1].split("\n$ ")[0].splitlines()
    assert main(["bom", str(ROOT / "netlists" / "tanh4.yaml"), "--form", "opamp", "--snap", "E24",
                 "-o", "parts.csv"]) == 0
    written = (tmp_path / "parts.csv").read_text().splitlines()
    assert written[0] == "Designators,Qty,Value,Part,Footprint" and shown == written[:4]
    captured = capsys.readouterr()
    summary = (captured.out + captured.err).strip().splitlines()[0]
    assert summary.startswith("bill of materials of tanh4") and summary in text


#: An environment variable's name as the code spells it (not a pattern such as ``RNN2SPICE_MAX_*``).
_ENV_NAME = re.compile(r"RNN2SPICE_[A-Z0-9_]*[A-Z0-9](?![A-Z0-9_*])")


def test_every_environment_variable_the_code_reads_is_documented():
    """The table the reference page is generated from (rnn2spice/cli/environment.py) names
    exactly the RNN2SPICE_* variables in the package's code: a new one cannot go undocumented,
    a removed one does not stay on the page."""
    from rnn2spice.cli.environment import variables

    table_file = ROOT / "rnn2spice" / "cli" / "environment.py"  # the table itself is not a reader
    sources = [p for p in sorted((ROOT / "rnn2spice").rglob("*.py")) if p != table_file] + [ROOT / "rnn2spice_launch.py"]
    in_code = {name for path in sources for name in _ENV_NAME.findall(path.read_text())}
    table = [v.name for v in variables()]
    assert len(table) == len(set(table))
    assert set(table) == in_code
    assert {"RNN2SPICE_MAX_CSV_BYTES", "RNN2SPICE_NGSPICE", "RNN2SPICE_TRACEBACK"} <= in_code  # the scan finds them
    for v in variables():
        assert v.default and v.when and len(v.meaning) > 20, v
    from rnn2spice.cli.environment import TEST_SUITE

    suite = [*sorted((ROOT / "tests").glob("*.py")), *sorted((ROOT / "scripts").glob("*"))]
    in_suite = {name for path in suite if path.is_file() for name in _ENV_NAME.findall(path.read_text())}
    assert set(TEST_SUITE) == in_suite - in_code


def test_the_environment_page_shows_the_table_and_the_line_limit():
    """The page scripts/gen_docs.py generates (its functions, without the build's writes)."""
    pytest.importorskip("mkdocs_gen_files")
    import types

    source = (ROOT / "scripts" / "gen_docs.py").read_text()
    module = types.ModuleType("gen_docs_functions")
    exec(compile(source[:source.index("\nwith mkdocs_gen_files.open(")], "scripts/gen_docs.py", "exec"), module.__dict__)
    page = module.environment_page()
    from rnn2spice.cli.environment import variables
    from rnn2spice.network.files import MAX_LINE_BYTES

    for v in variables():
        assert f"| `{v.name}` |" in page
    assert f"| `MAX_LINE_BYTES` | {MAX_LINE_BYTES:,} |" in page and "64 kB" in page
    assert "| `RNN2SPICE_MAX_CSV_BYTES` | 64,000,000 |" in page
