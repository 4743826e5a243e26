# amaranth: UnusedElaboratable=no
"""FirstLayer: the first layer's input current, integrated every step (lane accelerator)."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from ..neuron_core import Op
from .layouts import core_input_layout
from .plan import LayerPlan

__all__ = ["FirstLayer"]

class FirstLayer(wiring.Component):
    """First-layer input current (computed once per image) and the step sequence of core 0.

    ``acc`` takes the ``INTEGRATE`` beats of :class:`FanOut` 0 (pixel events times weights)
    and adds them into a current memory (``rows x lanes``, a pipelined read-modify-write that
    takes one beat per cycle and forwards the sums still in flight, so back-to-back updates of
    one row are exact).
    After ``start``: ``CLEAR`` core 0; once ``go`` (all pixels integrated): ``T`` times, one
    pass over the rows sending ``INTEGRATE(row, current)`` to core 0, then ``FIRE``. The last
    pass writes the current back as zero, ready for the next image. ``abort`` (an image that
    exited early) stops the steps and writes every row to zero (``rows`` cycles, after the
    read-modify-write pipeline has drained); a ``start`` meanwhile is kept and served after.

    Members
    -------
    acc : In(stream(core input with product width))
    o : Out(stream(core 0 input))
    start, go, abort : In(1)
    steps : In(T_BITS)
    busy : Out(1)
        The read-modify-write pipeline holds a beat.
    """

    def __init__(self, lp: LayerPlan, *, t_bits: int):
        self._lp = lp
        super().__init__({
            "acc": In(stream.Signature(core_input_layout(lp, lp.product_bits))),
            "o": Out(stream.Signature(core_input_layout(lp, lp.acc_bits))),
            "start": In(1), "go": In(1), "steps": In(t_bits), "abort": In(1),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        lp = self._lp
        L, D, cb = lp.core_lanes, lp.rows, lp.acc_bits
        m.submodules.current = cur = memory.Memory(
            shape=data.ArrayLayout(signed(cb), L), depth=max(2, D), init=[])
        wr = cur.write_port()
        rd = cur.read_port(transparent_for=(wr,))

        # Accumulate: A (read) -> Q (register the read data) -> P (add) -> W (write). The
        # block RAM sits behind registers on both sides (its output straight into the adder,
        # and the adder straight into its input, each limited the ECP5 clock). A beat's read
        # at A is transparent for the write in the same cycle; the two writes it cannot see,
        # those of the two beats ahead of it, are forwarded at P (selects computed at Q).
        rbits = len(self.acc.payload.row)
        q_valid, p_valid = Signal(), Signal()
        q_row, p_row = Signal(rbits), Signal(rbits)
        # The lane data registers have no reset (valid bits and rows decide what counts).
        q_cur = Signal(self.acc.payload.current.shape(), reset_less=True)
        p_cur = Signal(self.acc.payload.current.shape(), reset_less=True)
        p_data = Signal(data.ArrayLayout(signed(cb), L), reset_less=True)
        w_valid = Signal()
        w_row = Signal(rbits)
        w_data = Signal(data.ArrayLayout(signed(cb), L), reset_less=True)   # the sum written (W)
        w2_data = Signal(data.ArrayLayout(signed(cb), L), reset_less=True)  # the one before
        fwd1, fwd2 = Signal(), Signal()   # the beat at P follows one or two to the same row
        total = Signal(data.ArrayLayout(signed(cb), L))
        sweeping = Signal()
        # The read port belongs to the sweep while it runs (never the case in practice: the
        # sweep starts once every pixel is integrated).
        zeroing = Signal()
        m.d.comb += self.acc.ready.eq(~sweeping & ~zeroing)
        m.d.sync += [q_valid.eq(self.acc.valid & self.acc.ready
                                & (self.acc.payload.op == Op.INTEGRATE)),
                     q_row.eq(self.acc.payload.row), q_cur.eq(self.acc.payload.current),
                     p_valid.eq(q_valid), p_row.eq(q_row), p_cur.eq(q_cur),
                     p_data.eq(rd.data),
                     w_valid.eq(p_valid), w_row.eq(p_row), w_data.eq(total),
                     w2_data.eq(w_data),
                     fwd1.eq(p_valid & (p_row == q_row)), fwd2.eq(w_valid & (w_row == q_row))]
        m.d.comb += self.busy.eq(q_valid | p_valid | w_valid | zeroing)
        base = Mux(fwd1, w_data, Mux(fwd2, w2_data, p_data))
        base = data.View(data.ArrayLayout(signed(cb), L), base)
        for k in range(L):
            m.d.comb += total[k].eq(base[k] + p_cur[k])

        # Sweep: S0 (read) -> S1 (the block RAM's data) -> S2 (registered, to core 0). The
        # read data goes into a register with no logic before it: the DP16KD's clock-to-out
        # (about 6 ns without its output register) and a multiplexer on the way to core 0 were
        # the critical path of the ULX3S build.
        sr = Signal(range(D + 1))
        s1_valid = Signal()
        s1_row = Signal(len(p_row))
        s2_valid = Signal()
        s2_row = Signal(len(p_row))
        s2_cur = Signal(data.ArrayLayout(signed(cb), L), reset_less=True)
        t = Signal(len(self.steps))
        # Registered "this is the last step" (a comparison on the memory write path would be
        # the critical path on the iCE40).
        last_step = Signal()
        zero_write = Signal()

        zero_all = Signal()     # the zeroing after an abort writes row zr
        zr = Signal(range(D + 1))
        pending = Signal()      # a start during the zeroing after an abort
        # The zero writes (the last sweep's, and the zeroing after an abort) reach the memory
        # a cycle later, from registers: the FSM's decisions straight into the block RAM's
        # write port were the critical path of the ULX3S build (mostly routing).
        zw, za = Signal(), Signal()
        zw_row, za_row = Signal(rbits), Signal(range(D + 1))
        m.d.sync += [zw.eq(zero_write), zw_row.eq(s2_row), za.eq(zero_all), za_row.eq(zr)]
        m.d.comb += [
            rd.addr.eq(Mux(sweeping, sr, self.acc.payload.row)),
            wr.addr.eq(Mux(za, za_row, Mux(zw, zw_row, w_row))),
            wr.en.eq(w_valid | zw | za),
            wr.data.eq(Mux(zw | za, 0, w_data)),
        ]

        def on_abort():
            # last in a state's body, so it overrides the state's own transition
            with m.If(self.abort):
                m.d.sync += zr.eq(0)
                m.next = "ZERO"

        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    m.next = "CLEAR"
            with m.State("ZERO"):
                m.d.comb += zeroing.eq(1)
                with m.If(self.start):
                    m.d.sync += pending.eq(1)
                with m.If(~(q_valid | p_valid | w_valid)):
                    m.d.comb += zero_all.eq(1)
                    m.d.sync += zr.eq(zr + 1)
                    with m.If(zr == D - 1):
                        m.next = "ZERO_END"
            with m.State("ZERO_END"):
                m.d.comb += zeroing.eq(1)
                with m.If(pending | self.start):
                    m.d.sync += pending.eq(0)
                    m.next = "CLEAR"
                with m.Else():
                    m.next = "IDLE"
            with m.State("CLEAR"):
                m.d.comb += [self.o.valid.eq(1), self.o.payload.op.eq(Op.CLEAR)]
                with m.If(self.o.ready):
                    m.next = "WAIT"
                on_abort()
            with m.State("WAIT"):
                with m.If(self.go):
                    m.d.sync += [t.eq(0), sr.eq(0), s1_valid.eq(0), s2_valid.eq(0),
                                 last_step.eq(self.steps <= 1)]
                    m.next = "SWEEP"
                on_abort()
            with m.State("SWEEP"):
                m.d.comb += sweeping.eq(1)
                adv = ~s2_valid | self.o.ready
                m.d.comb += [
                    self.o.valid.eq(s2_valid),
                    self.o.payload.op.eq(Op.INTEGRATE),
                    self.o.payload.row.eq(s2_row),
                    rd.en.eq(adv),
                    zero_write.eq(s2_valid & self.o.ready & last_step),
                ]
                for k in range(L):
                    m.d.comb += self.o.payload.current[k].eq(s2_cur[k])
                with m.If(adv):
                    m.d.sync += [s1_valid.eq(sr < D), s1_row.eq(sr),
                                 s2_valid.eq(s1_valid), s2_row.eq(s1_row), s2_cur.eq(rd.data)]
                    with m.If(sr < D):
                        m.d.sync += sr.eq(sr + 1)
                    with m.Elif(~s1_valid):
                        m.next = "FIRE"
                on_abort()
            with m.State("FIRE"):
                m.d.comb += [self.o.valid.eq(1), self.o.payload.op.eq(Op.FIRE)]
                with m.If(self.o.ready):
                    m.d.sync += [t.eq(t + 1), sr.eq(0), last_step.eq(t + 2 >= self.steps)]
                    with m.If(last_step):
                        m.next = "IDLE"
                    with m.Else():
                        m.next = "SWEEP"
                on_abort()
        return m
