"""The verdict of a task trial in words: each criterion (rnn2spice.workflows.task's module
docstring) with the value it was judged on against its limit, so that a failure says which
criterion failed and by how much (new-user finding on issue 19: the line said only FAIL).
"""

from __future__ import annotations

import numpy as np


def _compared(value: float, limit: float) -> tuple[str, str]:
    """``value`` and ``limit`` as text that compares as the numbers do: the limit as given
    (``%g``, or every digit when that rounds it), the value with 4 significant digits or as
    many more as it takes (0.050004 > 0.05, not 0.05 > 0.05)."""
    limit_text = f"{limit:g}" if float(f"{limit:g}") == limit else repr(limit)
    shown = float(limit_text)
    for digits in range(4, 18):
        text = f"{value:.{digits}g}"
        if (float(text) > shown) == (value > limit) and (float(text) == shown) == (value == limit):
            return text, limit_text
    return repr(value), limit_text


def _decisions(values) -> str:
    return ",".join(f"{v:+d}" if v else "0" for v in values)


def _means(values) -> str:
    return ",".join(f"{v:+.3g}" for v in values)


def trial_criteria(trial) -> list[tuple[str, bool, str]]:
    """Each criterion of a :class:`~rnn2spice.workflows.task.TrialResult` as ``(name,
    passed, measured)``: the name is its key in ``checks()`` and the report, ``measured`` the value it was
    judged on against its limit, in words (``"|mean SPICE - discrete| 0.083 > 0.05"``)."""
    st, diff, tol = trial.stats, trial.differences(), trial.tolerance
    sd, sr = diff["spice_vs_discrete"], diff["spice_vs_reference"]

    def within(name: str, what: str, value: float) -> tuple[str, bool, str]:
        ok = value <= tol
        value_text, limit_text = _compared(value, tol)
        return name, ok, f"{what} {value_text} {'<=' if ok else '>'} tolerance {limit_text}"

    circuit = within("circuit_within_tolerance", "max |SPICE - reference| over the trial"
                     + ("" if trial.horizon is None else f" (to the horizon {trial.horizon:.3g} s)"), sr["max_trial"])
    # A chaotic trial (issue 24, THEORY.md 9): beyond the horizon the circuit and the discrete
    # network are two trajectories that have parted, so a pointwise comparison of their readouts
    # there says nothing about the circuit; up to the horizon it still does.
    s, e = trial.stimulus.window
    grid = np.asarray(trial.grid, dtype=float)
    beyond = trial.horizon is not None and e > s and float(grid[e - 1]) > trial.horizon
    upto = e if not beyond else s + int(np.searchsorted(grid[s:e], trial.horizon, side="right"))

    def not_judged(name: str) -> tuple[str, bool, str]:
        return name, True, (f"not judged: the window ends beyond the horizon {trial.horizon:.3g} s, where a "
                            f"chaotic trial's circuit and discrete network part")

    if trial.criterion == "trajectory":
        if not beyond:
            pointwise = [within("trajectory_max_within_tolerance", "max |SPICE - discrete| over the window",
                                sd["max_window"]),
                         within("trajectory_rms_within_tolerance", "RMS |SPICE - discrete| over the window",
                                sd["rms_window"])]
        elif upto > s:   # the part of the window before the horizon
            d = np.asarray(trial.y_spice)[s:upto] - np.asarray(trial.y_discrete)[s:upto]
            part = f"over the window up to the horizon {trial.horizon:.3g} s"
            pointwise = [within("trajectory_max_within_tolerance", f"max |SPICE - discrete| {part}",
                                float(np.max(np.abs(d)))),
                         within("trajectory_rms_within_tolerance", f"RMS |SPICE - discrete| {part}",
                                float(np.max(np.sqrt(np.mean(d ** 2, axis=0)))))]
        else:
            pointwise = [not_judged("trajectory_max_within_tolerance"), not_judged("trajectory_rms_within_tolerance")]
        return [*pointwise, circuit]
    spice, discrete = st["spice"]["decision"], st["discrete"]["decision"]
    out = [("decision_match", spice == discrete,
            f"decision SPICE {_decisions(spice)} {'=' if spice == discrete else '!='} discrete {_decisions(discrete)}"
            f" (mean readout {_means(st['spice']['mean'])} vs {_means(st['discrete']['mean'])}, "
            f"dead zone {trial.dead_zone:g})"),
           not_judged("mean_within_tolerance") if beyond else
           within("mean_within_tolerance", "|mean SPICE - discrete| over the window", sd["mean"]),
           not_judged("end_within_tolerance") if beyond else
           within("end_within_tolerance", "|SPICE - discrete| at the window's end", sd["end"]),
           circuit]
    if trial.strict:
        out.append(not_judged("max_window_within_tolerance") if beyond else
                   within("max_window_within_tolerance", "max |SPICE - discrete| over the window", sd["max_window"]))
    return out


def failed_criteria(trials) -> list[str]:
    """Per criterion that failed in any of ``trials``: its name, in how many trials, and the
    measured value of the first trial that failed it (``trial k: ... > tolerance``)."""
    out: dict[str, list] = {}
    for k, trial in enumerate(trials):
        for name, ok, measured in trial.criteria():
            if not ok:
                out.setdefault(name, [0, k, measured])[0] += 1
    total = len(trials)
    return [f"{name} in {count}/{total} trial{'s' if total > 1 else ''} ("
            + (f"trial {k + 1}: " if total > 1 else "") + f"{measured})"
            for name, (count, k, measured) in out.items()]
