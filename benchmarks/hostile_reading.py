"""Cost of refusing hostile model files and of showing a hostile value (issue 19's guards).

    python benchmarks/hostile_reading.py

Each hostile model file of tests/test_hostile.py (MODEL_FILES) is read with
``read_model`` (best of 3; it must raise ModelError), against the baseline measured in the
same run: reading a small valid Keras file. ``errors.shown`` of a list nested 64 deep that
shares itself (2^64 leaves unbounded) against ``shown`` of a plain 60-character list.  Rows in
the format of benchmarks/rows.py.  These were timed assertions in the unit tests (0.5 s,
0.1 s); the tests keep only hang guards (tests/test_hostile.py TIME_LIMIT): speed is a
benchmark, never a timed unit test.
"""

from __future__ import annotations

import collections
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
from rows import markdown_row  # noqa: E402

TARGETS = {"model": 0.5, "shown": 0.1}   # s: what the unit tests used to assert


def best(fn, repeat: int = 3) -> float:
    out = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out = min(out, time.perf_counter() - start)
    return out


def main() -> None:
    from test_hostile import MODEL_FILES, keras_file

    from rnn2spice.errors import ModelError, shown
    from rnn2spice.workflows.importers.detect import read_model

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        good = Path(tmp) / "good.h5"
        keras_file(good)
        baseline = best(lambda: read_model(good, "keras"))
        for name, (build, fmt) in MODEL_FILES.items():
            path = Path(tmp) / name
            build(path)

            def refused(path=path, fmt=fmt):
                try:
                    read_model(path, fmt)
                except ModelError:
                    return
                raise AssertionError(f"{path.name} was read")

            ours = best(refused)
            rows.append({"what": f"hostile model file {name} refused", "baseline_s": baseline, "ours_s": ours,
                         "ratio": ours / baseline, "target": f"<= {TARGETS['model']} s",
                         "ok": ours <= TARGETS["model"]})
    bomb: list = []
    for _ in range(64):
        bomb = [bomb, bomb]
    plain = best(lambda: shown(list(range(30)), 60))
    ours = best(lambda: shown(collections.OrderedDict(w=bomb), 60))
    rows.append({"what": "shown() of a self-sharing list 64 deep", "baseline_s": plain, "ours_s": ours,
                 "ratio": ours / plain, "target": f"<= {TARGETS['shown']} s", "ok": ours <= TARGETS["shown"]})
    print("| what | baseline | ours | ratio | target | met |\n|---|---|---|---|---|---|")
    for row in rows:
        print(markdown_row(row))


if __name__ == "__main__":
    main()
