"""The house rules (ARCHITECTURE.md), checked on the source itself.

* Layers import in one direction only: a module imports from its own layer or the layers
  listed before it in LAYERS, never after (so there is no cycle between layers).
* Every module imports on its own, in a fresh interpreter (no hidden order dependence).
* Only the command line knows argparse, ``print`` and exit codes; only the simulation
  layer talks to ngspice (PySpice, ctypes, subprocess).
* No module grows past ~400 lines without saying why at its top.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

import rnn2spice

PACKAGE = Path(rnn2spice.__file__).parent
LAYERS = ("_version", "_blas", "errors", "network", "circuit", "spice", "analysis", "report", "workflows", "api", "cli", "")
MAX_LINES = 400


def modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).with_suffix("")
        parts = [p for p in rel.parts if p != "__init__"]
        out.append((".".join(["rnn2spice", *parts]), path))
    return out


def layer(module: str) -> int:
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else ""
    if top == "__main__":
        top = ""
    return LAYERS.index(top)


def imported(path: Path) -> list[tuple[int, str]]:
    """Every module this file imports (also inside functions), with its line number."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}:{node.lineno}: relative import (the house uses absolute ones)"
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return found


MODULES = modules()


def test_the_layer_table_covers_every_module():
    for name, _ in MODULES:
        assert layer(name) >= 0


@pytest.mark.parametrize("name,path", MODULES, ids=[m for m, _ in MODULES])
def test_imports_go_down_the_layers_only(name, path):
    mine = layer(name)
    for lineno, target in imported(path):
        if not target.startswith("rnn2spice.") or target.count(".") < 1:
            continue
        parts = target.split(".")
        if parts[1] not in LAYERS:  # e.g. "rnn2spice.__version__" from the package root
            continue
        theirs = LAYERS.index(parts[1])
        assert theirs <= mine, (f"{path.relative_to(PACKAGE.parent)}:{lineno} imports {target} "
                                f"(layer {LAYERS[theirs]!r} sits above {LAYERS[mine] or 'the API'!r})")


def test_every_module_imports_alone_in_a_fresh_interpreter():
    code = ("import importlib, sys\n"
            "for name in sys.argv[1:]:\n"
            "    for key in [k for k in sys.modules if k == 'rnn2spice' or k.startswith('rnn2spice.')]:\n"
            "        del sys.modules[key]\n"
            "    importlib.import_module(name)\n")
    # one interpreter, modules forgotten between imports: each import starts from nothing of ours
    names = [name for name, _ in MODULES if not name.endswith("__main__")]
    proc = subprocess.run([sys.executable, "-c", code, *names], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]


FORBIDDEN = {
    # what: (modules allowed to use it, how it shows in the AST)
    "argparse": ("rnn2spice.cli",),
    "PySpice": ("rnn2spice.spice",),
    "ctypes": ("rnn2spice.spice",),
    "subprocess": ("rnn2spice.spice",),
}


@pytest.mark.parametrize("name,path", MODULES, ids=[m for m, _ in MODULES])
def test_only_the_command_line_prints_and_parses_and_only_spice_runs_ngspice(name, path):
    tree = ast.parse(path.read_text())
    for lineno, target in imported(path):
        top = target.split(".")[0]
        if top in FORBIDDEN:
            assert any(name.startswith(p) for p in FORBIDDEN[top]), \
                f"{path.relative_to(PACKAGE.parent)}:{lineno} imports {top}"
    if not name.startswith(("rnn2spice.cli", "rnn2spice.__main__")):
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id not in ("print", "exit"), \
                    f"{path.relative_to(PACKAGE.parent)}:{node.lineno} calls {node.func.id}()"
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                assert not (node.value.id == "sys" and node.attr in ("exit", "stdout", "stderr")), \
                    f"{path.relative_to(PACKAGE.parent)}:{node.lineno} uses sys.{node.attr}"


@pytest.mark.parametrize("name,path", MODULES, ids=[m for m, _ in MODULES])
def test_modules_stay_short_or_say_why(name, path):
    text = path.read_text()
    lines = text.count("\n")
    if lines > MAX_LINES:
        doc = ast.get_docstring(ast.parse(text)) or ""
        assert re.search(r"(longer than|over) 400 lines", doc), (f"{path.relative_to(PACKAGE.parent)} has {lines} lines; split it "
                                              f"or say in its docstring why it is longer than {MAX_LINES}")


def test_help_lists_the_api():
    proc = subprocess.run([sys.executable, "-c", "import rnn2spice; help(rnn2spice)"], capture_output=True,
                          text=True, timeout=120, env={"PAGER": "cat", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    for name in ("load", "compile", "verify", "simulate", "check", "ac", "import_model", "task", "Network"):
        assert name in rnn2spice.__all__
        assert f"\n    {name}(" in proc.stdout or f"class {name}" in proc.stdout, name
