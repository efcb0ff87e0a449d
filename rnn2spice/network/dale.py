"""Dale's law: does every neuron act on the others with one sign?

``W[k, j]`` is the weight from neuron ``j`` to neuron ``k``, so neuron ``j``'s outgoing
weights are **column** ``j`` of ``W`` (its self-connection ``W[j, j]`` included).  Rule:

* neuron ``j`` is **excitatory** when column ``j`` has a positive entry and no negative one,
  **inhibitory** when it has a negative entry and no positive one, **silent** when it is all
  zeros (a silent neuron is compatible with either type and counts as neither), and
  **mixed** otherwise;
* ``W`` obeys Dale's law when no neuron is mixed.

Signs are exact: a weight is zero only when it is exactly ``0.0`` (PsychRNN's connectivity
masks and Dale matrices produce exact zeros; a tiny ``-1e-30`` is a negative weight).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DaleReport:
    """Per-neuron types of a recurrent matrix; ``obeys`` when no neuron is mixed."""

    n: int
    excitatory: int
    inhibitory: int
    silent: int
    mixed: int
    first_mixed: int | None        # index of the first mixed neuron, None when there is none
    signs: tuple[int, ...]         # per neuron: +1 E, -1 I, 0 silent, 2 mixed

    @property
    def obeys(self) -> bool:
        return self.mixed == 0

    def as_dict(self) -> dict:
        return {"obeys": self.obeys, "excitatory": self.excitatory, "inhibitory": self.inhibitory,
                "silent": self.silent, "mixed": self.mixed, "first_mixed_neuron": self.first_mixed,
                "rule": "neuron j's outgoing weights are column j of w (w[k, j] from j to k); E: no negative "
                        "entry, I: no positive entry, silent (all zero) counts as neither; obeys when no neuron "
                        "has both signs"}

    def describe(self) -> str:
        counts = f"{self.excitatory} E, {self.inhibitory} I" + (f", {self.silent} silent" if self.silent else "")
        if self.obeys:
            return f"Dale's law: obeyed ({counts})"
        return (f"Dale's law: not obeyed ({self.mixed} of {self.n} neurons have outgoing weights of both signs, "
                f"first neuron {self.first_mixed}; {counts})")


def dale_report(w) -> DaleReport:
    """The Dale types of the neurons of the square matrix ``w`` (module docstring)."""
    w = np.asarray(w, dtype=float)
    if w.ndim != 2 or w.shape[0] != w.shape[1]:
        raise ValueError(f"w must be a square matrix (got shape {w.shape})")
    pos = np.any(w > 0, axis=0)
    neg = np.any(w < 0, axis=0)
    signs = np.where(pos & neg, 2, np.where(pos, 1, np.where(neg, -1, 0)))
    mixed = np.flatnonzero(signs == 2)
    return DaleReport(n=int(w.shape[0]), excitatory=int(np.sum(signs == 1)), inhibitory=int(np.sum(signs == -1)),
                      silent=int(np.sum(signs == 0)), mixed=int(mixed.size),
                      first_mixed=int(mixed[0]) if mixed.size else None,
                      signs=tuple(int(s) for s in signs))
