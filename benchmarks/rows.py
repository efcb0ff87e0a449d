"""One markdown row of a benchmark table, for run.py and the scripts it also runs alone."""

from __future__ import annotations

import math


def markdown_row(r: dict) -> str:
    """``| what | baseline | ours | ratio | target | met |``; a baseline not measured is —."""
    base = "—" if math.isnan(r["baseline_s"]) else f"{r['baseline_s']:.3g} s"
    ratio = "—" if math.isnan(r["ratio"]) else f"{r['ratio']:.3g}"
    return f"| {r['what']} | {base} | {r['ours_s']:.3g} s | {ratio} | {r['target']} | {'yes' if r['ok'] else '**no**'} |"
