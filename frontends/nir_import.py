"""NIR graphs of IF networks to a model file (``augsnn convert model.nir``).

:func:`nir_model` reads a ``nir.NIRGraph`` (or a ``.nir`` file) that is a chain from its
``Input`` to its ``Output`` of ``Scale`` (uniform, before the first weighted layer),
``Flatten``, ``Linear`` / ``Affine`` (zero bias), ``Conv2d`` (stride 1, no dilation, one
group, equal padding, zero bias), ``SumPool2d`` / ``AvgPool2d`` (square, stride = size,
unpadded) and, after every weighted layer, an ``IF`` neuron (threshold and ``r`` the same
for the whole layer, ``v_reset = 0``). An ``LIF`` without leak (``tau`` infinite,
``v_leak = 0``, ``r`` infinite: snnTorch's ``Leaky(beta=1)``, written with snnTorch's
``r = tau / dt``) is such an IF of gain 1. Anything else (a leaking LIF, CubaLIF, LI, Delay,
a recurrent edge, a subgraph, a branch) is refused naming the node.

Semantics taken (docs/frontends.md): the neurons reset by subtraction (``v -= v_threshold``;
snnTorch's and sinabs' default; NIR's own IF resets to ``v_reset``) and the graph's input is
``pixels * input_scale`` (default ``1/255``) as a constant current every step. The model:
``M = 1`` (binary spikes), single threshold, method ``datanorm``; per weighted layer the
weights scaled by ``k = (2**(weight_bits-1) - 1) / max|w|`` and rounded (integer weights that
fit are kept, ``k = 1``), the threshold
``theta_p = round(v_threshold * k / (r * u))`` with ``u`` the value of one input unit
(``input_scale`` times the Scale node for the first layer, 1 for spikes; an average pool
before a layer divides its weights by the window size). The quantisation error (weights and
thresholds) is returned with the model.

A graph written by :mod:`.nir_export` (graph metadata ``augsnn.header``) is read back
exactly from its metadata unless ``use_metadata=False``.
"""

from __future__ import annotations

import json
import math

import numpy as np

from augsnn.golden.checks import signed_bits
from augsnn.golden.model import Conv2d, Dense, Flatten, Model, SumPool
from augsnn.golden.neuron import NeuronParams

__all__ = ["nir_model", "read_graph"]


def read_graph(path_or_graph):
    """A ``nir.NIRGraph`` from a file name or the graph itself."""
    import nir
    if isinstance(path_or_graph, nir.NIRGraph):
        return path_or_graph
    try:
        return nir.read(str(path_or_graph))
    except Exception as exc:  # noqa: BLE001 - h5py and nir raise many kinds
        raise ValueError(f"{path_or_graph}: not a readable NIR file ({type(exc).__name__}: "
                         f"{' '.join(str(exc).split())[:200]})") from None


def _chain(graph) -> list[tuple[str, object]]:
    """The nodes from the Input to the Output, in order; refuses branches and recurrence."""
    import nir
    succ: dict[str, list[str]] = {}
    for a, b in graph.edges:
        succ.setdefault(a, []).append(b)
    inputs = [k for k, n in graph.nodes.items() if isinstance(n, nir.Input)]
    if len(inputs) != 1:
        raise ValueError(f"the graph must have one Input node, not {len(inputs)}")
    order, seen, name = [], set(), inputs[0]
    while True:
        node = graph.nodes.get(name)
        if node is None:
            raise ValueError(f"edge to {name!r}, which is no node of the graph")
        if isinstance(node, nir.NIRGraph):
            raise ValueError(f"node {name} (a subgraph: a recurrent layer?): only chains of "
                             "feed-forward layers and IF neurons convert")
        order.append((name, node))
        seen.add(name)
        nxt = succ.get(name, [])
        if isinstance(node, nir.Output):
            if nxt:
                raise ValueError(f"node {name} (Output) has outgoing edges")
            break
        if len(nxt) != 1:
            raise ValueError(f"node {name} ({type(node).__name__}) feeds {len(nxt)} nodes "
                             f"({', '.join(nxt) or 'none'}): only a chain converts")
        if nxt[0] in seen:
            raise ValueError(f"node {name} ({type(node).__name__}) feeds {nxt[0]} again: "
                             "recurrence does not convert")
        name = nxt[0]
    left = set(graph.nodes) - seen
    if left:
        raise ValueError(f"node {sorted(left)[0]} ({type(graph.nodes[sorted(left)[0]]).__name__}) "
                         "is off the Input-to-Output chain (recurrent or branched)")
    return order


def _uniform(name, kind, what, value) -> float:
    v = np.asarray(value, dtype=np.float64)
    if v.size == 0 or not np.all(v == v.flat[0]):
        raise ValueError(f"node {name} ({kind}): {what} must be the same for the whole layer")
    return float(v.flat[0])


def _pair(v) -> tuple:
    a = np.ravel(np.asarray(v))
    return (int(a[0]), int(a[0])) if a.size == 1 else tuple(int(x) for x in a)


def _neuron(name, node) -> float:
    """The per-step gain ``r`` of an IF-like node."""
    import nir
    kind = type(node).__name__
    if isinstance(node, nir.IF):
        if np.any(np.asarray(node.v_reset) != 0):
            raise ValueError(f"node {name} (IF): v_reset must be 0, not "
                             f"{np.ravel(node.v_reset)[0]}")
        return _uniform(name, kind, "r", node.r)
    if isinstance(node, nir.LIF):
        tau = np.asarray(node.tau, dtype=np.float64)
        if not np.all(np.isinf(tau)) or np.any(np.asarray(node.v_leak) != 0) \
                or not np.all(np.isinf(np.asarray(node.r, dtype=np.float64))):
            raise ValueError(f"node {name} (LIF): a leaking neuron (tau = "
                             f"{np.ravel(tau)[0]:g}) does not convert; augsnn's neurons are "
                             "IF (only an LIF of infinite tau and r, snnTorch's Leaky(beta=1), "
                             "reads as one)")
        if np.any(np.asarray(node.v_reset) != 0):
            raise ValueError(f"node {name} (LIF): v_reset must be 0")
        return 1.0
    raise ValueError(f"node {name} ({kind}): not an IF neuron; augsnn runs IF neurons only "
                     "(no leak, synaptic current, delay or recurrence)")


def nir_model(source, *, name: str = "nir", weight_bits: int = 8, input_scale: float = 1 / 255,
              image_shape=None, use_metadata: bool = True, meta: dict | None = None):
    """``(Model, report)`` of a NIR graph (module docstring).

    ``report``: per weighted layer the weight scale ``k``, the largest weight error
    ``max|W_int / k - w| / max|w|`` and the threshold's rounding error (relative), plus
    the ``notes`` on assumed semantics. ``image_shape``: the data set's ``(C, H, W)``; a graph
    whose input is a flat vector of that size takes the images through a leading flatten.
    """
    import nir
    graph = read_graph(source)
    header = graph.metadata.get("augsnn.header") if isinstance(graph.metadata, dict) else None
    order = _chain(graph)
    if header is not None and use_metadata:
        return _exact(order, json.loads(str(header)))
    if isinstance(weight_bits, bool) or not isinstance(weight_bits, int) \
            or not 2 <= weight_bits <= 16:
        raise ValueError(f"weight_bits must be an integer in 2..16, not {weight_bits!r}")
    if not input_scale > 0:
        raise ValueError(f"input_scale must be > 0, not {input_scale!r}")
    wmax = (1 << (weight_bits - 1)) - 1
    shape = tuple(int(x) for x in np.ravel(order[0][1].input_type["input"]))
    layers: list = []
    input_shape = shape
    if len(shape) == 1 and image_shape is not None and math.prod(image_shape) == shape[0]:
        input_shape = tuple(image_shape)
        layers.append(Flatten())
    unit = float(input_scale)  # value of one input unit of the next weighted layer
    div = 1.0                  # average pools since the last weighted layer
    pending = None             # a weighted layer waiting for its neuron
    report = {"layers": [], "notes": [
        "IF neurons reset by subtracting the threshold (the default of snnTorch and sinabs; "
        "NIR's IF says reset to v_reset)",
        f"the input is the image times {input_scale:.6g} as a constant current every step",
        "spikes fire at V >= threshold (NIR: v > v_threshold; differs only on exact ties)"]}
    for nname, node in order[1:]:
        kind = type(node).__name__
        where = f"node {nname} ({kind})"
        if pending is not None and not isinstance(node, (nir.IF, nir.LIF)):
            _neuron(nname, node)  # refuses, naming it
        if isinstance(node, nir.Output):
            break
        if isinstance(node, nir.Scale):
            if any(hasattr(l, "weight") for l in layers):
                raise ValueError(f"{where}: only a Scale before the first weighted layer "
                                 "converts")
            unit *= _uniform(nname, kind, "scale", node.scale)
        elif isinstance(node, nir.Flatten):
            if len(shape) > 1:
                layers.append(Flatten())
                shape = (math.prod(shape),)
        elif isinstance(node, (nir.SumPool2d, nir.AvgPool2d)):
            ks, st, pad = _pair(node.kernel_size), _pair(node.stride), _pair(node.padding)
            if ks[0] != ks[1] or st != ks or any(pad) or not 2 <= ks[0] <= 8:
                raise ValueError(f"{where}: only square, unpadded pooling of stride = size "
                                 f"2..8 converts, not kernel {ks}, stride {st}, padding {pad}")
            if not layers or not any(hasattr(l, "weight") for l in layers):
                raise ValueError(f"{where}: pooling before the first weighted layer")
            layers.append(SumPool(ks[0]))
            shape = layers[-1].out_shape(shape)
            if isinstance(node, nir.AvgPool2d):
                div *= ks[0] * ks[1]
        elif isinstance(node, (nir.Linear, nir.Affine, nir.Conv2d)):
            w = np.asarray(node.weight, dtype=np.float64)
            bias = getattr(node, "bias", None)
            if bias is not None and np.any(np.asarray(bias) != 0):
                raise ValueError(f"{where}: has a non-zero bias; only bias-free layers convert")
            padding = 0
            if isinstance(node, nir.Conv2d):
                if _pair(node.stride) != (1, 1) or _pair(node.dilation) != (1, 1) \
                        or int(node.groups) != 1 or w.ndim != 4 or w.shape[2] != w.shape[3]:
                    raise ValueError(f"{where}: only square kernels, stride 1, no dilation, "
                                     "one group convert")
                p = node.padding
                if isinstance(p, str):
                    p = {"valid": 0, "same": w.shape[2] // 2}.get(p)
                pp = _pair(p) if p is not None else (-1, 0)
                if pp[0] != pp[1] or not 0 <= pp[0] < w.shape[2]:
                    raise ValueError(f"{where}: padding {node.padding!r} does not convert")
                padding = pp[0]
            w_eff = w / div
            div = 1.0
            pending = (nname, w_eff, padding, unit)
            continue
        elif isinstance(node, (nir.IF, nir.LIF)):
            if pending is None:
                raise ValueError(f"{where}: a neuron not after a weighted layer")
            gain = _neuron(nname, node)
            thr = _uniform(nname, kind, "v_threshold", node.v_threshold)
            if not thr > 0 or not gain > 0:
                raise ValueError(f"{where}: threshold and r must be > 0, not {thr}, {gain}")
            lname, w_eff, padding, u = pending
            absmax = float(np.abs(w_eff).max())
            if absmax == 0:
                raise ValueError(f"node {lname}: all weights are zero")
            k = wmax / absmax
            if absmax <= wmax and np.array_equal(w_eff, np.rint(w_eff)):
                k = 1.0  # integer weights that fit (an augsnn export): kept as they are
            w_int = np.clip(np.rint(w_eff * k), -wmax, wmax).astype(
                np.int8 if weight_bits <= 8 else np.int16)
            theta_real = thr * k / (gain * u)
            theta = max(1, int(round(theta_real)))
            params = NeuronParams(theta, None, 2, 62)
            layer = (Conv2d(w_int, params, weight_bits, padding) if w_int.ndim == 4
                     else Dense(w_int, params, weight_bits))
            shape = layer.out_shape(shape)
            layers.append(layer)
            report["layers"].append({
                "node": lname, "neuron": nname, "k": k, "theta_p": theta,
                "theta_real": theta_real,
                "weight_error": float(np.abs(w_int / k - w_eff).max() / absmax),
                "theta_error": abs(theta - theta_real) / theta_real})
            pending, unit = None, 1.0
        else:
            raise ValueError(f"{where}: unsupported node; augsnn converts IF networks of "
                             "Linear / Conv2d / pooling / Flatten nodes")
    if pending is not None:
        raise ValueError(f"node {pending[0]}: the last weighted layer has no IF neuron")
    meta = {"source": "nir", **(meta or {})}
    model = Model(name, "datanorm", input_shape, layers, "spiking", meta)
    for layer, bound in zip(model.weighted, model.current_bounds()):
        n = layer.neuron
        layer.neuron = NeuronParams(n.theta_p, None, 2, signed_bits(2 * max(bound, 2 * n.theta_p)))
    return model, report


def _exact(order, header) -> tuple:
    """The model of a graph written by :mod:`.nir_export`, from its metadata."""
    import nir
    layers = []
    for nname, node in order[1:]:
        m = node.metadata or {}
        if isinstance(node, nir.Flatten):
            layers.append(Flatten())
        elif isinstance(node, nir.SumPool2d):
            layers.append(SumPool(_pair(node.kernel_size)[0]))
        elif isinstance(node, (nir.Linear, nir.Conv2d)):
            w = np.asarray(node.weight)
            bits = int(m["augsnn.weight_bits"])
            if not np.array_equal(w, np.rint(w)):
                raise ValueError(f"node {nname}: augsnn metadata but weights that are not "
                                 "integers")
            w = w.astype(np.int8 if bits <= 8 else np.int16)
            pad = _pair(node.padding)[0] if isinstance(node, nir.Conv2d) else 0
            layers.append((nname, w, bits, pad))
        elif isinstance(node, (nir.IF, nir.I)):
            tn = int(m["augsnn.theta_n"])
            params = NeuronParams(int(m["augsnn.theta_p"]), None if tn < 0 else tn,
                                  int(m["augsnn.coef_bits"]), int(m["augsnn.pot_bits"]),
                                  int(m["augsnn.v_init"]))
            _, w, bits, pad = layers.pop()
            layers.append(Conv2d(w, params, bits, pad) if w.ndim == 4 else Dense(w, params, bits))
    model = Model(header["name"], header["method"], tuple(header["input_shape"]), layers,
                  header["output"], header["meta"])
    return model, {"layers": [], "notes": ["read exactly from the augsnn.* metadata"]}
