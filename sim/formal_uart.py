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

from amaranth.hdl import Assert, Assume, Cat, Module, Mux, ResetSignal, Signal
from amaranth.lib import wiring

from augsnn.hw.uart import UARTRx

from .formal_mem import elaborate_open, fsm_encoding, lookup

__all__ = ["UartRxHarness", "receiver_schedule"]


def receiver_schedule(divisor: int) -> dict:
    """``{stop_ok: [(state, timer, bits), ...]}``: the receiver's state at each cycle ``tau``
    after a frame's start bit begins on an idle line (then idle again), for a good and a bad
    stop bit, measured in the Amaranth simulator, up to the cycle it is idle for good.

    The unbounded proof asserts this schedule (it does not trust it: the base case checks it
    from power-on and the induction step that it is kept).
    """
    from amaranth.sim import Simulator

    out = {}
    for ok in (True, False):
        u = UARTRx(divisor)
        frag, _, sigs = elaborate_open(u)
        names = ("fsm_state", "timer", "bits")
        sig = {n: lookup(sigs, n) for n in names}
        decode = {v: k for k, v in fsm_encoding(sig["fsm_state"]).items()}
        bits = [0] + [1, 0] * 4 + [1 if ok else 0] + ([] if ok else [1])
        line = [b for b in bits for _ in range(divisor)] + [1] * (3 * divisor)
        rows = []

        async def bench(ctx):
            ctx.set(u.o.ready, 1)
            for _ in range(3):
                await ctx.tick()
            for level in line:
                ctx.set(u.rx, level)
                rows.append((decode[ctx.get(sig["fsm_state"])], ctx.get(sig["timer"]),
                             ctx.get(sig["bits"])))
                await ctx.tick()

        sim = Simulator(frag)
        sim.add_clock(1e-6)
        sim.add_testbench(bench)
        sim.run()
        last = max(t for t, r in enumerate(rows) if r[0] != "IDLE")
        out[ok] = rows[:last + 2]
    # At least until a bad frame's transmitter is done (11 bits): the proof's frame clock
    # stops there.
    n = max(max(len(v) for v in out.values()), 11 * divisor + 1)
    for ok in out:
        out[ok] += [out[ok][-1]] * (n - len(out[ok]))   # idle
    return out


class UartRxHarness(wiring.Component):
    """:class:`UARTRx` with a line model (``"free"`` or ``"frames"``) and its properties."""

    def __init__(self, *, divisor: int = 4, line: str = "frames", tx_divisor=None,
                 invariants: bool = True):
        if line not in ("free", "frames"):
            raise ValueError(f"line must be 'free' or 'frames', not {line!r}")
        self.line = line
        self.dut = UARTRx(divisor)
        # The transmitter's cycles per bit (the vacuity test sets a wrong one: it must fail).
        self.tx_divisor = divisor if tx_divisor is None else tx_divisor
        # The invariants of the unbounded proof (line="frames"; they assume the
        # transmitter's rate is the receiver's, so the wrong-rate test leaves them out).
        self.invariants = bool(invariants) and line == "frames" and self.tx_divisor == divisor
        ports = {"o_ready": wiring.In(1)}
        if line == "free":
            ports["rx"] = wiring.In(1)
        else:
            ports.update(send=wiring.In(1), byte=wiring.In(8), stop_ok=wiring.In(1))
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        u = self.dut
        frag, _, sigs = elaborate_open(u, platform)
        m.submodules.dut = frag
        self._sigs = {n: lookup(sigs, n) for n in ("fsm_state", "timer", "bits", "shreg")}
        self._enc = fsm_encoding(self._sigs["fsm_state"])
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
        if self.invariants:
            self._invariants(m, busy=busy, bit=bit, timer=timer, shreg=shreg,
                             sent_byte=sent_byte, sent_ok=sent_ok, pend_good=pend_good,
                             pend_bad=pend_bad, pend_byte=pend_byte)
        return m

    def _invariants(self, m, *, busy, bit, timer, shreg, sent_byte, sent_ok, pend_good,
                    pend_bad, pend_byte):
        """What makes ``frames`` inductive: the receiver's state is a function of the time
        ``tau`` since the current frame's start bit began (and of its stop bit), as
        :func:`receiver_schedule` measures it in simulation; the scoreboard waits exactly
        between the frame's stop bit and its outcome."""
        d = self.tx_divisor
        sched = receiver_schedule(d)
        tmax = len(sched[True]) - 1
        tau = Signal(range(tmax + 1), init=tmax)
        with m.If(~busy & self.send):
            m.d.sync += tau.eq(0)
        with m.Elif(tau != tmax):
            m.d.sync += tau.eq(tau + 1)
        st, r_timer = self._sigs["fsm_state"], self._sigs["timer"]
        r_bits, r_shreg = self._sigs["bits"], self._sigs["shreg"]
        enc = self._enc
        frame = Cat(0, sent_byte, sent_ok, 1)
        m.d.comb += Assert(tau <= tmax)
        # The transmitter.
        with m.If(busy):
            m.d.comb += [Assert(bit == tau // d), Assert(timer == d - 1 - tau % d),
                         Assert(shreg == (frame >> bit)[:11]),
                         Assert(tau < Mux(sent_ok, 10 * d, 11 * d))]
        with m.Else():
            m.d.comb += Assert(tau >= Mux(sent_ok, 10 * d, 11 * d))
        # The receiver and the scoreboard.
        for ok in (True, False):
            with m.If(sent_ok == ok):
                with m.Switch(tau):
                    for t, (state, rt, rb) in enumerate(sched[ok]):
                        with m.Case(t):
                            m.d.comb += Assert(st == enc[state])
                            if state in ("START", "DATA", "STOP"):
                                m.d.comb += Assert(r_timer == rt)
                            if state == "DATA":
                                m.d.comb += Assert(r_bits == rb)
                                if rb:
                                    m.d.comb += Assert(r_shreg[8 - rb:] == sent_byte[:rb])
                            if state == "STOP":
                                m.d.comb += Assert(r_shreg == sent_byte)
        stop_sample = next(t for t, (state, rt, _) in enumerate(sched[True])
                           if state == "STOP" and rt == 0)
        waiting = (tau >= 9 * d) & (tau <= stop_sample + 1)
        m.d.comb += Assert(self.dut.framing_error == (~sent_ok & (tau == stop_sample + 1)))
        with m.If(tau == 0):
            # A frame sent right after a good one: the previous byte comes out now.
            m.d.comb += Assert(~pend_bad)
            with m.If(pend_good):
                m.d.comb += Assert(self.dut.o.valid & (self.dut.o.payload == pend_byte))
        with m.Else():
            m.d.comb += [Assert(pend_good == (sent_ok & waiting)),
                         Assert(pend_bad == (~sent_ok & waiting))]
            with m.If(pend_good):
                m.d.comb += Assert(pend_byte == sent_byte)
