"""Unbounded proof of the core's output FIFO (``amaranth.lib.fifo.SyncFIFOBuffered``).

Layer: ``sim`` (formal verification, docs/formal.md). :class:`FifoHarness` drives the FIFO
with any write and read pattern (the only assumption: nothing is written while it is full,
which the core's proof shows for the core, :mod:`augsnn.sim.formal_core_proof`) and asserts:

* ``stable``: while ``r_rdy`` and not ``r_en``, ``r_rdy`` stays and ``r_data`` does not change;
* ``fifo``: a written entry chosen freely (``pick``) is read back with its value exactly when
  every entry written before it has been read: entries leave once each, in order, unchanged
  (nothing lost, duplicated or invented).

The invariants that make it inductive place the chosen entry: in the output register when
it is next, else in the storage row ``consume + ahead - r_rdy`` (modulo the storage depth).
"""

from __future__ import annotations

from amaranth.hdl import Array, Assert, Assume, Module, ResetSignal, Signal
from amaranth.lib import fifo, wiring

from .formal_mem import elaborate_open, lookup

__all__ = ["FifoHarness"]


class FifoHarness(wiring.Component):
    def __init__(self, *, width: int, depth: int):
        if depth < 3:
            raise ValueError(f"FifoHarness: depth must be >= 3, not {depth!r}")
        self.fifo = fifo.SyncFIFOBuffered(width=width, depth=depth)
        super().__init__({"w_en": wiring.In(1), "w_data": wiring.In(width),
                          "r_en": wiring.In(1), "pick": wiring.In(1)})

    def elaborate(self, platform):
        m = Module()
        f = self.fifo
        frag, _, sigs = elaborate_open(f, platform)
        m.submodules.fifo = frag
        inner_depth = f.depth - 1
        produce, consume = lookup(sigs, "produce"), lookup(sigs, "consume")
        inner = lookup(sigs, "inner_level")
        rows = Array(lookup(sigs, f"storage/row{n}") for n in range(inner_depth))
        m.d.comb += [f.w_en.eq(self.w_en), f.w_data.eq(self.w_data), f.r_en.eq(self.r_en),
                     Assume(~ResetSignal()), Assume(~f.w_en | f.w_rdy)]
        do_write = f.w_en & f.w_rdy
        do_read = f.r_en & f.r_rdy
        level = inner + f.r_rdy

        # stable
        stalled, held = Signal(), Signal(f.width)
        m.d.sync += [stalled.eq(f.r_rdy & ~f.r_en), held.eq(f.r_data)]
        with m.If(stalled):
            m.d.comb += Assert(f.r_rdy & (f.r_data == held))

        # fifo: the picked entry.
        tracking = Signal()
        tdata = Signal(f.width)
        ahead = Signal(range(f.depth + 1))
        tpos = Signal(range(inner_depth))
        with m.If(do_read & tracking):
            with m.If(ahead == 0):
                m.d.comb += Assert(f.r_data == tdata)
                m.d.sync += tracking.eq(0)
            with m.Else():
                m.d.sync += ahead.eq(ahead - 1)
        with m.If(do_write & self.pick & ~tracking):
            m.d.sync += [tracking.eq(1), tdata.eq(self.w_data), ahead.eq(level - do_read),
                         tpos.eq(produce)]

        # Invariants: the pointers and levels, and where the picked entry is.
        m.d.comb += [Assert(produce < inner_depth), Assert(consume < inner_depth),
                     Assert(inner <= inner_depth)]
        with m.If(produce == consume):
            m.d.comb += Assert((inner == 0) | (inner == inner_depth))
        with m.Elif(produce > consume):
            m.d.comb += Assert(inner == produce - consume)
        with m.Else():
            m.d.comb += Assert(inner == inner_depth + produce - consume)
        with m.If(~f.r_rdy):
            m.d.comb += Assert(inner <= 1)
        with m.If(tracking):
            m.d.comb += [Assert(ahead < level), Assert(tpos < inner_depth)]
            with m.If(f.r_rdy & (ahead == 0)):
                m.d.comb += Assert(f.r_data == tdata)
            with m.Else():
                pos = consume + ahead - f.r_rdy
                m.d.comb += [Assert(rows[tpos] == tdata),
                             Assert((pos == tpos) | (pos == tpos + inner_depth))]
        return m
