"""Formal harness of :class:`augsnn.hw.uart.UARTRx`: the byte stream's rules.

Layer: ``sim`` (formal verification, docs/formal.md). Two line models:

``line="free"``
    ``rx`` is any waveform (noise, glitches, breaks, any baud rate) and ``o.ready`` any
    pattern. Asserted: the stream rule on ``o``: while ``o.valid`` and not ``o.ready``,
    ``o.valid`` stays and the payload does not change, except in the one cycle where a new
    byte overwrites the held one, which is exactly when ``overrun`` pulses (the receiver's
    documented behaviour: it has no buffer).
``line="frames"``
    ``rx`` is driven by an 8N1 transmitter at the receiver's own rate: frames of any byte,
    with a good or a bad stop bit, at any idle gap (including none), and ``o.ready`` any
    pattern. Asserted, besides the stream rule: every frame with a good stop bit produces
    exactly one new beat carrying its byte, every frame with a bad stop bit exactly one
    ``framing_error`` pulse and no beat, each before the next frame's stop bit (nothing lost
    silently, nothing duplicated, in order); ``overrun`` pulses exactly when a held beat that
    was not taken is overwritten.

Free inputs: ``rx`` (free line) or ``send``, ``byte``, ``stop_ok`` (frames); ``o_ready``.
"""

from __future__ import annotations

from amaranth.hdl import Assert, Assume, Cat, Module, ResetSignal, Signal
from amaranth.lib import wiring

from augsnn.hw.uart import UARTRx

__all__ = ["UartRxHarness"]


class UartRxHarness(wiring.Component):
    """:class:`UARTRx` with a line model (``"free"`` or ``"frames"``) and its properties."""

    def __init__(self, *, divisor: int = 4, line: str = "frames", tx_divisor=None):
        if line not in ("free", "frames"):
            raise ValueError(f"line must be 'free' or 'frames', not {line!r}")
        self.line = line
        self.dut = UARTRx(divisor)
        # The transmitter's cycles per bit (the vacuity test sets a wrong one: it must fail).
        self.tx_divisor = divisor if tx_divisor is None else tx_divisor
        ports = {"o_ready": wiring.In(1)}
        if line == "free":
            ports["rx"] = wiring.In(1)
        else:
            ports.update(send=wiring.In(1), byte=wiring.In(8), stop_ok=wiring.In(1))
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = u = self.dut
        d = self.tx_divisor
        m.d.comb += [u.o.ready.eq(self.o_ready), Assume(~ResetSignal())]
        xfer = u.o.valid & u.o.ready

        # --- The stream rule (both line models).
        prev_valid, prev_xfer, prev_payload = Signal(), Signal(), Signal(8)
        m.d.sync += [prev_valid.eq(u.o.valid), prev_xfer.eq(xfer),
                     prev_payload.eq(u.o.payload)]
        stalled = prev_valid & ~prev_xfer
        with m.If(stalled):
            m.d.comb += Assert(u.o.valid)
            with m.If(~u.overrun):
                m.d.comb += Assert(u.o.payload == prev_payload)
        # A new beat: valid rises, follows a transfer, or overwrites (overrun).
        produced = u.o.valid & (~prev_valid | prev_xfer | u.overrun)
        with m.If(u.overrun):
            m.d.comb += Assert(stalled)

        if self.line == "free":
            m.d.comb += u.rx.eq(self.rx)
            return m

        # --- Transmitter model: start bit, 8 data bits (LSB first), stop bit; d cycles each.
        busy = Signal()
        bit = Signal(range(11))
        timer = Signal(range(d))
        shreg = Signal(11, init=0x7FF)
        line = Signal(init=1)
        sent_byte = Signal(8)
        sent_ok = Signal()
        m.d.comb += u.rx.eq(line)
        with m.If(~busy):
            m.d.comb += line.eq(1)
            with m.If(self.send):
                m.d.sync += [busy.eq(1), bit.eq(0), timer.eq(d - 1),
                             shreg.eq(Cat(0, self.byte, self.stop_ok, 1)),
                             sent_byte.eq(self.byte), sent_ok.eq(self.stop_ok)]
        with m.Else():
            m.d.comb += line.eq(shreg[0])
            with m.If(timer == 0):
                m.d.sync += [timer.eq(d - 1), bit.eq(bit + 1), shreg.eq(shreg >> 1)]
                with m.If((bit == 9) & sent_ok | (bit == 10)):
                    m.d.sync += busy.eq(0)
            with m.Else():
                m.d.sync += timer.eq(timer - 1)
        stop_starts = busy & (timer == 0) & (bit == 8)     # next cycle: the stop bit

        # --- Scoreboard: the frame whose stop bit is on the line waits for its outcome.
        pend_good = Signal()      # a good frame: one new beat must come
        pend_bad = Signal()       # a bad frame: one framing_error must come
        pend_byte = Signal(8)
        with m.If(produced):
            m.d.comb += [Assert(pend_good), Assert(u.o.payload == pend_byte)]
            m.d.sync += pend_good.eq(0)
        with m.If(u.framing_error):
            m.d.comb += Assert(pend_bad)
            m.d.sync += pend_bad.eq(0)
        with m.If(stop_starts):
            # The previous frame's outcome came before this frame's stop bit.
            m.d.comb += [Assert(~pend_good | produced), Assert(~pend_bad | u.framing_error)]
            m.d.sync += [pend_good.eq(sent_ok), pend_bad.eq(~sent_ok),
                         pend_byte.eq(sent_byte)]
        return m
