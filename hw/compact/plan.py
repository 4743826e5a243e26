"""The plan of the compact engine: layers as convolutions, two single-port memory banks.

Layer: ``hw`` (plain Python + NumPy; no Amaranth). :func:`compact_plan` checks a converted
model against what :class:`~augsnn.hw.compact.accelerator.CompactAccelerator` runs and lays it out:

* every weighted layer becomes a valid convolution ``(cin, hin, win) -> (cout, hout, wout)``
  with a ``kh x kw`` kernel (a dense layer is a 1x1 convolution over ``cin`` channels, so a
  flattened input needs no special case), optionally followed by sum pooling;
* every large memory lives in one of two 32-bit banks of ``BANK_ROWS`` rows, each a pair of
  iCE40 UP5K SPRAM blocks: membranes ``V``, the first layer's input current ``I``, the
  later layers' step accumulators ``A``, the output counts, and the weights (4 bytes a row,
  loaded over the serial link). Regions that the engine touches in the same cycle are put in
  different banks (see :class:`CompactPlan`).

docs/compact-engine.md describes the engine, its schedule and the cycle model used here.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from augsnn.golden.checks import signed_bits

from ..plan import HEADER_BYTES, PlanError, answer_words

__all__ = ["BANK_ROWS", "BANKS", "CompactLayer", "CompactPlan", "compact_plan", "NotCompact",
           "weight_frame", "weight_checksum"]

#: Rows of one bank: a 16 k x 16 bit SPRAM pair makes 16 k x 32 bit.
BANK_ROWS = 16384
#: Number of banks (the UP5K's four SPRAM blocks as two pairs).
BANKS = 2
#: Accumulator lanes of the scatter (one multiplier and one block-RAM bank each): a weight
#: read from both SPRAM pairs (8 bytes) feeds all of them in one cycle.
LANES = 8
#: Rows of one accumulator lane (a 256 x 32 block RAM pair); a scatter pass covers as many
#: 8-channel blocks of the output as fit.
LANE_ROWS = 256
#: Cycles per neuron of the update pipeline (a slot: the membrane's read and write, the
#: first layer's current read, an output count's read and write are on different cycles;
#: FirePipe does 4 division steps a stage).
UPDATE_CYCLES = 4
#: Cycles of an update pass besides two per neuron (start, pipeline fill and drain).
UPDATE_PASS_CYCLES = 5
#: Cycles of a scatter pass besides its scan and groups (start, pipeline drain).
SCATTER_PASS_CYCLES = 7
#: Cycles per non-zero spike-map entry and pass besides its groups (it is latched in the
#: scan's own cycle; two more to move on and read the next entries again).
ENTRY_CYCLES = 2
#: Cycles per first-layer neuron besides its multiply-accumulates (pipeline drain, write).
CURRENT_OVERHEAD = 4
#: Cycles of the decision after every step besides one per class (docs/golden-model.md
#: "Early exit": leader and runner-up from the counts, then stop or go on).
DECIDE_CYCLES = 6


class NotCompact(PlanError):
    """The model cannot run on the compact engine (the message says why)."""


@dataclass(frozen=True)
class CompactLayer:
    """One weighted layer as the engine runs it (a valid convolution, then sum pooling).

    ``number`` counts weighted layers from 0; layer 0 gathers its (constant) input current
    from the pixels once per image, later layers scatter their input spikes.
    """

    number: int
    kind: str               # "conv2d" or "dense" (as in the model)
    cin: int
    hin: int
    win: int
    cout: int
    hout: int
    wout: int
    kh: int
    kw: int
    pool: int               # sum-pooling size after the layer (1: none)
    neuron: object          # golden NeuronParams
    weight_bytes: bytes     # in the engine's order (see CompactPlan.weight_order)
    out_shape: tuple

    @property
    def neurons(self) -> int:
        return self.cout * self.hout * self.wout

    @property
    def lanes(self) -> int:          # the trace decoder of augsnn.sim.accelerator asks
        return 1

    @property
    def hp(self) -> int:
        return self.hout // self.pool

    @property
    def wp(self) -> int:
        return self.wout // self.pool

    @property
    def pooled(self) -> int:
        """Entries of the spike map this layer hands to the next (after pooling)."""
        return self.cout * self.hp * self.wp

    @property
    def k(self) -> int:
        """Quotient bits of the fire divider (``coef_bits - 1``)."""
        return self.neuron.coef_bits - 1

    @property
    def blocks(self) -> int:
        """Blocks of :data:`LANES` output channels (scatter layers)."""
        return math.ceil(self.cout / LANES)

    @property
    def pass_blocks(self) -> int:
        """Blocks a scatter pass covers (its accumulators fill at most a lane)."""
        return max(1, min(self.blocks, LANE_ROWS // (self.hout * self.wout)))

    @property
    def passes(self) -> int:
        """Scatter passes per step (each followed by the update of its neurons)."""
        return 1 if self.number == 0 else math.ceil(self.blocks / self.pass_blocks)

    def pass_ranges(self) -> list[tuple[int, int]]:
        """``(first block, blocks)`` of every pass."""
        if self.number == 0:
            return [(0, self.blocks)]
        return [(j, min(self.pass_blocks, self.blocks - j))
                for j in range(0, self.blocks, self.pass_blocks)]

    @property
    def weight_rows(self) -> int:
        """Rows of the weight region: layer 0, 4 bytes a row in one bank; later layers, one
        8-byte group (a block of output channels) a row, its halves in both banks."""
        if self.number == 0:
            return math.ceil(len(self.weight_bytes) / 4)
        return len(self.weight_bytes) // (4 * 2)

    def mean_valid_positions(self) -> float:
        """Kernel positions inside the output, averaged over the input entries."""
        def span(n_in, k, n_out):
            return sum(min(k - 1, i) - max(0, i - (n_out - 1)) + 1 for i in range(n_in)) / n_in
        return span(self.hin, self.kh, self.hout) * span(self.win, self.kw, self.wout)

    def neuron_index(self) -> np.ndarray:
        """Engine neuron number of every neuron, shaped like the layer's output (raster)."""
        return np.arange(self.neurons).reshape(self.out_shape)


@dataclass(frozen=True)
class CompactPlan:
    """A model laid out for the compact engine.

    Members
    -------
    layers : tuple of CompactLayer
    regions : dict
        ``name -> (bank, first_row, rows)`` for ``V<l>`` (membranes), ``X<l>`` (layer 0: input
        current; later layers: step accumulators), ``W<l>`` (weights, 4 bytes a row) and
        ``counts`` (the output counts, right after the last layer's ``X``).
    swap : tuple of int
        Per layer, the bank of its ``V`` and ``W`` regions; ``X`` and ``counts`` are in the
        other bank. That is the whole conflict rule: each cycle the engine reads or writes at
        most one ``V``/``W`` row and one ``X`` row.
    spike_depth, spike_bits : int
        The spike maps between layers (block RAM): most entries and signed width.
    spike_depths : tuple of int
        Entries of the two spike maps: map ``l % 2`` holds layer ``l``'s input (so a layer's
        update can fill the next map while a later pass still reads its own).
    x_bits : int
        Signed width of the multiplier's input operand (pixels or pooled spike sums).
    acc_bits : int
        Signed width of the scatter layers' accumulators (their current bounds).
    in_bits : int
        Signed width of any layer's step input (the current bounds).
    """

    model_name: str
    input_shape: tuple
    layers: tuple
    regions: dict
    swap: tuple
    spike_depth: int
    spike_bits: int
    spike_depths: tuple
    x_bits: int
    n_classes: int
    acc_bits: int = 32
    in_bits: int = 32

    @property
    def pixels(self) -> int:
        return int(np.prod(self.input_shape))

    @property
    def lanes(self) -> int:
        return 1

    @property
    def result_words(self) -> int:
        """Words of an answer: class, counts, events per layer, cycles."""
        return answer_words(self.n_classes, len(self.layers))

    @property
    def load_bytes(self) -> int:
        """Bytes of the weight frame's payload (every layer's weights, whole rows)."""
        return len(self.weight_payload())

    def bank_rows(self) -> list[int]:
        used = [0] * BANKS
        for bank, first, rows in self.regions.values():
            used[bank] = max(used[bank], first + rows)
        return used

    def weight_payload(self) -> bytes:
        """The weight frame's payload: each layer's weight bytes padded to whole rows."""
        out = bytearray()
        for lp in self.layers:
            out += lp.weight_bytes + bytes(-len(lp.weight_bytes) % 4)
        return bytes(out)

    @property
    def multipliers(self) -> int:
        """Multipliers of the design: one per accumulator lane (lane 0's also gathers)."""
        return LANES

    def memory_bits(self) -> int:
        """Bits of the two banks' regions (SPRAM)."""
        return sum(rows for _, _, rows in self.regions.values()) * 32

    def banks(self) -> tuple:
        """Rows used in each SPRAM bank."""
        return tuple(self.bank_rows())

    def rom_images(self) -> dict:
        """No ROMs: the weights come over the link in the weight frame."""
        return {}

    def memories(self, rx_fifo_depth: int | None = None) -> list[tuple[str, int, int]]:
        """The block-RAM memories besides the SPRAM banks: ``(name, depth, width)``."""
        out = [("pixels", max(2, self.pixels), 8)]
        out += [(f"spikes{k}", max(2, d), self.spike_bits)
                for k, d in enumerate(self.spike_depths)]
        out += [(f"acc{i}", LANE_ROWS, self.acc_bits) for i in range(LANES)]
        if rx_fifo_depth:
            out.append(("uart_rx_fifo", rx_fifo_depth, 8))
        return out

    def critical(self, synops: np.ndarray, T: int) -> np.ndarray:
        """One datapath runs every layer: the whole cycle model."""
        return self.cycles(synops, T)

    def describe(self) -> str:
        lines = [f"{self.model_name}: compact engine, {len(self.layers)} layers, banks "
                 f"{' + '.join(f'{u}' for u in self.bank_rows())} of {BANK_ROWS} rows x 32 bit"]
        for lp in self.layers:
            lines.append(
                f"  layer {lp.number}: {lp.kind} {lp.cin}x{lp.hin}x{lp.win} -> "
                f"{lp.cout}x{lp.hout}x{lp.wout} (kernel {lp.kh}x{lp.kw}, pool {lp.pool}), "
                f"{len(lp.weight_bytes)} weight bytes, {'gather' if lp.number == 0 else 'scatter'}")
        for name, (bank, first, rows) in self.regions.items():
            lines.append(f"  {name}: bank {bank}, rows {first}..{first + rows - 1}")
        return "\n".join(lines)

    def cycles(self, synops: np.ndarray, T) -> np.ndarray:
        """Cycle model per image from the golden model's synops ``(L, T, B)`` over the steps
        run; ``T``: the steps run (an int, or one per image under early exit).

        Exact but for the non-zero spike-map entries of a convolution, which the synops do
        not give: they are estimated as synops / (cout x the mean number of valid kernel
        positions of an input entry); each costs one cycle per pass.
        """
        synops = np.asarray(synops, dtype=np.int64)
        T = np.asarray(T, dtype=np.int64)
        B = synops.shape[2]
        total = np.zeros(B, dtype=np.int64)
        first = self.layers[0]
        kmax = max(lp.k for lp in self.layers)
        latency = 4 + UPDATE_CYCLES * -(-kmax // UPDATE_CYCLES)    # FirePipe.LATENCY
        total += HEADER_BYTES + self.pixels             # the header and pixels, a byte a cycle
        total += sum(lp.neurons for lp in self.layers)  # clear
        total += first.neurons * (first.cin * first.kh * first.kw + CURRENT_OVERHEAD) + 2
        per_step = self.n_classes + DECIDE_CYCLES       # the decision
        for lp in self.layers:
            last = lp.number == len(self.layers) - 1
            for j0, nbk in lp.pass_ranges():
                co = lp.cout if lp.number == 0 else min(lp.cout, LANES * (j0 + nbk)) - LANES * j0
                per_step += UPDATE_CYCLES * co * lp.hout * lp.wout + UPDATE_PASS_CYCLES \
                    + latency + (2 if last else 0)
                if lp.number:
                    per_step += 2 + lp.cin * lp.hin * lp.win + SCATTER_PASS_CYCLES
        total += T * per_step
        for lp in self.layers[1:]:
            syn = synops[lp.number].sum(axis=0)
            groups = syn * lp.blocks // lp.cout
            entries = syn / (lp.cout * lp.mean_valid_positions())
            total += groups + np.rint(ENTRY_CYCLES * lp.passes * entries).astype(np.int64)
        total += 1                                       # the first answer word
        return total


def weight_frame(plan: CompactPlan) -> bytes:
    """The frame that loads the weights: header ``T = 0`` (two zero bytes), then the payload."""
    return b"\x00\x00" + plan.weight_payload()


def weight_checksum(plan: CompactPlan) -> int:
    """The engine's answer to the weight frame: the 32-bit sum of the payload bytes."""
    return sum(plan.weight_payload()) & 0xFFFFFFFF


def compact_plan(model) -> CompactPlan:
    """Check ``model`` for the compact engine and lay it out.

    Raises
    ------
    NotCompact
        A layer or size the engine does not support, or memories that do not fit the two
        banks; the message names the layer and the value.
    """
    from augsnn.golden.model import Conv2d, Dense

    name = model.name
    if model.output != "spiking":
        raise NotCompact(f"{name}: the compact engine runs spiking output layers only, not "
                         f"{model.output!r}")
    cbounds = model.current_bounds()
    shapes = model.shapes()
    out = []
    for stage in model.stages():
        n, layer = stage.number, stage.layer
        nrn = layer.neuron
        if layer.weight_bits > 8:
            raise NotCompact(f"{name}: weighted layer {n}: the compact engine stores 8-bit "
                             f"weights, not {layer.weight_bits}-bit ones")
        if nrn.pot_bits > 31:
            raise NotCompact(f"{name}: weighted layer {n}: membrane width {nrn.pot_bits} is "
                             f"more than the compact engine's 31 bits")
        if cbounds[n] >= 2 ** 31:
            raise NotCompact(f"{name}: weighted layer {n}: current bound {cbounds[n]} does not "
                             f"fit the compact engine's 32-bit accumulators")
        if isinstance(layer, Conv2d):
            if layer.padding:
                raise NotCompact(f"{name}: weighted layer {n}: the compact engine runs valid "
                                 f"convolutions only, not padding {layer.padding}")
            cin, hin, win = stage.in_shape
            cout, _, kh, kw = layer.weight.shape
            _, hout, wout = stage.out_grid
            w = layer.weight.reshape(cout, cin, kh, kw)
            kind = "conv2d"
        elif isinstance(layer, Dense):
            cin, hin, win = int(np.prod(stage.in_shape)), 1, 1
            cout, kh, kw, hout, wout = layer.weight.shape[0], 1, 1, 1, 1
            w = layer.weight.reshape(cout, cin, 1, 1)
            kind = "dense"
        else:  # pragma: no cover - weighted layers are conv2d or dense
            raise NotCompact(f"{name}: weighted layer {n}: unknown type {type(layer).__name__}")
        if n > 0 and cout < 3:
            raise NotCompact(f"{name}: weighted layer {n}: the compact engine needs at least 3 "
                             f"output channels in a layer after the first, not {cout}")
        # At most one sum pooling between this weighted layer and the next.
        pool = stage.pools[0] if stage.pools else 1
        if hout % pool or wout % pool:
            raise NotCompact(f"{name}: weighted layer {n}: output {hout}x{wout} is not "
                             f"a multiple of the pooling size {pool}")
        if len(stage.pools) > 1:
            raise NotCompact(f"{name}: weighted layer {n}: the compact engine takes one "
                             f"sum pooling after a layer, not sizes {stage.pools[0]} and "
                             f"{stage.pools[1]} in a row")
        if n > 0 and hout * wout > LANE_ROWS:
            raise NotCompact(f"{name}: weighted layer {n}: its output map of {hout}x{wout} "
                             f"positions is more than the {LANE_ROWS} rows of the compact "
                             f"engine's accumulator lanes")
        if n == 0:
            order = w.reshape(cout, -1)                       # gather: [co][ci][ky][kx]
        else:
            # scatter: [ci][ky][kx][co], co padded to whole blocks of LANES channels
            pad = -cout % LANES
            order = np.concatenate([w, np.zeros((pad, cin, kh, kw), w.dtype)]) \
                .transpose(1, 2, 3, 0)
        wb = np.asarray(order, dtype=np.int64).reshape(-1).astype(np.int8).tobytes()
        out.append(CompactLayer(
            number=n, kind=kind, cin=int(cin), hin=int(hin), win=int(win), cout=int(cout),
            hout=int(hout), wout=int(wout), kh=int(kh), kw=int(kw), pool=int(pool), neuron=nrn,
            weight_bytes=wb, out_shape=tuple(shapes[stage.index + 1])))
    # Between layers the input must be what the previous layer hands on (checked by shapes).
    n_classes = int(model.n_classes)
    last = out[-1]
    if last.neurons != n_classes:
        raise NotCompact(f"{name}: the output layer has {last.neurons} neurons for "
                         f"{n_classes} classes; the compact engine needs a 1x1 output")
    # Banks. The scatter layers' weights are in both banks at the same rows (an 8-byte
    # group a row: bytes 0-3 in bank 0, 4-7 in bank 1), first. Layer 0 keeps V0 and W0 in
    # one bank and its current X0 in the other; every later layer's V is in either bank
    # and the counts are in the bank the last layer's V is not in. Try every assignment.
    wrows = sum(lp.weight_rows for lp in out[1:])
    first = out[0]
    best = None
    combos = itertools.product((0, 1), repeat=len(out)) if len(out) <= 12 else \
        [tuple(n % 2 for n in range(len(out)))]
    for swap in combos:
        used = [wrows, wrows]
        used[swap[0]] += first.neurons + first.weight_rows
        used[1 - swap[0]] += first.neurons
        for lp, b in zip(out[1:], swap[1:]):
            used[b] += lp.neurons
        used[1 - swap[-1]] += n_classes
        if best is None or max(used) < max(best[1]):
            best = (swap, used)
    swap, used = best
    need = sum(used)
    if max(used) > BANK_ROWS:
        wbits = sum(int(layer.weight.size) for layer in model.weighted) * 8
        raise NotCompact(
            f"{name}: its compact engine needs {need} rows of 32 bits in SPRAM ({need * 32} "
            f"bits; the {wbits}-bit weights alone take "
            f"{first.weight_rows + 2 * wrows} rows), at best {used[0]} + {used[1]} over "
            f"the two banks of {BANK_ROWS} rows, which hold {BANKS * BANK_ROWS * 32} bits "
            f"(4 SPRAM blocks)")
    regions, top = {}, [wrows, wrows]
    row = 0
    for lp in out[1:]:
        regions[f"W{lp.number}"] = (0, row, lp.weight_rows)
        regions[f"W{lp.number}h"] = (1, row, lp.weight_rows)
        row += lp.weight_rows

    def put(rname, bank, rows):
        regions[rname] = (bank, top[bank], rows)
        top[bank] += rows

    put("V0", swap[0], first.neurons)
    put("W0", swap[0], first.weight_rows)
    put("X0", 1 - swap[0], first.neurons)
    for lp, b in zip(out[1:], swap[1:]):
        put(f"V{lp.number}", b, lp.neurons)
    put("counts", 1 - swap[-1], n_classes)
    spike_bits = 2
    depths = [1, 1]
    for lp in out[:-1]:
        spike_bits = max(spike_bits, max(2, signed_bits(lp.neuron.M * lp.pool ** 2)))
        k = (lp.number + 1) % 2                 # the map of the next layer's input
        depths[k] = max(depths[k], lp.pooled)
    x_bits = max(9, spike_bits)
    return CompactPlan(model_name=name, input_shape=tuple(model.input_shape), layers=tuple(out),
                       regions=regions, swap=tuple(swap), spike_depth=max(depths),
                       spike_bits=spike_bits, spike_depths=tuple(depths), x_bits=x_bits,
                       n_classes=n_classes,
                       acc_bits=max(signed_bits(int(b)) for b in cbounds[1:] or [1]),
                       in_bits=max(signed_bits(int(b)) for b in cbounds))
