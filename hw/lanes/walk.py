# amaranth: UnusedElaboratable=no
"""Walk: a layer's spike beats as coordinate beats (lane accelerator, no pooling).

Also the row walk both walks share (:class:`RowWalk`) and :func:`producer_walk`, which picks
:class:`Walk` or :class:`~augsnn.hw.lanes.pool_walk.PoolWalk` for a layer.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .layouts import core_output_layout, log2, popcount
from .plan import LayerPlan

__all__ = ["RowWalk", "Walk", "producer_walk", "walk_signature", "beat_shape"]


def beat_shape(lp: LayerPlan) -> tuple[int, int]:
    """``(lanes, taps)`` of the beats producer ``lp``'s walk emits.

    Without pooling a beat is a row of the core: ``lanes * taps`` lanes, lane ``j*lanes + k``
    column ``x*taps + j`` (``x`` the beat's block), channel ``g*lanes + k``. With pooling the
    columns of a block are summed into one window: ``lanes`` lanes, taps 1.
    """
    return (lp.lanes, 1) if lp.pool > 1 else (lp.core_lanes, lp.taps)


def producer_walk(lp: LayerPlan, beat: data.StructLayout) -> wiring.Component:
    """Return the walk of producer layer ``lp``: :class:`Walk`, or ``PoolWalk`` if it pools."""
    if lp.pool == 1:
        return Walk(lp, beat)
    from .pool_walk import PoolWalk     # pool_walk imports this module (RowWalk)
    return PoolWalk(lp, beat)


def walk_signature(lp: LayerPlan, beat: data.StructLayout) -> dict:
    """The ports of both walks (see :class:`Walk`)."""
    return {
        "i": In(stream.Signature(core_output_layout(lp))),
        "o": Out(stream.Signature(beat)),
        "events": Out(range(lp.core_lanes + 1)),
        "busy": Out(1),
    }


class RowWalk:
    """Step through the rows of a NeuronCore ``FIRE`` sweep, keeping their coordinates.

    Built inside an ``elaborate`` (adds to ``m``). The beats of a sweep come in row order and
    only for rows with a spike; the walk keeps the coordinates ``(g, oy, ox)`` of row ``wrow``
    in counters (no division; with taps ``ox`` counts column blocks). ``at_row``: the head beat
    of ``i`` is row ``wrow``; ``coef``: its coefficients there (the core's ``lanes * taps``
    lanes), zero elsewhere and in padding lanes (channels ``>= out_channels``, columns
    ``>= out_w``: their spikes are dropped);
    ``nz``: its non-zero lanes. The owner drives ``advance`` (the walk leaves the current row
    this cycle) and calls :meth:`step` / :meth:`reset`; ``events`` is registered from them
    (the number of non-zero spikes taken three cycles before).

    Members
    -------
    wrow, g, ox, oy : Signal
        The current row and its coordinates (``wrow == rows``: the sweep is walked).
    finished, head, hv, at_row, coef, nz, advance
    """

    def __init__(self, m: Module, lp: LayerPlan, i, events):
        Lc, P, G, D = lp.lanes, lp.taps, lp.groups, lp.rows
        L = Lc * P
        OH, OW = lp.out_h, lp.blocks
        self._m, self._G, self._OW = m, G, OW

        wrow = Signal(range(D + 1))
        g = Signal(range(max(2, G)))
        ox = Signal(range(max(2, OW)))
        oy = Signal(range(max(2, OH)))
        self.wrow, self.g, self.ox, self.oy = wrow, g, ox, oy
        self.finished = wrow == D

        self.head = head = i.payload
        self.hv = hv = i.valid
        head_row = head.index >> log2(L)
        self.at_row = at_row = hv & ~head.done & (head_row == wrow)
        # Padding lanes (only in the last group of a position, or the last block's columns
        # beyond out_w) are dropped.
        coef = Signal(data.ArrayLayout(signed(lp.neuron.coef_bits), L))
        for k in range(L):
            j, kc = divmod(k, Lc)
            real = Const(1) if not lp.padded or (G - 1) * Lc + kc < lp.out_channels else \
                (g != G - 1)
            if (OW - 1) * P + j >= lp.out_w:
                real = real & (ox != OW - 1)
            m.d.comb += coef[k].eq(Mux(at_row & real, head.coef[k], 0))
        self.coef = coef
        self.nz = nz = Cat(coef[k] != 0 for k in range(L))

        advance = Signal()   # the walk leaves the current row this cycle
        self.advance = advance
        # The spikes taken are registered, then counted 8 lanes at a time into registers,
        # then those counts added into ``events``: the row compare, the lane masks, a
        # popcount of up to 64 lanes and the counter's add in one cycle were the critical
        # path of the 8,32,8 ULX3S build (then the 64-lane popcount alone, at 100 MHz).
        # ``events`` is the count of the spikes taken three cycles before.
        taken = Signal(L, name="walk_taken")
        m.d.sync += taken.eq(Mux(advance & at_row, nz, 0))
        parts = []
        for n, lo in enumerate(range(0, L, 8)):
            part = Signal(range(9), name=f"walk_taken_count{n}")
            m.d.sync += part.eq(popcount(m, taken[lo:lo + 8], f"walk_count{n}"))
            parts.append(part)
        m.d.sync += events.eq(sum(parts))

    def step(self):
        """Go to the next row (``g`` fastest, then ``ox``, then ``oy``)."""
        m, G, OW = self._m, self._G, self._OW
        m.d.sync += self.wrow.eq(self.wrow + 1)
        with m.If(self.g == G - 1):
            m.d.sync += self.g.eq(0)
            with m.If(self.ox == OW - 1):
                m.d.sync += self.ox.eq(0)
                m.d.sync += self.oy.eq(self.oy + 1)
            with m.Else():
                m.d.sync += self.ox.eq(self.ox + 1)
        with m.Else():
            m.d.sync += self.g.eq(self.g + 1)

    def reset(self):
        """Go back to row 0."""
        self._m.d.sync += [self.wrow.eq(0), self.g.eq(0), self.ox.eq(0), self.oy.eq(0)]


class Walk(wiring.Component):
    """Give the spike beats of a layer without pooling their coordinates.

    The beats of a NeuronCore ``FIRE`` sweep come in row order and only for rows with a
    spike. The walk steps through every row (one per cycle, paced by the beats: a row
    without a beat takes one cycle while the next beat waits), keeping the row's coordinates
    ``(g, oy, ox)`` in counters (no division). A row with a real (non-padding) spike becomes
    an output beat ``(g, oy, ox, coef[lanes])`` (padding lanes zero; with taps ``ox`` is the
    column block and ``coef`` has ``lanes * taps`` lanes, :func:`beat_shape`); the sweep's ``done``
    beat becomes a ``done`` beat (``coef`` zero) and restarts the walk. Output registered;
    ``i.ready`` depends combinationally on ``o.ready``.

    Members
    -------
    i : In(stream(core output))
    o : Out(stream(beat))
    events : Out
        Non-zero (real) spikes taken in the previous cycle (for the event counters; registered).
    busy : Out(1)
        An output beat is waiting or a sweep is under way.
    """

    def __init__(self, lp: LayerPlan, beat: data.StructLayout):
        if lp.pool != 1:
            raise ValueError(f"Walk takes a layer without pooling, not pool {lp.pool!r} "
                             f"(use PoolWalk)")
        self._lp = lp
        super().__init__(walk_signature(lp, beat))

    def elaborate(self, platform):
        m = Module()
        r = RowWalk(m, self._lp, self.i, self.events)
        out_free = ~self.o.valid | self.o.ready
        with m.If(out_free):
            m.d.sync += self.o.valid.eq(0)
        with m.If(r.at_row):
            with m.If(out_free):
                m.d.comb += [r.advance.eq(1), self.i.ready.eq(1)]
                m.d.sync += [
                    self.o.valid.eq(r.nz.any()),
                    self.o.payload.g.eq(r.g), self.o.payload.y.eq(r.oy),
                    self.o.payload.x.eq(r.ox), self.o.payload.coef.eq(r.coef),
                    self.o.payload.done.eq(0),
                ]
                r.step()
        with m.Elif(r.hv & r.head.done):
            with m.If(out_free):
                m.d.comb += self.i.ready.eq(1)
                m.d.sync += [self.o.valid.eq(1), self.o.payload.done.eq(1),
                             self.o.payload.coef.eq(0)]
                r.reset()
        with m.Elif(r.hv & ~r.finished):
            m.d.comb += r.advance.eq(1)
            r.step()
        m.d.comb += self.busy.eq(self.o.valid | (r.wrow != 0))
        return m
