# amaranth: UnusedElaboratable=no
"""EventSerializer: the non-zero lanes of a beat as single events (lane accelerator)."""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .layouts import log2

__all__ = ["EventSerializer"]

class EventSerializer(wiring.Component):
    """Emit the non-zero lanes of each beat as single events, one per cycle, in lane order.

    Channel of lane ``k`` of a beat of group ``g``: ``g * lanes + k``. With ``taps = P > 1``
    a beat has ``lanes * P`` lanes and its ``x`` is a column block: lane ``j*lanes + k`` is
    channel ``g * lanes + k``, column ``x * P + j``. A ``done`` beat becomes
    one ``done`` event. Throughput: one event per cycle; a beat with ``n`` non-zero lanes
    takes ``n + 1`` cycles (a new beat is taken in the cycle after its last event left).
    Output registered; ``i.ready`` from registers only.
    """

    def __init__(self, *, beat: data.StructLayout, event: data.StructLayout, lanes: int,
                 taps: int = 1):
        self._lanes = lanes * taps
        self._channel_lanes = lanes
        self._taps = taps
        super().__init__({"i": In(stream.Signature(beat)), "o": Out(stream.Signature(event))})

    def elaborate(self, platform):
        m = Module()
        L = self._lanes
        hold = Signal(self.i.payload.shape(), reset_less=True)   # valid: rem, hold_done
        rem = Signal(L)                 # lanes of ``hold`` still to emit
        hold_done = Signal()
        out_free = ~self.o.valid | self.o.ready
        # Ready only when empty (from registers): taking the next beat in the cycle the last
        # event leaves put a 64-lane "one bit left" test and ``o.ready`` on the walk's path
        # (timing); the cycle it costs per beat is hidden behind the next FanOut, which takes
        # at least two cycles an event.
        m.d.comb += self.i.ready.eq((rem == 0) & ~hold_done)

        # The lowest remaining lane, one-hot in a register beside ``rem`` (``low = rem &
        # -rem``, a carry chain, computed for the next ``rem`` a cycle ahead); the lane's
        # index and coefficient are OR trees of it. A priority chain over 32 lanes and a
        # 32-way multiplexer after it in one cycle was the critical path at 74 MHz (ECP5).
        low = Signal(L)

        def lowest(x):
            return (x & (~x + 1))[:L]

        nbits = max(1, (L - 1).bit_length())
        lane = Cat(Cat(low[k] for k in range(L) if (k >> b) & 1).any() if L > (1 << b) else 0
                   for b in range(nbits))
        width = len(hold.coef[0])
        coef = Signal(width)
        m.d.comb += coef.eq(Cat(
            Cat(low[k] & hold.coef[k][bit] for k in range(L)).any()
            for bit in range(width)))

        with m.If(out_free):
            m.d.sync += self.o.valid.eq(0)
            with m.If(rem != 0):
                lc = log2(self._channel_lanes)
                c = Cat(lane[:lc], hold.g) if lc else hold.g
                x = Cat(lane[lc:lc + log2(self._taps)], hold.x) if self._taps > 1 else hold.x
                m.d.sync += [
                    self.o.valid.eq(1),
                    self.o.payload.c.eq(c),
                    self.o.payload.y.eq(hold.y),
                    self.o.payload.x.eq(x),
                    self.o.payload.coef.eq(coef),
                    self.o.payload.done.eq(0),
                    rem.eq(rem & ~low),
                    low.eq(lowest(rem & ~low)),
                ]
            with m.Elif(hold_done):
                m.d.sync += [self.o.valid.eq(1), self.o.payload.done.eq(1),
                             self.o.payload.coef.eq(0), hold_done.eq(0)]
        with m.If(self.i.valid & self.i.ready):
            nz = Cat(self.i.payload.coef[k] != 0 for k in range(L))
            m.d.sync += [hold.eq(self.i.payload), rem.eq(nz), low.eq(lowest(nz)),
                         hold_done.eq(self.i.payload.done)]
        return m
