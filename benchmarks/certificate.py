"""Cost of the certificate (issue 18): time per form at n = 30 and 100, memory of an n = 800 op-amp circuit.

    python benchmarks/certificate.py [--ref /path/to/other/checkout] [--n-large 800]

Also the certificate as ``verify`` runs it, with ngspice's values, at n = 30 and 100 (parallel
and series), as rows of benchmarks/rows.py against parsing the same netlist in the same run
(targets 0.25 s and 0.6 s).

Each figure is the best of several runs of ``verify_netlist(..., ngspice=False)`` (the
certificate proper: parse, state equations, comparison; asking ngspice adds one ``ngspice -b``
load, ~0.2 s at n = 100) on a random tanh CTRNN.  The baseline is measured in the same run:
parsing the same netlist (the floor every certificate pays), and with ``--ref`` the same
script in another checkout of rnn2spice (e.g. the commit before issue 18), each in a child
process.  Memory: peak resident size of a child process certifying an n = 800 sparse tanh
network (1 % of weights non-zero) in the op-amp form against the parallel form (target: at
most 2x).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from rows import markdown_row  # noqa: E402

CHILD = r"""
import json, resource, sys, time
import numpy as np
sys.path.insert(0, sys.argv[1] + "/tests")
from conftest import random_spec
from rnn2spice.circuit.compiler import compile_rnn
from rnn2spice.circuit.reader import parse_netlist
from rnn2spice.analysis.certificate import verify_netlist
from rnn2spice.network.spec import spec_from_dict
mode = sys.argv[2]
out = {}
if mode == "time":
    for n in (30, 100):
        spec = random_spec(n, seed=n, kinds=("step", "sine"), convention="ctrnn", activation="tanh")
        for form in ("parallel", "series", "opamp"):
            text = compile_rnn(spec, form=form).netlist
            best = parse = 1e9
            for _ in range(5 if n == 30 else 3):
                t = time.perf_counter(); parse_netlist(text); parse = min(parse, time.perf_counter() - t)
                t = time.perf_counter(); ok = verify_netlist(text, spec, ngspice=False).passed
                best = min(best, time.perf_counter() - t)
            out[f"{n} {form}"] = [best, parse, ok]
elif mode == "ngspice":   # as `verify` runs it: the values as ngspice holds them (one ngspice load)
    for n in (30, 100):
        spec = random_spec(n, seed=n, kinds=("step", "sine"), convention="ctrnn")
        for form in ("parallel", "series"):
            text = compile_rnn(spec, form=form).netlist
            verify_netlist(text, spec)   # warm: the shared library's first load is not the certificate's
            best = parse = 1e9
            for _ in range(3):
                t = time.perf_counter(); parse_netlist(text); parse = min(parse, time.perf_counter() - t)
                t = time.perf_counter(); ok = verify_netlist(text, spec).passed
                best = min(best, time.perf_counter() - t)
            out[f"{n} {form}"] = [best, parse, ok]
else:
    n = int(sys.argv[4])
    rng = np.random.default_rng(1)
    w = np.where(rng.uniform(size=(n, n)) < 0.01, rng.standard_normal((n, n)) * 0.5, 0.0)
    spec = spec_from_dict({"name": "sparse", "tau": 1e-3, "w": w.tolist(), "convention": "ctrnn",
                           "activation": "tanh", "h0": rng.uniform(-1, 1, n).tolist(), "t_stop": 5e-3})
    text = compile_rnn(spec, form=sys.argv[3]).netlist
    t = time.perf_counter()
    ok = verify_netlist(text, spec, ngspice=False).passed
    out = {"seconds": time.perf_counter() - t, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
           "passed": ok}
print("RESULT" + json.dumps(out))
"""


def child(checkout: Path, *args) -> dict:
    env = dict(os.environ, PYTHONPATH=str(checkout))
    done = subprocess.run([sys.executable, "-c", CHILD, str(ROOT), *args], capture_output=True, text=True, env=env,
                          check=True)
    return json.loads(done.stdout.split("RESULT", 1)[1])


#: The certificate with ngspice's values at n = 100 (issue 18), and at n = 30 (was a timed unit
#: test, tests/test_certificate.py, until it moved here: speed is a benchmark).
TARGET_S = {30: 0.25, 100: 0.6}


def ngspice_rows(measured: dict) -> list[dict]:
    """Rows (benchmarks/rows.py) of ``verify_netlist`` with ngspice's values, against the
    baseline measured in the same run: parsing the same netlist."""
    rows = []
    for key, (best, parse, ok) in measured.items():
        n = int(key.split()[0])
        rows.append({"what": f"certificate with ngspice's values, n = {key}" + ("" if ok else " (FAIL)"),
                     "baseline_s": parse, "ours_s": best, "ratio": best / parse,
                     "target": f"<= {TARGET_S[n]} s", "ok": ok and best <= TARGET_S[n]})
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--ref", type=Path, default=None, help="another checkout of rnn2spice to compare with")
    p.add_argument("--n-large", type=int, default=800, help="size of the memory case (0: skip it)")
    args = p.parse_args()
    here = child(ROOT, "time")
    ref = child(args.ref, "time") if args.ref else None
    print("| n, form | certificate (s) | / parse | " + ("/ reference |" if ref else ""))
    for key, (best, parse, ok) in here.items():
        row = f"| {key} | {best:.3f}{'' if ok else ' FAIL'} | {best / parse:.2f} |"
        if ref:
            row += f" {best / ref[key][0]:.2f} |"
        print(row)
    print()
    print("| what | baseline | ours | ratio | target | met |\n|---|---|---|---|---|---|")
    for row in ngspice_rows(child(ROOT, "ngspice")):
        print(markdown_row(row))
    if args.n_large <= 0:
        return
    mem = {form: child(ROOT, "memory", form, str(args.n_large)) for form in ("parallel", "opamp")}
    print(f"n = {args.n_large} sparse tanh: parallel {mem['parallel']['peak_mb']:.0f} MB, {mem['parallel']['seconds']:.1f} s; "
          f"opamp {mem['opamp']['peak_mb']:.0f} MB, {mem['opamp']['seconds']:.1f} s; "
          f"ratio {mem['opamp']['peak_mb'] / mem['parallel']['peak_mb']:.2f} (target <= 2)")


if __name__ == "__main__":
    main()
