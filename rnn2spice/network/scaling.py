"""The circuit's time and state scales (THEORY.md section 5): the network a circuit realises.

A spec's ``circuit.time_scale`` k and ``circuit.state_scale`` s (:class:`RnnSpec` fields,
validated in :mod:`rnn2spice.network.spec`) make the circuit run in circuit time
``t_c = t / k`` with ``v = s h`` (volts, or amperes in the series form) per unit of state.
The circuit's state then obeys ``dv/dt_c = k s (dh/dt)``:

    linear:    dv/dt_c = k A v + k w_in u + k s c,          u(t_c) = s x(k t_c),  v(0) = s h0

and a nonlinear network takes its activation's argument in model units (weights / s inside,
s outside).  :func:`circuit_time` is the network in circuit time (tau / k, paper weights
x k, every time / k, model units); the forms apply s themselves.  :func:`to_model` maps an
ngspice trajectory back.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from rnn2spice.errors import UsageError
from rnn2spice.network.spec import RnnSpec
from rnn2spice.network.waveform import Pulse, Pwl, Sine, Step, Waveform


def is_scaled(spec: RnnSpec) -> bool:
    """True unless both scales are 1."""
    return spec.time_scale != 1.0 or spec.state_scale != 1.0


def scale_wave(wave: Waveform, k: float, s: float) -> Waveform:
    """The input as the circuit's source carries it: ``s x(k t_c)`` (times / k, values x s)."""
    if k == 1.0 and s == 1.0:
        return wave
    if isinstance(wave, Step):
        return Step(wave.value_after * s, wave.at / k, wave.rise / k)
    if isinstance(wave, Pulse):
        return Pulse(wave.low * s, wave.high * s, wave.delay / k, wave.rise / k, wave.fall / k, wave.width / k,
                     wave.period / k)
    if isinstance(wave, Pwl):
        return Pwl(tuple(t / k for t in wave.times), tuple(v * s for v in wave.values))
    if isinstance(wave, Sine):
        return Sine(wave.amplitude * s, wave.frequency * k, wave.offset * s, wave.phase)
    raise TypeError(f"unknown waveform {type(wave).__name__}")  # pragma: no cover


def circuit_time(spec: RnnSpec) -> RnnSpec:
    """The network in circuit time, in model units: tau / k, t_stop / k, t_step / k, input
    times / k; the paper convention's weights (1/s) x k (ctrnn and rate weights are
    dimensionless).  Its scales are 1 (applied); ``spec`` itself when k = 1."""
    k = spec.time_scale
    if k == 1.0:
        return spec if spec.state_scale == 1.0 else replace(spec, state_scale=1.0)
    paper = spec.convention == "paper"
    return replace(spec, tau=spec.tau / k, w=spec.w * k if paper else spec.w.copy(),
                   w_in=spec.w_in * k if paper else spec.w_in.copy(),
                   inputs=tuple(scale_wave(w, k, 1.0) for w in spec.inputs), t_stop=spec.t_stop / k,
                   t_step=None if spec.t_step is None else spec.t_step / k, time_scale=1.0, state_scale=1.0,
                   h0=spec.h0.copy(), bias=spec.bias.copy(),
                   w_factors=(spec.w_factors if spec.w_factors is None or not paper else
                              (spec.w_factors[0] * k, spec.w_factors[1].copy())))


def circuit_inputs(spec: RnnSpec) -> RnnSpec:
    """:func:`circuit_time` with the inputs as the sources carry them (x s): what the
    certificate holds ngspice's source functions and analysis card to."""
    c = circuit_time(spec)
    s = spec.state_scale
    return c if s == 1.0 else replace(c, inputs=tuple(scale_wave(w, 1.0, s) for w in c.inputs),
                                      h0=c.h0 * s, bias=c.bias.copy())


def to_model(spec: RnnSpec, time: np.ndarray, states: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ngspice's time (s) and states (V or A) mapped to model time and units: t k, v / s."""
    k, s = spec.time_scale, spec.state_scale
    return (time if k == 1.0 else time * k), (states if s == 1.0 else states / s)


def unscaled_only(spec: RnnSpec, what: str) -> None:
    """Refuse a time or state scale: ``what`` (snap, opamp_error) compares the netlist's own
    equations and waveforms with the model in the model's time and units."""
    if is_scaled(spec):
        raise UsageError(f"{what} does not support circuit.time_scale / circuit.state_scale (--time-scale / "
                         f"--state-scale) yet (spec {spec.name}: time_scale {spec.time_scale!r}, state_scale "
                         f"{spec.state_scale!r}); use 1")


def describe(spec: RnnSpec) -> str:
    """One line for headers and summaries."""
    unit = "V (A in the series form)"
    return (f"scales (THEORY.md 5): circuit time = model time / {spec.time_scale!r} (time_scale), "
            f"{spec.state_scale!r} {unit} per unit of h (state_scale)")
