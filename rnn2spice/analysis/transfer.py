"""Linearisation and the exact transfer matrix of a network (THEORY.md sections 6 and 7).

Every convention, at a state h (and inputs x), linearised (f' from
:mod:`rnn2spice.network.activations`, paper-form w = D W, w_in = D U for ctrnn and rate):

    paper:  z = w h + w_in x           A = diag(f'(z)) w - lam        B = diag(f'(z)) w_in
    ctrnn:  z = W h + U x + b          A = diag(f'(z)) w - lam        B = diag(f'(z)) w_in
    rate:                              A = w diag(f'(h)) - lam        B = w_in

(rate: A = (W diag f'(x) - I) / tau).  Linear networks have f' = 1: A = w - lam.
"""

from __future__ import annotations

import numpy as np
from rnn2spice._blas import one_blas_thread

from rnn2spice.analysis.reference import input_values
from rnn2spice.circuit.realparts import Build
from rnn2spice.errors import UsageError
from rnn2spice.network.activations import ACTIVATIONS
from rnn2spice.network.spec import RnnSpec


def argument(spec: RnnSpec, h: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The argument of f per neuron (dimensionless): h itself in the rate convention, the
    weighted sum z inside it otherwise."""
    h, x = np.asarray(h, dtype=float), np.asarray(x, dtype=float)
    if spec.convention == "rate":
        return h
    return np.asarray(spec.w) @ h + np.asarray(spec.w_in) @ x + (np.asarray(spec.bias) if spec.convention == "ctrnn" else 0.0)


def derivative(spec: RnnSpec, h: np.ndarray, x: np.ndarray) -> np.ndarray:
    """dh/dt (1/s) at state ``h`` and inputs ``x``: the network's right-hand side."""
    f = ACTIVATIONS[spec.activation].f
    w, w_in, drive = spec.paper_form()
    h, x = np.asarray(h, dtype=float), np.asarray(x, dtype=float)
    if spec.convention == "rate":
        return -spec.lam * h + w @ f(h) + w_in @ x + drive
    gain = spec.lam if spec.convention == "ctrnn" else 1.0
    return -spec.lam * h + gain * f(argument(spec, h, x))


def linearisation(spec: RnnSpec, h: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(A, B) of the network linearised at state ``h`` and inputs ``x`` (1/s; module docstring)."""
    w, w_in, _ = spec.paper_form()
    s = ACTIVATIONS[spec.activation].slope(argument(spec, h, x))
    if spec.convention == "rate":
        return w * s[None, :] - np.diag(spec.lam), np.asarray(w_in)
    return s[:, None] * w - np.diag(spec.lam), s[:, None] * w_in


def operating_point(spec: RnnSpec, x: np.ndarray | None = None) -> np.ndarray:
    """An equilibrium h* (dh/dt = 0) at constant inputs ``x`` (default 0), by Newton's method
    from h = 0 as ngspice's DC operating point starts; raises UsageError when none is found.
    With several equilibria this is the one Newton reaches from 0, which is ngspice's when
    the network is contracting (e.g. |W| max|f'| < 1)."""
    x = np.zeros(spec.m) if x is None else np.asarray(x, dtype=float)
    if spec.activation == "linear":
        _, w_in, drive = spec.paper_form()
        return np.linalg.solve(spec.state_matrix(), -(w_in @ x + drive))
    scale = float(np.max(np.abs(spec.lam)))
    h = np.zeros(spec.n)
    with one_blas_thread():
        for _ in range(200):  # Newton (semi-smooth at a kink: f' one-sided there)
            step = np.linalg.lstsq(linearisation(spec, h, x)[0], derivative(spec, h, x), rcond=None)[0]
            h = h - step
            if np.max(np.abs(step)) <= 1e-15 * max(1.0, float(np.max(np.abs(h)))):
                break
    residual = float(np.max(np.abs(derivative(spec, h, x)))) if spec.n else 0.0
    if not (np.all(np.isfinite(h)) and residual <= 1e-12 * scale * max(1.0, float(np.max(np.abs(h))))):
        raise UsageError(f"spec {spec.name}: Newton's method from h = 0 finds no operating point (equilibrium) to "
                         f"linearise at (residual |dh/dt| {residual:.3g} 1/s)")
    return h


def transfer_matrix(spec: RnnSpec, frequency: np.ndarray, at: tuple | None = None) -> np.ndarray:
    """Exact ``H(j 2 pi f) = (j 2 pi f I - A)^-1 B``, shape (F, n, m): the linear network's
    (A = w - lam, B = w_in, paper form), or with ``at = (h, x)`` the linearisation there."""
    if at is None:
        a = spec.state_matrix()
        _, w_in, _ = spec.paper_form()
    else:
        a, w_in = linearisation(spec, *at)
    freq = np.asarray(frequency, dtype=float)
    mats = (2j * np.pi * freq)[:, None, None] * np.eye(spec.n)[None] - a[None].astype(complex)
    rhs = np.broadcast_to(np.asarray(w_in, dtype=complex), (freq.size, spec.n, spec.m))
    with one_blas_thread():  # small systems: threads only spin
        return np.linalg.solve(mats, rhs)


def stability(spec: RnnSpec, states: np.ndarray) -> dict:
    """How the network behaves over the run: ``growth_rate`` (1/s), the largest real part of
    the eigenvalues of A (linear) or of the network linearised at h0 with the inputs at
    t = 0 (nonlinear); ``largest_state``, max |h| over ``states`` (model units) and as the
    circuit carries it (x state scale: V, or A in the series form); ``unstable`` when the
    growth rate is positive.  An ideal netlist follows the growth; a real circuit saturates
    at its supply rails, so it realises the network only while its signals stay within them."""
    x0 = input_values(spec, np.zeros(1))[0]
    a = spec.state_matrix() if spec.activation == "linear" else linearisation(spec, np.asarray(spec.h0), x0)[0]
    with one_blas_thread():
        growth = float(np.max(np.linalg.eigvals(a).real)) if spec.n else 0.0
    largest = float(np.max(np.abs(states))) if np.size(states) else 0.0
    rails = Build().rails(spec)  # the spec's circuit.supply, else a real build's default
    in_circuit = largest * spec.state_scale
    start = float(np.max(np.abs(spec.h0))) if spec.n else 0.0
    return {"growth_rate": growth, "growth_over_run": growth * spec.t_stop, "unstable": growth > 0.0,
            "largest_state": largest, "largest_state_in_circuit": in_circuit, "rails": tuple(rails),
            "state_scale": float(spec.state_scale),
            # the states grew by far less than the linearisation at h0 says (a tanh network's
            # states stay bounded): "exp(474) over the run" would misdescribe a state of 20
            "bounded": bool(spec.activation != "linear"
                            and largest <= max(start, 1e-300) * np.exp(min(growth * spec.t_stop, 700.0) / 2)),
            # what a builder must know: the states leave the supply a real circuit would have
            "beyond_rails": bool(in_circuit >= min(abs(rails[0]), abs(rails[1])))}


def describe_stability(info: dict) -> str:
    """One summary line for an unstable network whose states leave the supply rails (empty
    otherwise: a nonlinear network unstable at h0 whose activation bounds its states, as most
    trained decision networks are, is nothing a builder must be warned of)."""
    if not (info["unstable"] and info.get("beyond_rails", True)):
        return ""
    if info.get("bounded"):   # a chaotic or saturating network: large, not growing, states
        low = min(abs(info["rails"][0]), abs(info["rails"][1]))
        fit = 0.8 * low / info["largest_state"]   # the state_scale that puts the largest state at 0.8 of a rail
        return (f"states beyond the supply rails: the largest state is {info['largest_state']:.3g} "
                f"({info['largest_state_in_circuit']:.3g} V or A in the circuit; the network, unstable at h0 with "
                f"growth rate {info['growth_rate']:.3g} 1/s, stays bounded); the verdict is about equivalence with the "
                f"ideal netlist: a real circuit clips at its supply rails ({info['rails'][0]:g} .. "
                f"{info['rails'][1]:g} V); circuit: {{state_scale: {fit:.2g}}} would keep the states within "
                f"0.8 of them")
    return (f"unstable network: growth rate {info['growth_rate']:.3g} 1/s (largest Re eig, exp({info['growth_over_run']:.3g}) "
            f"over the run), largest state {info['largest_state']:.3g} ({info['largest_state_in_circuit']:.3g} V or A "
            "in the circuit); the verdict is about equivalence with the ideal netlist: a real circuit saturates at "
            f"its supply rails ({info['rails'][0]:g} .. {info['rails'][1]:g} V) long before such states")
