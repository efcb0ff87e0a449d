"""Component tolerances: a perturbed copy of a compiled circuit (Monte Carlo runs).

Every resistor, capacitor and inductor of the circuit IR (:class:`~rnn2spice.circuit.ir.Resistor`,
``Capacitor``, ``Inductor``: the cells, loops and, with the gyrator coupling, the coupling
resistors) gets its own factor ``f``: the perturbed value is ``f * value``.  Controlled and
behavioural sources (the weights), input sources and initial conditions are left as they
are: they stand for the network, the passive parts for what a real circuit builds it from.

Distributions of ``f`` for a relative tolerance ``t`` (0 <= t < 1):

* ``uniform``: ``f`` uniform in ``[1 - t, 1 + t]``;
* ``normal``: ``f = 1 + t/3 * z`` with ``z`` standard normal truncated to ``|z| <= 3``
  (tolerance = 3 sigma; a draw beyond is drawn again), so every value stays within ``t``.

Draws are reproducible: the factors of run ``k`` of a study seeded with ``seed`` come from
``numpy.random.default_rng(SeedSequence(seed, spawn_key=(k,)))`` -- the ``k``-th child of
``SeedSequence(seed).spawn`` -- in the order of the circuit's elements (:func:`passive_indices`);
``(seed, k)`` is the run's *seed path*, enough to draw its factors again alone.

A perturbed circuit is not the network (that is the point of it): nothing certifies it.

**Real parts** (THEORY.md 11): after the passive factors, the same generator draws, in
element order, each library op-amp instance's input offset ``vos`` (normal, sigma the data
sheet's typical |Vos|, truncated at 3 sigma) and each transistor's own model card with
``IS`` and ``BF`` scaled by ``1 + sigma z`` (sigma :data:`MISMATCH`, truncated at 3 sigma):
the mismatch of a matched pair (e.g. a DMMT3904 dual), not of two loose 2N3904s.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from rnn2spice.circuit import ir
from rnn2spice.errors import UsageError
from rnn2spice.network.numbers import is_real

DISTRIBUTIONS = ("uniform", "normal")
#: The value field of each perturbed element kind.
FIELDS = {ir.Resistor: "resistance", ir.Capacitor: "capacitance", ir.Inductor: "inductance"}
#: Largest relative tolerance: a factor must stay positive.
MAX_TOLERANCE = 0.99
#: The normal distribution's sigma is the tolerance over this (tolerance = 3 sigma).
SIGMAS = 3.0
#: Relative sigma of a transistor's saturation current and current gain (module docstring).
MISMATCH = {"IS": 0.05, "BF": 0.10}


def check_tolerance(tolerance, name: str = "tolerance") -> float:
    """A relative tolerance 0 <= t <= :data:`MAX_TOLERANCE` as a float, else UsageError naming ``name``."""
    if (not is_real(tolerance) or not math.isfinite(tolerance)
            or not 0 <= tolerance <= MAX_TOLERANCE):
        raise UsageError(f"{name} must be a relative tolerance between 0 and {MAX_TOLERANCE:g} "
                         f"(0 % .. {100 * MAX_TOLERANCE:g} %) (got {tolerance!r})")
    return float(tolerance)


def check_distribution(distribution, name: str = "distribution") -> str:
    if distribution not in DISTRIBUTIONS:
        raise UsageError(f"{name} must be one of {', '.join(DISTRIBUTIONS)} (got {distribution!r})")
    return distribution


def seed_sequence(seed: int, run: int) -> np.random.SeedSequence:
    """The seed sequence of run ``run`` of a study seeded with ``seed`` (module docstring)."""
    return np.random.SeedSequence(int(seed), spawn_key=(int(run),))


def passive_indices(circuit: ir.Circuit) -> list[int]:
    """Indices (into ``circuit.elements``) of the resistors, capacitors and inductors, in order."""
    return [i for i, e in enumerate(circuit.elements) if type(e) in FIELDS]


def draw_factors(count: int, tolerance: float, distribution: str, rng: np.random.Generator) -> np.ndarray:
    """``count`` factors (module docstring); all 1.0 (and nothing drawn) for ``tolerance`` 0."""
    tolerance = check_tolerance(tolerance)
    check_distribution(distribution)
    if tolerance == 0.0:
        return np.ones(count)
    if distribution == "uniform":
        return 1.0 + tolerance * rng.uniform(-1.0, 1.0, count)
    z = rng.standard_normal(count)
    while True:
        out = np.abs(z) > SIGMAS
        if not out.any():
            break
        z[out] = rng.standard_normal(int(out.sum()))
    return 1.0 + (tolerance / SIGMAS) * z


def perturb(circuit: ir.Circuit, factors: np.ndarray) -> ir.Circuit:
    """A copy of ``circuit`` with the value of its ``i``-th passive element (:func:`passive_indices`)
    multiplied by ``factors[i]``."""
    where = passive_indices(circuit)
    factors = np.asarray(factors, dtype=float)
    if factors.shape != (len(where),):
        raise UsageError(f"factors must hold one factor per resistor, capacitor and inductor ({len(where)}) "
                         f"(got shape {factors.shape})")
    elements = list(circuit.elements)
    for i, f in zip(where, factors.tolist()):
        e = elements[i]
        name = FIELDS[type(e)]
        elements[i] = dataclasses.replace(e, **{name: getattr(e, name) * f})
    return dataclasses.replace(circuit, elements=tuple(elements))


def perturbed(circuit: ir.Circuit, tolerance: float, distribution: str, seed: int,
              run: int) -> tuple[ir.Circuit, np.ndarray]:
    """Run ``run`` of a study seeded with ``seed``: the perturbed circuit and its factors
    (real parts: also the offsets and transistor mismatch, module docstring)."""
    rng = np.random.default_rng(seed_sequence(seed, run))
    factors = draw_factors(len(passive_indices(circuit)), tolerance, distribution, rng)
    out = perturb(circuit, factors)
    if any(isinstance(e, ir.REAL_PARTS) for e in circuit.elements):
        out = perturb_parts(out, rng)
    return out, factors


def _truncated(rng: np.random.Generator, count: int) -> np.ndarray:
    z = rng.standard_normal(count)
    while True:
        out = np.abs(z) > SIGMAS
        if not out.any():
            return z
        z[out] = rng.standard_normal(int(out.sum()))


def perturb_parts(circuit: ir.Circuit, rng: np.random.Generator) -> ir.Circuit:
    """Op-amp offsets and transistor mismatch drawn from ``rng`` (module docstring)."""
    from rnn2spice.circuit.partlib import OPAMPS

    cards = {e.name: e for e in circuit.elements if isinstance(e, ir.ModelCard)}
    elements, extra = [], []
    for e in circuit.elements:
        if isinstance(e, ir.Instance) and e.subckt in OPAMPS:
            vos = float(OPAMPS[e.subckt].offset * _truncated(rng, 1)[0])
            e = dataclasses.replace(e, params=tuple((k, v) for k, v in e.params if k != "vos") + (("vos", vos),))
        elif isinstance(e, ir.Bjt) and e.model in cards:
            z = _truncated(rng, 2)
            card = cards[e.model]
            params = tuple((k, v * (1.0 + MISMATCH[k] * z[0 if k == "IS" else 1]) if k in MISMATCH else v)
                           for k, v in card.params)
            name = f"{card.name}_{e.name}".lower()
            extra.append(ir.ModelCard(name, card.kind, params))
            e = dataclasses.replace(e, model=name)
        elements.append(e)
    return dataclasses.replace(circuit, elements=tuple(extra + elements))
