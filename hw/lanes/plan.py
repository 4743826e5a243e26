# amaranth: UnusedElaboratable=no
"""Plan of a whole-network accelerator: layouts, widths and memory images, checked up front.

Layer: ``hw``. Plain Python and NumPy (no Amaranth): everything the RTL generator
(:mod:`augsnn.hw.lanes.accelerator`) and the testbench (:mod:`augsnn.sim.accelerator`) need to agree
on is computed here once, from a :class:`~augsnn.golden.model.Model`, and a model the
generator cannot build is refused here, before any elaboration, with a ``PlanError`` that
names the layer and the value.

Neuron layout of a weighted layer with ``OC`` output channels (dense: ``OC`` outputs, one
position), output ``OH x OW``, ``lanes`` channel lanes ``Lc`` and ``taps`` output columns per
beat ``P`` (conv only; the core has ``Lc * P`` lanes): ``G = ceil(OC / Lc)`` groups,
``OWb = ceil(OW / P)`` column blocks; neuron ``(oc, oy, ox)`` sits in row
``((oy * OWb + ox // P) * G + oc // Lc)``, lane ``(ox % P) * Lc + oc % Lc`` of the
:class:`~augsnn.hw.neuron_core.NeuronCore` (at ``P = 1``: neuron ``(oy * OW + ox) * G * Lc +
oc``). Padding neurons (channels ``>= OC`` of the last group when ``Lc`` does not divide
``OC``, columns ``>= OW`` of the last block when ``P`` does not divide ``OW``) have zero
current and their spikes are dropped.

Weight memory (one word of ``lanes`` weights per address, lane ``k`` at bits
``k*weight_bits``): conv ``word[((c*k + dy)*k + dx)*G + g][k'] = W[g*lanes + k', c, dy, dx]``;
dense ``word[j*G + g][k'] = W[g*lanes + k', j]``, ``j`` the flatten (C, H, W) index of the
input. Padding lanes hold 0. A layer with ``taps = P`` has ``P`` copies of this memory (one
per column ``j`` of a block, each read at its own ``dx``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from augsnn.golden.checks import check_int, signed_bits
from augsnn.golden.model import Conv2d, Dense, Flatten, Model, SumPool
from augsnn.golden.neuron import NeuronParams

from ..plan import PlanError, answer_words

__all__ = ["LayerPlan", "AccelPlan", "plan", "layer_work", "cycle_bound", "lanes_text", "MAX_LANES",
           "check_taps"]

#: FirstLayer's current memories: the running image's and the next one's (image overlap).
CURRENT_BANKS = 2

#: Largest lane count.
MAX_LANES = 64


@dataclass(frozen=True)
class LayerPlan:
    """How one weighted layer is laid out in the accelerator.

    Members
    -------
    number : int
        Weighted-layer number (0 = first).
    index : int
        Position in ``model.layers``.
    kind : str
        ``conv2d`` or ``dense``.
    grid : tuple
        ``(C, H, W)`` of the input events (the input before any flatten; a 1-d input of
        ``N`` values is ``(N, 1, 1)``).
    out_channels, out_h, out_w, k : int
        Output channels (dense: outputs), output size (dense: 1 x 1) and kernel (dense: 1).
    padding : int
        Zero padding of a conv layer on every side (0: valid convolution).
    groups : int
        Rows per output position, ``ceil(out_channels / lanes)``.
    rows : int
        NeuronCore rows, ``out_h * out_w * groups``.
    in_max : int
        Largest input coefficient magnitude (255 for the first layer; ``M`` of the layer
        before times the pooling window size otherwise).
    in_bits : int
        Signed width of an input coefficient.
    product_bits : int
        Signed width of one lane's ``weight * coefficient``.
    bound : int
        The layer's static bound on ``|I|`` (``Model.current_bounds``).
    acc_bits, current_bits : int
        NeuronCore accumulator and per-beat current widths.
    pool : int
        Size of the (merged) sum-pooling applied to this layer's output, 1 for none.
    lanes : int
        Channel lanes ``Lc`` (output channels updated per beat).
    taps : int
        Output columns updated per beat ``P`` (1 for dense layers); the core has
        ``core_lanes = lanes * taps`` lanes.
    """

    number: int
    index: int
    kind: str
    grid: tuple
    out_channels: int
    out_h: int
    out_w: int
    k: int
    padding: int
    lanes: int
    groups: int
    weight_bits: int
    in_max: int
    in_bits: int
    product_bits: int
    bound: int
    acc_bits: int
    current_bits: int
    neuron: NeuronParams
    pool: int
    weight: np.ndarray = field(repr=False, compare=False)
    taps: int = 1

    @property
    def core_lanes(self) -> int:
        """NeuronCore lanes (and multipliers): ``lanes * taps``."""
        return self.lanes * self.taps

    @property
    def blocks(self) -> int:
        """Column blocks of an output row, ``ceil(out_w / taps)``."""
        return -(-self.out_w // self.taps)

    @property
    def rows(self) -> int:
        return self.out_h * self.blocks * self.groups

    @property
    def neurons(self) -> int:
        """Neurons in the core, padding included."""
        return self.rows * self.core_lanes

    @property
    def real_neurons(self) -> int:
        return self.out_channels * self.out_h * self.out_w

    @property
    def stride(self) -> int:
        """Channel stride ``Cs`` of the neuron layout."""
        return self.groups * self.lanes

    @property
    def padded(self) -> bool:
        """Some lanes hold padding neurons (channels or columns)."""
        return self.stride != self.out_channels or self.blocks * self.taps != self.out_w

    @property
    def rom_depth(self) -> int:
        c, h, w = self.grid
        if self.kind == "dense":
            return c * h * w * self.groups
        return c * self.k * self.k * self.groups

    @property
    def rom_width(self) -> int:
        """Width of one weight word (of one of the ``taps`` copies)."""
        return self.lanes * self.weight_bits

    @property
    def pooled_h(self) -> int:
        return self.out_h // self.pool

    @property
    def pooled_w(self) -> int:
        return self.out_w // self.pool

    @property
    def out_max(self) -> int:
        """Largest coefficient magnitude this layer passes on (after its pooling)."""
        return self.neuron.M * self.pool * self.pool

    @property
    def wide_bits(self) -> int:
        """Stored width of one neuron in the NeuronCore."""
        return max(self.neuron.pot_bits, self.acc_bits) + 1

    def rom_words(self) -> np.ndarray:
        """The weight memory image, ``(rom_depth, lanes)`` int64 (layout in the module doc)."""
        w = self.weight.astype(np.int64)
        oc, L, G = self.out_channels, self.lanes, self.groups
        pad = G * L - oc
        if self.kind == "dense":
            w = np.concatenate([w, np.zeros((pad, w.shape[1]), np.int64)]) if pad else w
            # (G, L, IN) -> (IN, G, L)
            return w.reshape(G, L, -1).transpose(2, 0, 1).reshape(-1, L)
        if pad:
            w = np.concatenate([w, np.zeros((pad,) + w.shape[1:], np.int64)])
        ic, k = w.shape[1], w.shape[2]
        # (G, L, IC, k, k) -> (IC, k, k, G, L)
        return w.reshape(G, L, ic, k, k).transpose(2, 3, 4, 0, 1).reshape(-1, L)

    def neuron_index(self) -> np.ndarray:
        """Core neuron index of every real neuron, shaped like the layer's output."""
        oc = np.arange(self.out_channels)[:, None, None]
        oy = np.arange(self.out_h)[None, :, None]
        ox = np.arange(self.out_w)[None, None, :]
        L, P, G = self.lanes, self.taps, self.groups
        row = (oy * self.blocks + ox // P) * G + oc // L
        idx = row * (L * P) + (ox % P) * L + oc % L
        return idx if self.kind == "conv2d" else idx.reshape(-1)


@dataclass(frozen=True)
class AccelPlan:
    """Everything the generator builds, checked (see :func:`plan`)."""

    name: str
    lanes: int | tuple    # one count, or one per weighted layer
    input_shape: tuple
    grid: tuple
    layers: tuple
    n_classes: int
    memory: dict
    taps: int | tuple = 1   # one count (1), or one per weighted layer

    @property
    def pixels(self) -> int:
        return int(np.prod(self.input_shape))

    @property
    def result_words(self) -> int:
        """Words of one result: class, counts, events per layer, cycles."""
        return answer_words(self.n_classes, len(self.layers))

    @property
    def multipliers(self) -> int:
        """Multipliers of the design: one per lane of every layer's FanOut."""
        return sum(lp.core_lanes for lp in self.layers)

    def memory_bits(self) -> int:
        """On-chip memory bits of the plan (weights, membranes, current, pooling)."""
        return self.memory["total"]

    def banks(self) -> tuple:
        """Rows used in each SPRAM bank: none (every memory is block RAM or logic)."""
        return ()

    def rom_images(self) -> dict:
        """``weights<l>`` -> (packed words, word width) of every weighted layer."""
        from ..emit import pack_words
        return {f"weights{lp.number}": (pack_words(lp.rom_words(), lp.weight_bits), lp.rom_width)
                for lp in self.layers}

    def memories(self, rx_fifo_depth: int | None = None) -> list[tuple[str, int, int]]:
        """Every memory of the accelerator: ``(name, depth, width)`` (for the fit check)."""
        from ..neuron_core import NeuronCore
        from .layouts import core_output_layout
        out = []
        for lp in self.layers:
            n = lp.neuron
            core = NeuronCore(coef_bits=n.coef_bits, current_bits=lp.current_bits,
                              pot_bits=n.pot_bits, theta_p=n.theta_p, theta_n=n.theta_n,
                              neurons=lp.neurons, lanes=lp.lanes, v_init=n.v_init,
                              acc_bits=lp.acc_bits)
            out.append((f"out_fifo{lp.number}", core.latency + 3, core_output_layout(lp).size))
            for j in range(lp.taps):
                out.append((f"weights{lp.number}" + (f".{j}" if lp.taps > 1 else ""),
                            lp.rom_depth, lp.rom_width))
            for k in range(lp.core_lanes):
                out.append((f"membranes{lp.number}.{k}", max(2, lp.rows), lp.wide_bits))
            if lp.pool > 1:
                pbits = signed_bits(lp.out_max)
                out.append((f"pool{lp.number}", max(2, 2 * lp.pooled_w * lp.groups),
                            lp.lanes * pbits))
        first = self.layers[0]
        for b in range(CURRENT_BANKS):
            out.append((f"current0.{b}", max(2, first.rows), first.core_lanes * first.acc_bits))
        if rx_fifo_depth:
            out.append(("uart_rx_fifo", rx_fifo_depth, 8))
        return out

    def cycles(self, synops: np.ndarray, T: int) -> np.ndarray:
        """The cycle bound per image (:func:`cycle_bound`)."""
        return cycle_bound(self, synops, T)

    def critical(self, synops: np.ndarray, T: int) -> np.ndarray:
        """The busiest layer's bound per image (the steady state if images overlapped)."""
        return layer_work(self, synops, T).max(axis=0)

    def describe(self) -> str:
        taps = f", taps {lanes_text(self.taps)}" if self.taps != 1 else ""
        lines = [f"{self.name}: {lanes_text(self.lanes)} lanes{taps}, {self.pixels} pixels in, "
                 f"{self.n_classes} classes out, on-chip memory {self.memory['total']} bits"]
        for lp in self.layers:
            pool = f", sum-pool {lp.pool}" if lp.pool > 1 else ""
            lines.append(
                f"  L{lp.number} {lp.kind:6s} {lp.out_channels}x{lp.out_h}x{lp.out_w} "
                f"({lp.rows} rows x {lp.core_lanes} lanes"
                f"{f' = {lp.lanes} x {lp.taps} taps' if lp.taps > 1 else ''}"
                f"{', padded' if lp.padded else ''}), "
                f"weights {lp.rom_depth}x{lp.rom_width}b, input coef <= {lp.in_max}, "
                f"product {lp.product_bits}b, acc {lp.acc_bits}b{pool}")
        return "\n".join(lines)


def lanes_text(lanes) -> str:
    """``8`` for one lane count, ``16,64,16`` for per-layer lane counts (``auto`` as is)."""
    return str(lanes) if isinstance(lanes, (int, str)) else ",".join(map(str, lanes))


def _listed(name: str, values, n_layers: int):
    """``values`` as a tuple if it names one count per weighted layer (``None`` for one
    count); refuses a list of the wrong length."""
    if not isinstance(values, (list, tuple)):
        return None
    if len(values) != n_layers:
        raise PlanError(f"{name} {lanes_text(tuple(values))} name {len(values)} layers; the "
                        f"model has {n_layers} weighted layers")
    return tuple(values)


def _check_lanes(lanes, n_layers: int) -> tuple[int, ...]:
    """Per-layer lane counts from one count or one per weighted layer (powers of two)."""
    per_layer = _listed("lanes", lanes, n_layers) or (lanes,) * n_layers
    out = []
    for n, value in enumerate(per_layer):
        what = "Lane count" if not isinstance(lanes, (list, tuple)) else \
            f"Lane count of weighted layer {n}"
        value = check_int(what, value, 1, MAX_LANES)
        if value & (value - 1):
            raise PlanError(f"{what} must be a power of two, not {value!r}")
        out.append(value)
    return tuple(out)


def check_taps(taps, kinds: list[str]) -> tuple[int, ...]:
    """Per-layer taps from one count (every conv layer; dense layers 1) or one per layer.

    ``kinds``: ``conv2d`` / ``dense`` of each weighted layer. Powers of two, 1..64; a dense
    layer takes only 1 (checked here); the kernel, lane and pooling limits in :func:`plan`.
    """
    n_layers = len(kinds)
    per_layer = _listed("taps", taps, n_layers)
    if per_layer is None:
        per_layer = tuple(taps if kind == "conv2d" else 1 for kind in kinds)
        if not kinds or "conv2d" not in kinds:
            per_layer = (taps,) * n_layers
    out = []
    for n, value in enumerate(per_layer):
        what = "Taps" if not isinstance(taps, (list, tuple)) else f"Taps of weighted layer {n}"
        value = check_int(what, value, 1, MAX_LANES)
        if value & (value - 1):
            raise PlanError(f"{what} must be a power of two, not {value!r}")
        if value > 1 and kinds[n] == "dense":
            raise PlanError(f"{what} must be 1 on a dense layer, not {value!r} (taps are "
                            f"output columns of a convolution)")
        out.append(value)
    return tuple(out)


def plan(model: Model, *, lanes: int | tuple = 8, taps: int | tuple = 1, padding: bool = True,
         memory_budget_bits: int | None = None) -> AccelPlan:
    """Check that the accelerator can be built for ``model`` and lay it out.

    Parameters
    ----------
    model : Model
    lanes : int or sequence of int
        Parallel synaptic updates (and NeuronCore lanes) of every weighted layer, or one
        count per weighted layer (folding, :mod:`augsnn.hw.lanes.folding`): powers of two,
        1..64.
    taps : int or sequence of int
        Output columns of a conv layer updated per beat (tap parallelism): one count for
        every conv layer (dense layers 1) or one per weighted layer; a power of two, at most
        the kernel size, ``lanes * taps <= 64``, and dividing the layer's sum-pooling size.
    padding : bool
        Pad a layer whose output channels (dense: outputs) its lanes do not divide with
        idle neurons; ``False`` refuses such a layer instead.
    memory_budget_bits : int or None
        Refuse a model that needs more on-chip memory bits (weights, membranes, first-layer
        current, pooling buffers).

    Raises
    ------
    TypeError
        An option of the wrong type.
    PlanError
        The model or an option cannot be built; the message names the layer and the value.
    """
    if not isinstance(model, Model):
        raise TypeError(f"model must be an augsnn Model, not {model!r}")
    if not isinstance(padding, bool):
        raise TypeError(f"padding must be a bool, not {padding!r}")
    if memory_budget_bits is not None:
        memory_budget_bits = check_int("Memory budget", memory_budget_bits, 0)
    if model.output != "spiking":
        raise PlanError(f"model output {model.output!r} (non-spiking output layer) is not "
                         f"supported by the accelerator; it needs a spiking output layer")
    for i, layer in enumerate(model.layers):
        if not isinstance(layer, (Dense, Conv2d, SumPool, Flatten)):
            raise PlanError(f"layers[{i}]: layer type {type(layer).__name__!r} is not supported "
                             f"by the accelerator (dense, conv2d, sumpool, flatten)")
    last = max(i for i, layer in enumerate(model.layers) if isinstance(layer, (Dense, Conv2d)))
    if not isinstance(model.layers[last], Dense):
        raise PlanError(f"layers[{last}]: the output layer must be dense, not "
                         f"{model.layers[last].type}")

    stages = model.stages()
    bounds = model.current_bounds()
    n_weighted = len(stages)
    per_layer = _check_lanes(lanes, n_weighted)
    kinds = ["conv2d" if isinstance(st.layer, Conv2d) else "dense" for st in stages]
    per_taps = check_taps(taps, kinds)
    taps = per_taps if len(set(per_taps)) > 1 else per_taps[0]
    if not isinstance(lanes, (list, tuple)):
        lanes = per_layer[0]
    elif len(set(per_layer)) == 1:
        lanes = per_layer[0]                # one count for every layer: the plain form
    else:
        lanes = per_layer
    grid = stages[0].in_grid

    layers = []
    in_max = 255
    for stage in stages:
        number, i, layer = stage.number, stage.index, stage.layer
        where = f"layers[{i}] ({layer.type})"
        n = layer.neuron
        w = np.asarray(layer.weight)
        wb = check_int(f"{where}: weight_bits", layer.weight_bits, 2, 16)
        if w.size and (int(w.max()) > (1 << (wb - 1)) - 1 or int(w.min()) < -(1 << (wb - 1))):
            raise PlanError(f"{where}: weights [{int(w.min())}, {int(w.max())}] exceed "
                             f"weight_bits={wb}")
        if not 2 <= n.coef_bits <= 16:
            raise PlanError(f"{where}: coef_bits must be between 2 and 16, not {n.coef_bits}")
        if isinstance(layer, Conv2d):
            oc, ic, k, k2 = w.shape
            if k != k2:
                raise PlanError(f"{where}: the kernel must be square, not {k}x{k2}")
            _, oh, ow = stage.out_grid
            pad = int(getattr(layer, "padding", 0))
            kind = "conv2d"
        else:
            oc, k, oh, ow, pad = w.shape[0], 1, 1, 1, 0
            kind = "dense"
        ln = per_layer[number]
        if oc % ln and not padding:
            raise PlanError(f"{where}: {ln} lanes do not divide its {oc} output "
                             f"{'channels' if kind == 'conv2d' else 'neurons'} (padding=False)")
        # Sum-pooling after this layer (consecutive pools merge: floor division composes).
        pool = stage.pool
        if pool > 1 and kind == "dense":
            raise PlanError(f"{where}: sum-pooling after a dense layer is not supported")
        tp = per_taps[number]
        if tp > k:
            raise PlanError(f"{where}: taps {tp} exceed its {k}x{k} kernel (taps <= {k})")
        if ln * tp > MAX_LANES:
            raise PlanError(f"{where}: {ln} lanes x {tp} taps = {ln * tp} NeuronCore lanes, "
                            f"more than {MAX_LANES}")
        if ow % tp and not padding:
            raise PlanError(f"{where}: taps {tp} do not divide its {ow} output columns "
                            f"(padding=False)")
        if pool > 1 and pool % tp:
            raise PlanError(f"{where}: taps {tp} do not divide its sum-pooling size {pool} "
                            f"(a column block must lie in one pooling window)")
        in_bits = signed_bits(in_max)
        wmax = int(np.abs(w.astype(np.int64)).max()) if w.size else 0
        product_bits = max(2, signed_bits(wmax * in_max))
        bound = int(bounds[number])
        acc_bits = max(product_bits, signed_bits(bound))
        if acc_bits > 62:
            raise PlanError(f"{where}: its current bound {bound} needs a {acc_bits}-bit "
                             f"accumulator, more than 62 bits")
        current_bits = acc_bits if number == 0 else product_bits
        groups = math.ceil(oc / ln)
        layers.append(LayerPlan(
            number=number, index=i, kind=kind, grid=stage.in_grid,
            out_channels=int(oc), out_h=int(oh), out_w=int(ow), k=int(k), padding=pad,
            lanes=ln,
            groups=groups, weight_bits=wb, in_max=in_max, in_bits=in_bits,
            product_bits=product_bits, bound=bound, acc_bits=acc_bits,
            current_bits=current_bits, neuron=n, pool=pool, weight=w, taps=tp))
        in_max = n.M * pool * pool

    memory = {"weights": 0, "membranes": 0, "current": 0, "pooling": 0}
    for lp in layers:
        memory["weights"] += lp.rom_depth * lp.rom_width * lp.taps
        memory["membranes"] += max(2, lp.rows) * lp.core_lanes * lp.wide_bits
        if lp.pool > 1:
            memory["pooling"] += 2 * lp.pooled_w * lp.groups * lp.lanes * signed_bits(lp.out_max)
    first = layers[0]
    memory["current"] = CURRENT_BANKS * max(2, first.rows) * first.core_lanes * first.acc_bits
    memory["total"] = sum(memory.values())
    if memory_budget_bits is not None and memory["total"] > memory_budget_bits:
        raise PlanError(
            f"the accelerator for {model.name} needs {memory['total']} bits of on-chip memory "
            f"(weights {memory['weights']}, membranes {memory['membranes']}, first-layer "
            f"current {memory['current']}, pooling {memory['pooling']}), more than "
            f"memory_budget_bits={memory_budget_bits}")
    return AccelPlan(name=model.name, lanes=lanes, input_shape=tuple(model.input_shape),
                     grid=tuple(grid), layers=tuple(layers), n_classes=int(model.n_classes),
                     memory=memory, taps=taps)


def layer_work(plan, synops: np.ndarray, T: int) -> np.ndarray:
    """Lower bound on each layer's busy cycles per image, ``(L, N)``.

    ``ceil(S_l / lanes_l) + T * ceil(N_l / lanes_l)``: its synaptic updates, ``lanes_l``
    per cycle, and one fire pass over its neurons per step (``lanes_l``: the core's lanes,
    channel lanes times taps). ``T``: the steps, one number or
    one per image (the steps each ran, with early exit).
    """
    lanes = np.array([lp.core_lanes for lp in plan.layers])
    per_layer = synops.sum(axis=1)                                   # (L, N)
    steps = np.broadcast_to(np.asarray(T, dtype=np.int64), per_layer.shape[1:])
    fire = np.array([math.ceil(lp.real_neurons / lp.core_lanes) for lp in plan.layers])
    return -(-per_layer // lanes[:, None]) + fire[:, None] * steps[None, :]


def cycle_bound(plan, synops: np.ndarray, T: int) -> np.ndarray:
    """Lower bound on the cycles of each image (docs/accelerator.md, "Efficiency").

    ``bound = sum over weighted layers l of (ceil(S_l / lanes) + T * ceil(N_l / lanes))``
    with ``S_l`` the golden model's synops of layer ``l`` over the ``T`` steps (pooled
    non-zero inputs times their fan-out; the first layer's image current counted once) and
    ``N_l`` its neurons.

    Parameters
    ----------
    synops : int array (L, T, N)
        ``RunResult.synops``.
    """
    return layer_work(plan, synops, T).sum(axis=0)
