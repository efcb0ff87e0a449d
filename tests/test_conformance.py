"""Conformance of the certificate: random networks over every convention x activation x form
x coupling x time/state scale x input kind (about 30 % exact zeros, entries over six
decades) compile to netlists that certify, and families of mutations of them do not.

The oracle is independent of the package: :func:`oracle` below is a small dense MNA written
from the netlist TEXT (capacitors as voltage sources of their state, inductors as current
sources of theirs, behavioural sources as independent sources of their outputs), and
:func:`spec_field` the spec's right-hand side from the spec's arrays.  A mutation whose
vector field (the oracle's, at random states and inputs) differs from the spec's must fail
the certificate; for linear netlists the oracle's A, B and drive must equal the
certificate's.  Only :func:`spec_from_dict`, :func:`compile_rnn` and :func:`verify_netlist`
are used from rnn2spice, as the subjects of the test.

``RNN2SPICE_CONFORMANCE_N`` (default 24) sets the number of random networks, from number
``RNN2SPICE_CONFORMANCE_START`` (default 0); each gets about 12 mutations and 6 elements the
spec does not explain (:func:`dangling`: every element kind on fresh nodes or hung on the
network; all of them, for one network of each form, in
``test_every_unexplained_element_fails_and_is_named``).  Certified from the netlist text (``ngspice=False``); a few cases with
ngspice's values run in ``test_conformance_with_ngspice_values``.
"""

from __future__ import annotations

import os
import re

import numpy as np
import pytest

from rnn2spice.analysis.certificate import verify_netlist
from rnn2spice.circuit.compiler import compile_rnn
from rnn2spice.errors import NetlistError, Rnn2SpiceError
from rnn2spice.network.spec import spec_from_dict

N_NETWORKS = int(os.environ.get("RNN2SPICE_CONFORMANCE_N", "24"))
CONVENTIONS = ("paper", "ctrnn", "rate")
ACTIVATIONS = ("linear", "tanh", "relu", "sigmoid", "softplus")
FORMS = (("parallel", "vccs"), ("parallel", "gyrator"), ("series", "vccs"), ("opamp", "resistor"))
KINDS = ("step", "sine", "pulse", "pwl")
#: A field difference above this (relative to the size of its terms) is a different network.
ORACLE_DIFFERENT = 1e-9


# ----------------------------------------------------------------------------- random specs

def _spread(rng, shape, zeros=0.3, decades=(-3.0, 3.0)):
    """Entries with random sign and magnitude 10^U(decades), about ``zeros`` exactly 0."""
    x = rng.choice((-1.0, 1.0), shape) * 10.0 ** rng.uniform(*decades, shape)
    return np.where(rng.uniform(size=shape) < zeros, 0.0, x)


def _wave(kind, rng, t_stop):
    if kind == "step":
        return {"kind": "step", "value": float(rng.uniform(-1, 1)), "at": 0.2 * t_stop, "rise": 1e-3 * t_stop}
    if kind == "pulse":
        return {"kind": "pulse", "low": 0.0, "high": float(rng.uniform(0.5, 1.5)), "delay": 0.1 * t_stop,
                "rise": 0.01 * t_stop, "fall": 0.02 * t_stop, "width": 0.15 * t_stop, "period": 0.4 * t_stop}
    if kind == "sine":
        return {"kind": "sine", "amplitude": float(rng.uniform(0.5, 1.5)), "frequency": 2.0 / t_stop,
                "offset": float(rng.uniform(-0.2, 0.2)), "phase": float(rng.uniform(0, 360))}
    times = np.sort(rng.uniform(0, t_stop, 5))
    return {"kind": "pwl", "points": [[float(t), float(v)] for t, v in zip(times, rng.uniform(-1, 1, 5))]}


def case(i: int, attempt: int = 0) -> tuple[dict, str, str]:
    """The i-th random network (spec dict, form, coupling): every combination comes round."""
    rng = np.random.default_rng(1000 + i + 100_000 * attempt)
    activation = ACTIVATIONS[i % len(ACTIVATIONS)]
    convention = CONVENTIONS[(i // len(ACTIVATIONS)) % len(CONVENTIONS)]
    forms = [f for f in FORMS if f[1] != "gyrator" or activation == "linear" or convention == "rate"]
    form, coupling = forms[(i // 15) % len(forms)]
    if coupling == "gyrator" and activation != "linear":   # rate + f is not linear: no gyrator
        form, coupling = "parallel", "vccs"
    n = int(rng.integers(2, 6))
    m = int(rng.integers(0, 3))
    tau = 10.0 ** rng.uniform(-3.5, -2.5, n)
    big_w = _spread(rng, (n, n), decades=(-3.0, 1.0))
    big_u = _spread(rng, (n, m), decades=(-3.0, 1.0))
    t_stop = 5.0 * float(tau.max())
    data = {"name": f"conf{i}", "tau": tau.tolist(), "convention": convention, "activation": activation,
            "w": (big_w / tau[:, None] if convention == "paper" else big_w).tolist(),
            "h0": _spread(rng, n, decades=(-3.0, 1.0)).tolist(), "t_stop": t_stop}
    if n >= 3 and rng.uniform() < 0.3:   # low-rank w = M N (r < n / 2): r latent summing nodes
        r = 1 if n < 5 else int(rng.integers(1, 3))
        big_m, big_n = _spread(rng, (n, r), decades=(-2.0, 0.5)), _spread(rng, (r, n), decades=(-2.0, 0.5))
        data["w"] = {"factors": [(big_m / tau[:, None] if convention == "paper" else big_m).tolist(), big_n.tolist()]}
    if m:
        data["w_in"] = (big_u / tau[:, None] if convention == "paper" else big_u).tolist()
        data["inputs"] = [_wave(KINDS[int(rng.integers(len(KINDS)))], rng, t_stop) for _ in range(m)]
    if convention != "paper":
        data["bias"] = _spread(rng, n, decades=(-3.0, 0.0)).tolist()
    scales = [(1.0, 1.0), (1e3, 1.0), (1.0, 0.01), (10.0, 5.0)][int(rng.integers(4))]
    if scales != (1.0, 1.0):
        data["circuit"] = {"time_scale": scales[0], "state_scale": scales[1]}
    return data, form, coupling


# ----------------------------------------------------------------------------- the oracle

_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_B = re.compile(rf"([IV])=({_NUM})\*(.*)\Z", re.IGNORECASE)
_ARG = re.compile(r"V\(([A-Za-z0-9_]+)\)", re.IGNORECASE)


def _function(expr: str) -> str:
    if expr.startswith("tanh("):
        return "tanh"
    if expr.startswith("(0.5+0.5*tanh("):
        return "sigmoid"
    if expr.startswith("(uramp(") and "ln(" in expr:
        return "softplus"
    if expr.startswith("uramp("):
        return "relu"
    raise ValueError(expr)


F = {"tanh": np.tanh, "relu": lambda z: np.maximum(z, 0.0), "sigmoid": lambda z: 0.5 + 0.5 * np.tanh(0.5 * z),
     "softplus": lambda z: np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z))), "linear": lambda z: z}


def oracle(text: str) -> dict:
    """The netlist's exact equations by a dense state-variable MNA of the text alone:
    dy/dt = A y + B u + c + G f(Zy y + Zu u + z0)."""
    cards, body = [], False
    for line in text.split("\n")[1:]:
        body = (body or line.startswith(".subckt")) and not line.startswith(".ends")
        if line and line[0].isalpha() and not body:
            cards.append(line.split())
    saves = [tok.lower() for line in text.split("\n") if line.lower().startswith(".save") for tok in line.split()[1:]]
    nodes, branches, caps, inds, inputs, sources = {}, {}, [], [], {}, []

    def node(name):
        name = name.lower()
        if name != "0" and name not in nodes:
            nodes[name] = len(nodes)
        return name

    for t in cards:
        kind, name = t[0][0].upper(), t[0].lower()
        if kind == "X":
            node(t[1]), node(t[2])
            continue
        for tok in t[1:3]:
            node(tok)
        if kind in "GE":
            node(t[3]), node(t[4])
        if kind in "VEHC" or (kind == "B" and t[3].upper().startswith("V=")):
            branches[name] = len(branches)
        if kind == "C":
            caps.append(name)
        if kind == "L":
            inds.append(name)
        if kind == "V" and re.fullmatch(r"vx_\d+", name):
            inputs[name] = int(name[3:])
        if kind == "B":
            m = _B.match(t[3])
            node(_ARG.search(m.group(3)).group(1))
            gain = float(m.group(2)) * (float(t[4].split("=")[1]) if len(t) == 5 else 1.0)
            sources.append((name, _function(m.group(3)), gain, _ARG.search(m.group(3)).group(1).lower()))
    nn, nb = len(nodes), len(branches)
    states = caps + inds
    ns, m, p = len(states), (max(inputs.values()) + 1 if inputs else 0), len(sources)
    size, cols = nn + nb, ns + m + p + 1
    k_mat, rhs = np.zeros((size, size)), np.zeros((size, cols))
    c_col = cols - 1
    src_of = {s[0]: i for i, s in enumerate(sources)}
    cap_value, ind_value, ic = {}, {}, np.zeros(ns)

    def v(name):
        return -1 if name.lower() == "0" else nodes[name.lower()]

    def add(r, c, x):
        if r >= 0 and c >= 0:
            k_mat[r, c] += x

    def inject(a, b, col, x):   # a current x (per unit of column col) from a through the element to b
        if v(a) >= 0:
            rhs[v(a), col] -= x
        if v(b) >= 0:
            rhs[v(b), col] += x

    for t in cards:
        kind, name = t[0][0].upper(), t[0].lower()
        if kind == "R":
            g = 1.0 / float(t[3])
            a, b = v(t[1]), v(t[2])
            add(a, a, g), add(b, b, g), add(a, b, -g), add(b, a, -g)
        elif kind == "G":
            gm = float(t[5])
            for r, sign in ((v(t[1]), 1.0), (v(t[2]), -1.0)):
                add(r, v(t[3]), sign * gm), add(r, v(t[4]), -sign * gm)
        elif kind == "F":
            j = nn + branches[t[3].lower()]
            add(v(t[1]), j, float(t[4])), add(v(t[2]), j, -float(t[4]))
        elif kind == "I":
            inject(t[1], t[2], c_col, float(t[4]))
        elif kind == "X":   # gyrator subcircuit: g V(b) into a, -g V(a) into b
            g = float(t[4].split("=")[1])
            add(v(t[1]), v(t[2]), -g), add(v(t[2]), v(t[1]), g)
        elif kind == "L":
            ind_value[name] = float(t[3])
            inject(t[1], t[2], states.index(name), 1.0)
            ic[states.index(name)] = float(t[4].split("=")[1]) if len(t) > 4 else 0.0
        elif kind == "B" and t[3].upper().startswith("I="):
            _, _, gain, _ = sources[src_of[name]]
            inject(t[1], t[2], ns + m + src_of[name], gain)
        if name in branches:    # v(p) - v(n) = value; the branch current leaves p into the element
            j = nn + branches[name]
            a, b = v(t[1]), v(t[2])
            add(a, j, 1.0), add(b, j, -1.0), add(j, a, 1.0), add(j, b, -1.0)
            if kind == "C":
                cap_value[name] = float(t[3])
                rhs[j, states.index(name)] = 1.0
                ic[states.index(name)] = float(t[4].split("=")[1]) if len(t) > 4 else 0.0
            elif kind == "V":
                if name in inputs:
                    rhs[j, ns + inputs[name]] = 1.0
                else:
                    rhs[j, c_col] = float(t[4])
            elif kind == "E":
                add(j, v(t[3]), -float(t[5])), add(j, v(t[4]), float(t[5]))
            elif kind == "H":
                add(j, nn + branches[t[3].lower()], -float(t[4]))
            elif kind == "B":
                rhs[j, ns + m + src_of[name]] = sources[src_of[name]][2]
    z = np.linalg.solve(k_mat, rhs)
    z += np.linalg.solve(k_mat, rhs - k_mat @ z)   # one refinement step (op-amp stages span decades)
    deriv = np.zeros((ns, cols))
    lines = {tt[0].lower(): tt for tt in cards}
    for i, name in enumerate(states):
        if name in cap_value:
            deriv[i] = z[nn + branches[name]] / cap_value[name]
        else:
            a, b = v(lines[name][1]), v(lines[name][2])
            deriv[i] = ((z[a] if a >= 0 else 0.0) - (z[b] if b >= 0 else 0.0)) / ind_value[name]
    probe = np.array([z[nodes[s[2:-1]]] if s[0] == "v" else z[nn + branches[s[2:-1]]] for s in saves])
    p_mat, p_inv = probe[:, :ns], np.linalg.inv(probe[:, :ns])
    y_off = probe[:, c_col]
    a = p_mat @ deriv[:, :ns] @ p_inv
    out = {"a": a, "b": p_mat @ deriv[:, ns:ns + m], "g": p_mat @ deriv[:, ns + m:c_col],
           "c": p_mat @ deriv[:, c_col] - a @ y_off, "h0": p_mat @ ic + y_off,
           "functions": [s[1] for s in sources]}
    args = np.array([z[nodes[s[3]]] for s in sources]).reshape(p, cols)
    out["zy"] = args[:, :ns] @ p_inv
    out["zu"] = args[:, ns:ns + m]
    out["z0"] = args[:, c_col] - out["zy"] @ y_off
    return out


def circuit_field(eq: dict, y, u):
    sigma = np.array([F[f](z) for f, z in zip(eq["functions"], eq["zy"] @ y + eq["zu"] @ u + eq["z0"])])
    terms = [eq["a"] @ y, eq["b"] @ u, eq["c"], eq["g"] @ sigma if sigma.size else 0.0 * y]
    # the size of the terms, with each argument's own terms through |f'| <= 1
    arg_size = np.abs(eq["zy"]) @ np.abs(y) + np.abs(eq["zu"]) @ np.abs(u) + np.abs(eq["z0"])
    size = (np.abs(eq["a"]) @ np.abs(y) + np.abs(eq["b"]) @ np.abs(u) + np.abs(eq["c"])
            + (np.abs(eq["g"]) @ (np.abs(sigma) + arg_size) if sigma.size else 0.0))
    return sum(terms), size


def spec_field(d: dict, y, u):
    """The spec's dv/dt_c = k s dh/dt at v = s h, u = s x (THEORY.md 5), from its arrays."""
    k = d.get("circuit", {}).get("time_scale", 1.0)
    s = d.get("circuit", {}).get("state_scale", 1.0)
    tau = np.asarray(d["tau"])
    lam = 1.0 / tau
    n = tau.size
    w = np.asarray(d["w"]) if not isinstance(d["w"], dict) else (
        np.asarray(d["w"]["factors"][0]) @ np.asarray(d["w"]["factors"][1]))
    w_in = np.asarray(d.get("w_in", np.zeros((n, 0)))).reshape(n, -1)
    b = np.asarray(d.get("bias", np.zeros(n)))
    f = F[d["activation"]]
    h, x = y / s, u / s
    if d["convention"] == "paper":
        dh = -lam * h + f(w @ h + w_in @ x)
    elif d["convention"] == "ctrnn":
        dh = lam * (-h + f(w @ h + w_in @ x + b))
    else:
        dh = lam * (-h + w @ f(h) + w_in @ x + b)
    return k * s * dh


def field_difference(d: dict, text: str, rng) -> float:
    """Largest |circuit field - spec field| / size of its terms at random points (the oracle)."""
    eq = oracle(text)
    n = len(d["tau"])
    if eq["a"].shape != (n, n):
        return np.inf
    s = d.get("circuit", {}).get("state_scale", 1.0)
    worst = 0.0
    for _ in range(4):
        y = s * rng.standard_normal(n) * 10.0 ** rng.uniform(-1, 1, n)
        u = s * rng.standard_normal(eq["b"].shape[1])
        got, size = circuit_field(eq, y, u)
        want = spec_field(d, y, u)
        worst = max(worst, float(np.max(np.abs(got - want) / np.maximum(size, 1e-300))))
    return worst


def equations_change(text: str, bad: str) -> float:
    """Largest change of the oracle's equations, relative to the largest entry of their group
    (the right-hand side a, b, c, g; the arguments zy, zu, z0; h0): an entry that is 0 in the
    network is round-off in the dense oracle, not a scale."""
    one, two = oracle(text), oracle(bad)
    if one["functions"] != two["functions"]:
        return np.inf
    worst = 0.0
    for group in (("a", "b", "c", "g"), ("zy", "zu", "z0"), ("h0",)):
        pairs = [(np.asarray(one[k]), np.asarray(two[k])) for k in group]
        if any(x.shape != y.shape for x, y in pairs):
            return np.inf
        scale = max([float(np.max(np.abs(x))) for x, _ in pairs if x.size] + [1e-300])
        worst = max([worst] + [float(np.max(np.abs(x - y))) / scale for x, y in pairs if x.size])
    return worst


# ----------------------------------------------------------------------------- mutations

def _lines(text):
    return text.split("\n")


def _value_index(tokens):
    kind = tokens[0][0].upper()
    return {"R": 3, "G": 5, "E": 5, "F": 4, "H": 4, "C": 3, "L": 3, "I": 4, "X": 4}.get(kind)


def scale_value(line: str, factor: float) -> str | None:
    """The card with its value times ``factor`` (None: no plain value to change)."""
    factor = float(factor)
    t = line.split()
    kind = t[0][0].upper()
    if kind == "B":
        m = _B.match(t[3])
        t[3] = f"{m.group(1)}={float(m.group(2)) * factor!r}*{m.group(3)}"
        return " ".join(t)
    if kind == "V":
        if re.fullmatch(r"vx_\d+", t[0].lower()) or float(t[4]) == 0.0:
            return None
        t[4] = repr(float(t[4]) * factor)
        return " ".join(t)
    i = _value_index(t)
    if i is None:
        return None
    if kind == "X":
        t[4] = "g=" + repr(float(t[4].split("=")[1]) * factor)
    else:
        t[i] = repr(float(t[i]) * factor)
    return " ".join(t)


def mutations(text: str, rng) -> list[tuple[str, str]]:
    """(family, mutated text) pairs of one netlist."""
    lines = _lines(text)
    inside = {i for i, line in enumerate(lines) if line.startswith(".subckt")}
    inside = {i + k for i in inside for k in range(4)}   # the gyrator subcircuit's body
    elements = [i for i, line in enumerate(lines) if i > 0 and i not in inside and line[:1].isalpha()]
    out = []

    def with_line(i, new, family):
        if new is not None and new != lines[i]:
            out.append((family, "\n".join(lines[:i] + [new] + lines[i + 1:])))

    for i in rng.choice(elements, size=min(4, len(elements)), replace=False):
        with_line(i, scale_value(lines[i], 1 + 1e-9 * rng.choice((-1, 1))), "value x (1 +- 1e-9)")
    for i in rng.choice(elements, size=min(2, len(elements)), replace=False):
        if lines[i][0].upper() not in "CL":
            with_line(i, scale_value(lines[i], -1.0), "sign flip")
    # node swap: one terminal of a coupling element moved to another node of the same kind
    for i in rng.permutation(elements)[:3]:
        t = lines[i].split()
        if t[0][0].upper() in "GEF" and len(t) > 3:
            target = 2 if t[0][0].upper() in "GF" else 1
            other = re.sub(r"\d+", lambda mm: str((int(mm.group()) + 1) % 10), t[target], count=1)
            if other != t[target] and re.search(rf"\s{re.escape(other)}(\s|$)", text, re.IGNORECASE):
                t[target] = other
                with_line(i, " ".join(t), "node swap")
                break
    # an extra element at a node of the circuit
    node_names = sorted({tok for i in elements if lines[i][:1].upper() in "RC" for tok in lines[i].split()[1:3]} - {"0"})
    node = node_names[int(rng.integers(len(node_names)))]
    end = lines.index(next(line for line in lines if line.startswith(".options")))
    for extra, family in ((f"R_extra {node} 0 1e6", "extra resistor"), (f"I_extra 0 {node} DC 2e-6", "extra source"),
                          (f"C_extra {node} 0 1e-12 IC=0", "extra capacitor")):
        out.append((family, "\n".join(lines[:end] + [extra] + lines[end:])))
    # nonlinear: argument scaled with compensating gain, mirrored offset
    b_lines = [i for i in elements if lines[i][:1].upper() == "B"]
    if b_lines:
        i = int(rng.choice(b_lines))
        arg = _ARG.search(lines[i]).group(1).lower()
        for j in elements:   # the resistor that sets the argument node's level
            line = lines[j]
            t = line.split()
            if t and t[0][0].upper() == "R" and arg in (t[1].lower(), t[2].lower()) and (
                    "0" in t[1:3] or t[0].lower().startswith("rs_")):
                both = lines[:]
                both[j] = scale_value(line, 2.0)
                both[i] = scale_value(lines[i], 0.5)
                out.append(("argument x 2, gain / 2", "\n".join(both)))
                break
        for j in elements:   # a constant into an argument, mirrored
            line = lines[j]
            low = line.lower()
            if low.startswith("iz_"):
                with_line(j, scale_value(line, -1.0), "mirrored offset")
                break
            if low.startswith("rd_"):
                swapped = low.replace("refn", "TMP").replace("refp", "refn").replace("TMP", "refp")
                if swapped != low and re.search(r"^v(refn|refp)", text, re.IGNORECASE | re.MULTILINE):
                    refs = {x.split()[0].lower() for x in lines if x.lower().startswith(("vrefn", "vrefp"))}
                    if {"vrefn", "vrefp"} <= refs:
                        with_line(j, swapped, "mirrored offset")
                break
    # looser numerics
    opt = next(i for i, line in enumerate(lines) if line.startswith(".options"))
    for key, loose in (("reltol", "0.5"), ("trtol", "1e6"), ("abstol", "1")):
        with_line(opt, re.sub(rf"{key}=\S+", f"{key}={loose}", lines[opt]), f"looser {key}")
    tran = next(i for i, line in enumerate(lines) if line.startswith(".tran"))
    t = lines[tran].split()
    if len(t) >= 5:
        t[4] = repr(float(t[4]) * 10.0)
        with_line(tran, " ".join(t), "looser maximum step")
    return out


_SHAPES = {"tanh": "tanh(V({a}))", "relu": "uramp(V({a}))", "sigmoid": "(0.5+0.5*tanh(0.5*V({a})))",
           "softplus": "(uramp(V({a}))+ln(1+exp(-abs(V({a})))))", "linear": "tanh(V({a}))"}
_GYRATOR = (".subckt gyrator a b g=1", "G_a 0 a b 0 {g}", "G_b 0 b a 0 {-g}", ".ends gyrator")


def dangling(text: str, rng, activation: str = "tanh") -> list[tuple[str, str, str]]:
    """(family, mutated text, the element that must be named) for elements the spec does not
    explain: every element kind (R, C, L, I, V, E, F, G, H, B as V and as I, the gyrator
    instance) on fresh nodes (a part of the netlist no equation reads) and hung on existing
    nodes (one terminal on the network, the other on a fresh node)."""
    lines = _lines(text)
    nodes = sorted({tok.lower() for line in lines[1:] if line[:1].upper() in "RC" for tok in line.split()[1:3]}
                   - {"0"})
    node = nodes[int(rng.integers(len(nodes)))]   # an existing node
    f = _SHAPES[activation]
    sense = next((line.split()[0] for line in lines if line[:1].upper() == "V"), None)
    cards = [  # (family, [cards], the element that must be named)
        ("R on fresh nodes", ["R_dx nd1 0 1000"], "r_dx"),
        ("R between fresh nodes and a source", ["R_dx nd1 nd2 1000", "V_dy nd2 0 DC 1"], "r_dx"),
        ("V on a fresh node", ["V_dx nd1 0 DC 1"], "v_dx"),
        ("V of 0 V on a fresh node", ["V_dx nd1 0 DC 0"], "v_dx"),
        ("I with R on a fresh node", ["I_dx 0 nd1 DC 1e-06", "R_dy nd1 0 1000"], "i_dx"),
        ("I alone on a fresh node", ["I_dx 0 nd1 DC 1e-06"], "i_dx"),
        ("C on a fresh node", ["C_dx nd1 0 1e-12 IC=0"], "c_dx"),
        ("C with R on a fresh node", ["C_dx nd1 0 1e-12 IC=0", "R_dy nd1 0 1000"], "c_dx"),
        ("L on a fresh node", ["L_dx nd1 0 0.001 IC=0"], "l_dx"),
        ("E reading the network, output on a fresh node", [f"E_dx nd1 0 {node} 0 2"], "e_dx"),
        ("E on fresh nodes", ["E_dx nd1 0 nd2 0 2", "R_dy nd2 0 1000"], "e_dx"),
        ("G reading the network into a fresh node", [f"G_dx 0 nd1 {node} 0 1e-06", "R_dy nd1 0 1000"], "g_dx"),
        ("G reading a fresh node into the network", [f"G_dx 0 {node} nd1 0 1e-06", "R_dy nd1 0 1000"], "g_dx"),
        ("B (V) on a fresh node", [f"B_dx nd1 0 V=1*{f.format(a=node)} m=1"], "b_dx"),
        ("B (I) into a fresh node", [f"B_dx 0 nd1 I=1e-06*{f.format(a=node)} m=1", "R_dy nd1 0 1000"], "b_dx"),
        ("B (V) reading a fresh node", ["B_dx nd1 0 V=1*" + f.format(a="nd2"), "R_dy nd2 0 1000"], "b_dx"),
        ("gyrator on fresh nodes", ["XG_dx nd1 nd2 gyrator g=1e-06"], "xg_dx"),
        ("R hung on the network", [f"R_dx {node} nd1 1000"], "r_dx"),
        ("V hung on the network", [f"V_dx {node} nd1 DC 0"], "v_dx"),
        ("V of 1 V hung on the network", [f"V_dx nd1 {node} DC 1"], "v_dx"),
        ("C hung on the network", [f"C_dx {node} nd1 1e-12 IC=0"], "c_dx"),
        ("L hung on the network", [f"L_dx {node} nd1 0.001 IC=0"], "l_dx"),
        ("gyrator hung on the network", [f"XG_dx {node} nd1 gyrator g=1e-06"], "xg_dx"),
    ]
    if sense is not None:
        cards += [("F sensing the network into a fresh node", [f"F_dx 0 nd1 {sense} 2", "R_dy nd1 0 1000"], "f_dx"),
                  ("H sensing the network onto a fresh node", [f"H_dx nd1 0 {sense} 2"], "h_dx")]
    cards += [("F with its own sense source", ["V_dy nd2 0 DC 0", "F_dx 0 nd1 V_dy 2", "R_dz nd1 0 1000"], "f_dx"),
              ("H with its own sense source", ["V_dy nd2 0 DC 0", "H_dx nd1 0 V_dy 2"], "h_dx")]
    end = lines.index(next(line for line in lines if line.startswith(".options")))
    out = []
    for family, extra, name in cards:
        head = lines[:end]
        if any(c.startswith("XG_") for c in extra) and ".subckt gyrator a b g=1" not in lines:
            head = head[:1] + list(_GYRATOR) + head[1:]
        out.append((family, "\n".join(head + extra + lines[end:]), name))
    return out


# ----------------------------------------------------------------------------- the tests

def _compiled(i):
    """Case i compiled; a draw the compiler refuses (an op-amp gain too low for its weights,
    a run too long) is drawn again."""
    for attempt in range(20):
        data, form, coupling = case(i, attempt)
        spec = spec_from_dict(data)
        try:
            return data, spec, compile_rnn(spec, form=form, coupling=coupling), form
        except Rnn2SpiceError:
            continue
    raise AssertionError(f"case {i}: no compilable draw")


def run_case(i: int, stats: dict) -> None:
    data, spec, compiled, form = _compiled(i)
    text = compiled.netlist
    rng = np.random.default_rng(i)
    label = f"case {i}: {data['convention']}/{data['activation']}, form {form}, n {spec.n}, m {spec.m}, " \
            f"scales {data.get('circuit')}, rank {spec.rank}"
    assert field_difference(data, text, rng) <= 1e-10, label   # the oracle agrees: the netlist is the network
    cert = verify_netlist(text, spec, ngspice=False, analysis=compiled.circuit.analysis,
                          options=compiled.circuit.options)
    assert cert.passed, label + "\n" + cert.describe()
    stats["certified"] += 1
    if data["activation"] == "linear":   # the independent MNA's matrices are the certificate's
        eq, mine = cert.equations, oracle(text)
        for got, want in ((eq.a, mine["a"]), (eq.b, mine["b"]), (eq.drive, mine["c"]), (eq.y0, mine["h0"])):
            scale = max(float(np.max(np.abs(want), initial=0.0)), 1e-300)
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-9 * scale, err_msg=label)
        stats["linear_agree"] += 1
    for family, bad in mutations(text, rng):
        try:
            diff = field_difference(data, bad, rng)
        except (np.linalg.LinAlgError, ValueError, KeyError, IndexError, StopIteration):
            diff = np.inf  # the oracle cannot even solve it: not the network
        numerics = family.startswith("looser")
        try:
            got = verify_netlist(bad, spec, ngspice=False, analysis=compiled.circuit.analysis,
                                 options=compiled.circuit.options)
        except NetlistError:
            stats["refused"] += 1
            continue
        if numerics or diff > ORACLE_DIFFERENT:
            assert not got.passed, f"{label}: mutation '{family}' is certified\n{bad}\n{got.describe()}"
            assert got.describe().count("\n") >= 1
            stats["caught"] += 1
            stats.setdefault(family, 0)
            stats[family] += 1
        elif got.passed:
            # certified: then the oracle's equations must not have changed beyond round-off (an
            # ideal op-amp's gain A x (1 +- 1e-9) moves them by ~1e-9 / A; a summing resistor
            # whose argument is 0 by structure, all its weights being 0, moves nothing)
            assert equations_change(text, bad) <= 1e-12, (
                f"{label}: mutation '{family}' is certified\n{bad}\n{got.describe()}")
            stats["below_resolution"] += 1
        else:
            stats["caught_below_oracle"] += 1
    check_dangling(i, data, spec, compiled, stats, count=6)


def check_dangling(i: int, data, spec, compiled, stats: dict, count: int | None = None) -> None:
    """Every element the spec does not explain fails the certificate, which names it
    (``count``: that many of the families, drawn at random; None: all)."""
    rng = np.random.default_rng(10_000 + i)
    cases = dangling(compiled.netlist, rng, data["activation"])
    if count is not None:
        cases = [cases[k] for k in rng.choice(len(cases), size=min(count, len(cases)), replace=False)]
    for family, bad, name in cases:
        got = verify_netlist(bad, spec, ngspice=False, analysis=compiled.circuit.analysis,
                             options=compiled.circuit.options)
        text = got.describe()
        assert not got.passed, f"case {i}: '{family}' is certified\n{bad}\n{text}"
        assert name in text.lower(), f"case {i}: '{family}' fails without naming {name}\n{text}"
        stats["dangling"] = stats.get("dangling", 0) + 1


def _stats():
    return {"certified": 0, "linear_agree": 0, "caught": 0, "refused": 0, "below_resolution": 0,
            "caught_below_oracle": 0}


def test_conformance_random_networks_and_mutations():
    stats = _stats()
    start = int(os.environ.get("RNN2SPICE_CONFORMANCE_START", "0"))
    for i in range(start, start + N_NETWORKS):
        run_case(i, stats)
        if (i + 1) % 100 == 0:
            print(f"conformance: {i + 1 - start} networks", stats, flush=True)
    print("conformance:", stats)
    assert stats["certified"] == N_NETWORKS and stats["caught"] >= 6 * N_NETWORKS
    assert stats["dangling"] == 6 * N_NETWORKS


def _first_case(pred):
    for i in range(200):
        data, spec, compiled, form = _compiled(i)
        if pred(data, spec, compiled, form):
            return i, data, spec, compiled
    raise AssertionError("no such case in the first 200")


KINDS_OF_NETLIST = {
    "parallel": lambda d, s, c, f: f == "parallel" and c.coupling == "vccs" and s.rank is None,
    "gyrator": lambda d, s, c, f: c.coupling == "gyrator",
    "series": lambda d, s, c, f: f == "series" and s.rank is None,
    "opamp": lambda d, s, c, f: f == "opamp" and s.rank is None,
    "low-rank parallel": lambda d, s, c, f: f == "parallel" and s.rank is not None,
    "low-rank series": lambda d, s, c, f: f == "series" and s.rank is not None,
    "low-rank opamp": lambda d, s, c, f: f == "opamp" and s.rank is not None,
    "rate tanh": lambda d, s, c, f: d["convention"] == "rate" and d["activation"] == "tanh",
    "ctrnn sigmoid": lambda d, s, c, f: d["convention"] == "ctrnn" and d["activation"] == "sigmoid",
}


@pytest.mark.parametrize("kind", list(KINDS_OF_NETLIST))
def test_every_unexplained_element_fails_and_is_named(kind):
    """Each kind of element (R, C, L, I, V, E, F, G, H, B, gyrator) on fresh nodes and hung on
    existing ones fails in every form, low-rank latent nodes included, and the failure names
    it; the netlist without it certifies (the failure is the element's)."""
    i, data, spec, compiled = _first_case(KINDS_OF_NETLIST[kind])
    assert verify_netlist(compiled.netlist, spec, ngspice=False, analysis=compiled.circuit.analysis,
                          options=compiled.circuit.options).passed
    stats: dict = {}
    check_dangling(i, data, spec, compiled, stats)
    assert stats["dangling"] >= 25


@pytest.mark.ngspice
def test_conformance_with_ngspice_values():
    """The same with the values as ngspice holds them (one network per form)."""
    for i in (0, 16, 31, 47):
        data, spec, compiled, form = _compiled(i)
        cert = verify_netlist(compiled.netlist, spec, analysis=compiled.circuit.analysis,
                              options=compiled.circuit.options)
        assert cert.passed and cert.values_from.startswith("ngspice"), cert.describe()
