"""UART receiver and transmitter (8N1) with byte streams, for the board top-levels.

Layer: ``hw``. Amaranth only.
"""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

__all__ = ["UARTRx", "UARTTx", "check_divisor"]


def check_divisor(divisor) -> int:
    """Validate a clock-cycles-per-bit divisor (``clk_freq // baud``)."""
    if isinstance(divisor, bool) or not isinstance(divisor, int):
        raise TypeError(f"UART divisor must be an integer, not {divisor!r}")
    if divisor < 4:
        raise ValueError(f"UART divisor must be an integer >= 4, not {divisor!r}")
    return divisor


class UARTRx(wiring.Component):
    """Receive 8N1 bytes from the ``rx`` pin onto the byte stream ``o``.

    ``rx`` is synchronised (two flip-flops), a start bit is confirmed at its middle, and every
    data bit is sampled at its middle. A byte whose stop bit is 0 is dropped and pulses
    ``framing_error``; the receiver then waits for the line to go high before it looks for
    the next start bit, so a break (the line held low for any time) gives one framing error
    and no byte. ``o`` has no back-pressure buffer: a byte not taken before the next
    byte's stop bit is overwritten (``overrun`` pulses).

    Parameters
    ----------
    divisor : int
        Clock cycles per bit, ``>= 4``.
    """

    rx: In(1, init=1)
    o: Out(stream.Signature(8))
    framing_error: Out(1)
    overrun: Out(1)

    def __init__(self, divisor: int):
        self._divisor = check_divisor(divisor)
        super().__init__()

    @property
    def divisor(self) -> int:
        return self._divisor

    def elaborate(self, platform):
        m = Module()
        rx = Signal(init=1)
        m.submodules.sync_rx = FFSynchronizer(self.rx, rx, init=1)
        d = self._divisor
        timer = Signal(range(d + d // 2 + 1))
        bits = Signal(range(9))
        shreg = Signal(8)
        m.d.sync += [self.framing_error.eq(0), self.overrun.eq(0)]
        with m.If(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(~rx):
                    m.d.sync += timer.eq(d // 2 - 1)
                    m.next = "START"
            with m.State("START"):
                with m.If(timer == 0):
                    with m.If(~rx):
                        m.d.sync += [timer.eq(d - 1), bits.eq(0)]
                        m.next = "DATA"
                    with m.Else():
                        m.next = "IDLE"  # glitch, not a start bit
                with m.Else():
                    m.d.sync += timer.eq(timer - 1)
            with m.State("DATA"):
                with m.If(timer == 0):
                    m.d.sync += [shreg.eq(Cat(shreg[1:], rx)),
                                 timer.eq(d - 1), bits.eq(bits + 1)]
                    with m.If(bits == 7):
                        m.next = "STOP"
                with m.Else():
                    m.d.sync += timer.eq(timer - 1)
            with m.State("STOP"):
                with m.If(timer == 0):
                    with m.If(rx):
                        m.d.sync += [self.o.payload.eq(shreg), self.o.valid.eq(1),
                                     self.overrun.eq(self.o.valid & ~self.o.ready)]
                        m.next = "IDLE"
                    with m.Else():
                        m.d.sync += self.framing_error.eq(1)
                        m.next = "BREAK"
                with m.Else():
                    m.d.sync += timer.eq(timer - 1)
            with m.State("BREAK"):
                # After a bad stop bit, wait for the line to go high: a break (the line held
                # low) is one framing error, not a stream of them ending in a garbage byte.
                with m.If(rx):
                    m.next = "IDLE"
        return m


class UARTTx(wiring.Component):
    """Transmit the bytes of stream ``i`` on the ``tx`` pin, 8N1; ``i`` is ready when idle."""

    i: In(stream.Signature(8))
    tx: Out(1, init=1)

    def __init__(self, divisor: int):
        self._divisor = check_divisor(divisor)
        super().__init__()

    @property
    def divisor(self) -> int:
        return self._divisor

    def elaborate(self, platform):
        m = Module()
        d = self._divisor
        timer = Signal(range(d))
        bits = Signal(range(11))
        shreg = Signal(10, init=0x3FF)
        busy = Signal()
        m.d.comb += [self.i.ready.eq(~busy), self.tx.eq(shreg[0])]
        with m.If(~busy):
            with m.If(self.i.valid):
                # stop bit (1), data LSB first, start bit (0)
                m.d.sync += [shreg.eq((1 << 9) | (self.i.payload << 1)), busy.eq(1),
                             timer.eq(d - 1), bits.eq(0)]
        with m.Elif(timer == 0):
            m.d.sync += [shreg.eq((1 << 9) | (shreg >> 1)), timer.eq(d - 1), bits.eq(bits + 1)]
            with m.If(bits == 9):
                m.d.sync += [busy.eq(0), shreg.eq(0x3FF)]
        with m.Else():
            m.d.sync += timer.eq(timer - 1)
        return m
