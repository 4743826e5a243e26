# amaranth: UnusedElaboratable=no
"""Skid buffer: a stream register slice whose ``ready`` is a register (shared by the engines).

Layer: ``hw`` (Amaranth). Put between two blocks, it cuts the combinational ``ready`` path
from the consumer back into the producer (and the ``valid``/``payload`` path forward) at
the cost of one cycle of latency; throughput stays one beat per cycle.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["Skid"]


class Skid(wiring.Component):
    """Two-entry stream buffer: ``o`` registered, ``i.ready`` registered.

    A beat taken on ``i`` goes to the output register when that is free (or leaves it this
    cycle), otherwise into the one-entry skid register; ``i.ready`` is low while the skid
    register is full. Beats leave in order, none is lost or duplicated.

    Members
    -------
    i : In(stream(shape))
    o : Out(stream(shape))
    """

    def __init__(self, shape):
        self._shape = shape
        super().__init__({"i": In(stream.Signature(shape)), "o": Out(stream.Signature(shape))})

    def elaborate(self, platform):
        m = Module()
        # Payload registers without reset (the valid bits have one): a reset or abort then
        # reaches two flip-flops here, not the whole width.
        held = Signal(self._shape, reset_less=True)
        out = Signal(self._shape, reset_less=True)
        held_valid = Signal()
        m.d.comb += [self.i.ready.eq(~held_valid), self.o.payload.eq(out)]
        with m.If(~self.o.valid | self.o.ready):
            with m.If(held_valid):
                m.d.sync += [out.eq(held), self.o.valid.eq(1), held_valid.eq(0)]
            with m.Else():
                m.d.sync += [out.eq(self.i.payload), self.o.valid.eq(self.i.valid)]
        with m.Elif(self.i.valid & ~held_valid):
            m.d.sync += [held.eq(self.i.payload), held_valid.eq(1)]
        return m
