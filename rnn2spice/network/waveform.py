"""Input waveforms x_l(t), shared by the netlist writer and the exact reference.

One object drives both the SPICE source card and the reference solution, so the two
cannot disagree.  Every waveform is either piecewise linear (``Step``, ``Pulse``, ``Pwl``;
knots in seconds and model units) or a sinusoid (``Sine``).  The SPICE semantics are
reproduced exactly: before its first knot a PWL holds its first value, after the last
knot its last value; a pulse repeats every ``period`` counted from ``delay``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Piece:
    """The input on one interval [t0, t1] with no breakpoint inside it:

    ``x(t) = a + b (t - t0) + amplitude sin(omega t + phase)``  (t in s, omega in rad/s).
    """

    t0: float
    t1: float
    a: float
    b: float
    amplitude: float = 0.0
    omega: float = 0.0
    phase: float = 0.0


class PiecewiseLinear:
    """Mixin: a waveform defined by knots (t_i, v_i) over [0, t_stop]."""

    def knots(self, t_stop: float) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - abstract
        raise NotImplementedError

    def value(self, t, t_stop: float):
        """x(t) for an array of times (s), constant outside the knots as in SPICE."""
        tk, vk = self.knots(t_stop)
        return np.interp(np.asarray(t, dtype=float), tk, vk)

    def breakpoints(self, t_stop: float) -> np.ndarray:
        tk, _ = self.knots(t_stop)
        return tk[(tk > 0.0) & (tk < t_stop)]

    def piece(self, t0: float, t1: float, t_stop: float) -> Piece:
        """Linear on [t0, t1] (no knot inside), so two evaluations fix it exactly."""
        v0, v1 = self.value(np.array([t0, t1]), t_stop)
        return Piece(t0, t1, float(v0), float((v1 - v0) / (t1 - t0)))


@dataclass(frozen=True)
class Step(PiecewiseLinear):
    """0 before ``at`` (s), ``value`` after ``at + rise``; a linear ramp of ``rise`` s between.

    A finite rise keeps the SPICE source and the reference identical (a PWL card).
    """

    value_after: float
    at: float
    rise: float

    def knots(self, t_stop):
        return np.array([self.at, self.at + self.rise]), np.array([0.0, self.value_after])


@dataclass(frozen=True)
class Pulse(PiecewiseLinear):
    """SPICE ``PULSE(low high delay rise fall width period)``; times in s."""

    low: float
    high: float
    delay: float
    rise: float
    fall: float
    width: float
    period: float

    def periods(self, t_stop: float) -> int:
        """How many periods start before ``t_stop``: ``k`` with ``delay + k period < t_stop``.

        Counted by index, never by adding ``period`` to a running time (which stands still
        when ``period`` is below an ulp of the time); the validation
        (:func:`rnn2spice.network.spec.spec_from_dict`) bounds the count.
        """
        if not self.delay < t_stop:
            return 0
        count = math.ceil((t_stop - self.delay) / self.period)
        # the division rounds: settle the boundary with the expression knots() uses (a
        # step or two at most; bounded, whatever the values)
        for _ in range(4):
            if count > 0 and not self.delay + (count - 1) * self.period < t_stop:
                count -= 1
        for _ in range(4):
            if self.delay + count * self.period < t_stop:
                count += 1
        return count

    def knots(self, t_stop):
        starts = self.delay + np.arange(self.periods(t_stop), dtype=float) * self.period
        offsets = np.array([0.0, self.rise, self.rise + self.width, self.rise + self.width + self.fall])
        levels = np.array([self.low, self.high, self.high, self.low])
        ts = np.concatenate(([0.0], (starts[:, None] + offsets[None, :]).ravel()))
        vs = np.concatenate(([self.low], np.tile(levels, starts.size)))
        # A period equal to rise+width+fall makes adjacent knots coincide (a zero delay
        # makes the first one coincide with t = 0): drop duplicates.  Knots out of order
        # cannot occur for a validated pulse (its edges are above an ulp where they occur).
        keep = np.concatenate(([True], np.diff(ts) > 0))
        return ts[keep], vs[keep]


@dataclass(frozen=True)
class Pwl(PiecewiseLinear):
    """SPICE ``PWL(t1 v1 t2 v2 ...)``: strictly increasing times (s) from 0 on."""

    times: tuple[float, ...]
    values: tuple[float, ...]

    def knots(self, t_stop):
        return np.array(self.times, dtype=float), np.array(self.values, dtype=float)


@dataclass(frozen=True)
class Sine:
    """SPICE ``SIN(offset amplitude frequency 0 0 phase)``:
    ``x(t) = offset + amplitude sin(2 pi frequency t + phase)``, frequency in Hz, phase in degrees.
    """

    amplitude: float
    frequency: float
    offset: float = 0.0
    phase: float = 0.0

    @property
    def omega(self) -> float:
        return 2.0 * math.pi * self.frequency

    def value(self, t, t_stop: float = math.inf):
        t = np.asarray(t, dtype=float)
        return self.offset + self.amplitude * np.sin(self.omega * t + math.radians(self.phase))

    def breakpoints(self, t_stop: float) -> np.ndarray:
        return np.empty(0)

    def piece(self, t0: float, t1: float, t_stop: float) -> Piece:
        return Piece(t0, t1, self.offset, 0.0, self.amplitude, self.omega, math.radians(self.phase))


Waveform = Step | Pulse | Pwl | Sine


def max_rate(waveform: Waveform) -> float:
    """Largest angular rate (rad/s) the waveform imposes on a time step: 2 pi f for a sine."""
    return waveform.omega if isinstance(waveform, Sine) else 0.0
