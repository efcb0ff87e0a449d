"""The prediction of one Monte Carlo draw of a real build (THEORY.md 11, "The prediction of a draw").

:func:`~rnn2spice.workflows.realbuild.predict` judges a *nominal* real build: one block
curve for every neuron (the blocks are identical), op-amp offsets zero.  A draw of
``montecarlo`` (:func:`~rnn2spice.circuit.tolerance.perturbed`) makes every block different
(its resistors, its two transistors' IS and BF, its difference amplifier's offset) and gives
every other op-amp an input offset.  :func:`predict_draw` predicts such a draw with the same
predicted circuit, fed with the drawn values:

1. **every block characterised with its own drawn parts** (:func:`block_curves`): one
   ngspice ``.dc`` run holds all n blocks, their inputs on one swept source (the blocks do
   not load each other: each has its own supply-fed pair and output), and returns each
   block's curve g_k(z);
2. **offsets in the predicted circuit** (:func:`offsets_outside`): a summer's, integrator's
   or inverter's drawn ``vos`` becomes a DC source in series with its + input (the
   macro-model's B1 amplifies ``V(inp,inn) - vos``: the same offset), so the skeleton
   (op-amp = VCVS of its DC gain) and
   the network read back from it carry the offset as constants;
3. the predicted network solved with neuron k's own curve (:func:`predict_draw`).

What stays out, as in the nominal prediction: the op-amps' bandwidth and slew rate.  A draw
is reproduced from its seed path (seed, run) alone, so the prediction of draw k is the
prediction of exactly the circuit ``montecarlo``'s run k simulates.  Units: V, s, ohm.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from rnn2spice.circuit import ir
from rnn2spice.circuit.compiler import CompiledNetwork
from rnn2spice.circuit.partlib import OPAMPS
from rnn2spice.circuit.tolerance import perturbed
from rnn2spice.circuit.writer import write_netlist
from rnn2spice.errors import SimulationError, UsageError
from rnn2spice.spice.ngspice import simulate_netlist
from rnn2spice.workflows.realbuild import BLOCK_PREFIXES, SWEEP, SWEEP_STEP, predict, skeleton

#: The swept input node every block of :func:`block_curves` hangs on.
SWEPT = "zin"


@dataclass(frozen=True, eq=False)
class BlockCurves:
    """Each block's DC transfer curve: ``g[i]`` = V(f) (V) of block ``blocks[i]`` at V(z) = ``z`` (V).

    Called with the vector of the blocks' arguments in the predicted network's order
    (:meth:`in_order`), it returns each block's own V(f)."""

    z: np.ndarray
    g: np.ndarray          # (blocks, points)
    blocks: tuple[int, ...]

    def in_order(self, order) -> "BlockCurves":
        """The curves re-ordered to the neuron indices ``order``."""
        where = {k: i for i, k in enumerate(self.blocks)}
        missing = [k for k in order if k not in where]
        if missing:
            raise UsageError(f"no block was characterised for neurons {missing[:5]}")
        return BlockCurves(self.z, self.g[[where[k] for k in order]], tuple(order))

    def __call__(self, z: np.ndarray) -> np.ndarray:
        # one grid for every block: locate all arguments at once, then interpolate each block's own
        # curve (the solver calls this at every step; a loop of n np.interp costs ~n times more)
        z = np.clip(np.asarray(z, dtype=float), self.z[0], self.z[-1])
        j = np.clip(np.searchsorted(self.z, z) - 1, 0, self.z.size - 2)
        rows = np.arange(len(self.blocks))
        z0, z1 = self.z[j], self.z[j + 1]
        w = (z - z0) / (z1 - z0)
        return (1.0 - w) * self.g[rows, j] + w * self.g[rows, j + 1]

    def error(self, ideal, span: float = 3.0) -> np.ndarray:
        """Per block, the largest |g - ideal(z)| over |z| <= ``span`` (V)."""
        inside = np.abs(self.z) <= span
        return np.max(np.abs(self.g[:, inside] - ideal(self.z[inside])[None, :]), axis=1)


def _block_of(name: str) -> int | None:
    if not name.startswith(BLOCK_PREFIXES):
        return None
    return int(name.split("_")[1])


def _renamed(e, old: str, new: str):
    """``e`` with node ``old`` renamed ``new`` (every string field but the name and model)."""
    changes = {}
    for f in dataclasses.fields(e):
        if f.name in ("name", "model", "subckt"):
            continue
        v = getattr(e, f.name)
        if v == old:
            changes[f.name] = new
        elif isinstance(v, tuple) and old in v:
            changes[f.name] = tuple(new if x == old else x for x in v)
    return dataclasses.replace(e, **changes) if changes else e


def block_circuit(compiled: CompiledNetwork) -> tuple[ir.Circuit, tuple[int, ...]]:
    """Every activation block of ``compiled`` (as drawn) on one swept source ``VZ`` (node
    :data:`SWEPT`), with the circuit's definitions and supplies: (circuit, block indices)."""
    elements = compiled.circuit.expanded_elements()
    head = [e for e in elements if isinstance(e, ir.DEFINITIONS)]
    rails = [e for e in elements if isinstance(e, ir.VoltageSource) and e.name in ("VCC", "VEE")]
    body, blocks = [], []
    for e in elements:
        k = _block_of(e.name)
        if k is None:
            continue
        if k not in blocks:
            blocks.append(k)
        body.append(_renamed(e, f"z{k}", SWEPT))
    if not blocks:
        raise UsageError("the circuit has no activation blocks (a transistor build has one per neuron)")
    circuit = ir.Circuit(title="rnn2spice: the drawn activation blocks", comments=(),
                         elements=tuple(head + rails + [ir.VoltageSource("VZ", SWEPT, "0", None, 0.0)] + body),
                         analysis=ir.DcSweep("VZ", -SWEEP, SWEEP, SWEEP_STEP),
                         options=ir.Options(reltol=1e-6, abstol=1e-12, vntol=1e-7, chgtol=1e-16,
                                            temp=float(compiled.build.temp)),
                         saves=tuple(ir.Probe("voltage", f"f{k}") for k in blocks))
    return circuit, tuple(blocks)


def block_curves(compiled: CompiledNetwork, *, backend: str = "auto") -> BlockCurves:
    """Each block of ``compiled`` characterised with its own parts, in one ngspice ``.dc``."""
    circuit, blocks = block_circuit(compiled)
    result = simulate_netlist(write_netlist(circuit), backend=backend)
    try:
        z = np.asarray(result.vectors["v(v-sweep)"], dtype=float)
        g = np.stack([np.asarray(result.vectors[f"v(f{k})"], dtype=float) for k in blocks])
    except KeyError as exc:
        raise SimulationError(f"ngspice returned no vector {exc.args[0]!r} for the drawn blocks") from None
    return BlockCurves(z, g, blocks)


def offsets_outside(compiled: CompiledNetwork) -> CompiledNetwork:
    """``compiled`` with each library op-amp's drawn offset outside its blocks moved into a DC
    source ``VOS<instance>`` in series with its + input (module docstring, step 2)."""
    out = []
    for e in compiled.circuit.elements:
        vos = dict(e.params).get("vos", 0.0) if isinstance(e, ir.Instance) and e.subckt in OPAMPS else 0.0
        if vos and _block_of(e.name) is None:
            plus, *rest = e.nodes
            inner = f"vosn{e.name[1:].lower()}"
            out.append(ir.VoltageSource(f"VOS{e.name[1:]}", plus, inner, None, float(vos)))
            e = dataclasses.replace(e, nodes=(inner, *rest), params=tuple((k, v) for k, v in e.params if k != "vos"))
        out.append(e)
    return dataclasses.replace(compiled, circuit=dataclasses.replace(compiled.circuit, elements=tuple(out)))


def drawn(compiled: CompiledNetwork, *, tolerance: float, run: int, distribution: str = "uniform",
          seed: int = 0) -> CompiledNetwork:
    """Run ``run`` of a Monte Carlo of ``compiled`` seeded with ``seed``: the same draw as
    ``montecarlo(..., tolerance=tolerance, distribution=distribution, seed=seed, run=run)``."""
    circuit, _ = perturbed(compiled.circuit, tolerance, distribution, seed, run)
    return dataclasses.replace(compiled, circuit=circuit)


def predict_draw(compiled: CompiledNetwork, times: np.ndarray, *,
                 backend: str = "auto") -> tuple[np.ndarray, BlockCurves]:
    """The predicted states (at ``times``, s) of a drawn real build (:func:`drawn`) and its
    blocks' curves (module docstring)."""
    if compiled.build is None or compiled.build.activation_circuit != "transistor":
        raise UsageError("predict_draw needs a build with activation_circuit='transistor'")
    curves = block_curves(compiled, backend=backend)
    moved = offsets_outside(compiled)
    order = [int(e.name.split("_")[1]) for e in skeleton(moved).elements
             if isinstance(e, (ir.TanhVoltage, ir.ActivationVoltage))]
    curves = curves.in_order(order)
    return predict(moved, times, curves).states, curves


__all__ = ["BlockCurves", "block_circuit", "block_curves", "drawn", "offsets_outside", "predict_draw"]
