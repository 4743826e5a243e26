# amaranth: UnusedElaboratable=no
"""FirstLayer: the first layer's input current, integrated every step (lane accelerator)."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..banked import bank_depth, banked_memory
from ..neuron_core import Op
from .layouts import core_input_layout
from .plan import LayerPlan

__all__ = ["FirstLayer"]


class FirstLayer(wiring.Component):
    """First-layer input current (computed once per image) and the step sequence of core 0.

    Two current memories (banks, ``rows x lanes`` each): while the steps of the running image
    sweep one, the next image's pixels are integrated into the other (image overlap).

    ``acc`` takes the ``INTEGRATE`` beats of :class:`FanOut` 0 (pixel events times weights)
    and adds them into the *loading* bank (a pipelined read-modify-write that takes one beat
    per cycle and forwards the sums still in flight, so back-to-back updates of one row are
    exact). ``start`` (the loading bank holds a whole image: ``acc_busy`` low, no beat
    left upstream) swaps the banks and runs the image: ``CLEAR`` core 0, then ``steps``
    times one pass over the rows sending ``INTEGRATE(row, current)`` to core 0, then
    ``FIRE``. The last pass writes the current back as zero, ready for the image after next.
    ``abort`` (an image that exited early) stops the steps and writes every row of the
    running bank to zero, one row per cycle, on that bank's own write port (no stall of the
    loading bank); once the banks are swapped again ``acc`` waits for the rest of it.

    Members
    -------
    acc : In(stream(core input with product width))
    o : Out(stream(core 0 input))
    start, abort : In(1)
    steps : In(T_BITS)
        The running image's steps, read at ``start`` and held by the caller while it runs.
    acc_busy : Out(1)
        The read-modify-write pipeline holds a beat, or the loading bank is being zeroed.
    running : Out(1)
        The steps of an image are being sent (``start`` is ignored meanwhile).
    """

    def __init__(self, lp: LayerPlan, *, t_bits: int):
        self._lp = lp
        super().__init__({
            "acc": In(stream.Signature(core_input_layout(lp, lp.product_bits))),
            "o": Out(stream.Signature(core_input_layout(lp, lp.acc_bits))),
            "start": In(1), "steps": In(t_bits), "abort": In(1),
            "acc_busy": Out(1), "running": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        lp = self._lp
        L, D, cb = lp.core_lanes, lp.rows, lp.acc_bits
        row_data = data.ArrayLayout(signed(cb), L)
        # Each current memory's read data goes straight into a register (the DP16KD's
        # clock-to-out is about 6 ns without its output register), a register per block-RAM
        # bank when the memory is deeper than one block RAM holds (hw/banked.py); the
        # multiplexers come after them. The read ports are not transparent: Yosys makes a
        # transparent DP16KD port with a multiplexer on its read data, which put a LUT between
        # the block RAM and that register (the critical path of the ULX3S build at 100 MHz);
        # the write a read misses is forwarded instead (``fwd3``). A read of the row written
        # in the same cycle is never used (forwarded; a sweep never reads the row it zeroes in
        # that cycle), so it may be undefined (``collision_x``): no read-old-data emulation either.
        r_ens = [Signal(name=f"current{b}_r_en") for b in range(2)]
        q_ens = [Signal(name=f"current{b}_q_en") for b in range(2)]
        mems = [banked_memory(m, f"current{b}", shape=row_data, depth=max(2, D),
                              transparent=False, bank_words=bank_depth(max(2, D), row_data.size),
                              r_en=r_ens[b], q_en=q_ens[b], collision_x=True)
                for b in range(2)]
        ab = Signal()           # the loading bank (``acc``); the running image sweeps ~ab
        rbits = len(self.acc.payload.row)
        rq = [mem.q for mem in mems]

        # Accumulate: A (read) -> Q (register the read data) -> P (add) -> W (write). A beat's
        # read at A sees the writes of the cycles before; the three it cannot see, those of the
        # three beats ahead of it (at Q, P and W when it is at A), are forwarded at P (selects
        # computed at Q).
        q_valid, p_valid = Signal(), Signal()
        q_row, p_row = Signal(rbits), Signal(rbits)
        # The lane data registers have no reset (valid bits and rows decide what counts).
        q_cur = Signal(self.acc.payload.current.shape(), reset_less=True)
        p_cur = Signal(self.acc.payload.current.shape(), reset_less=True)
        w_valid = Signal()
        w_row = Signal(rbits)
        w_data = Signal(row_data, reset_less=True)    # the sum being written (W)
        w2_data = Signal(row_data, reset_less=True)   # the one written the cycle before
        w3_data = Signal(row_data, reset_less=True)   # and the one before that
        w2_valid = Signal()
        w2_row = Signal(rbits)
        # the beat at P follows one, two or three beats to the same row
        fwd1, fwd2, fwd3 = Signal(), Signal(), Signal()
        total = Signal(row_data)
        zeroing = Signal()      # after an abort: bank zb is written to zero, row zr a cycle
        zb = Signal()
        zr = Signal(range(D + 1))
        za = Signal()           # ``zeroing`` a cycle later: the zero write of row ``za_row``
        # The loading bank takes no beat while it is being zeroed, nor in the cycle of its last
        # zero write (``za``, a cycle after ``zeroing``: a read then would miss it).
        acc_blocked = (zeroing | za) & (zb == ab)
        m.d.comb += self.acc.ready.eq(~acc_blocked)
        m.d.sync += [q_valid.eq(self.acc.valid & self.acc.ready
                                & (self.acc.payload.op == Op.INTEGRATE)),
                     q_row.eq(self.acc.payload.row), q_cur.eq(self.acc.payload.current),
                     p_valid.eq(q_valid), p_row.eq(q_row), p_cur.eq(q_cur),
                     w_valid.eq(p_valid), w_row.eq(p_row), w_data.eq(total),
                     w2_data.eq(w_data), w3_data.eq(w2_data),
                     w2_valid.eq(w_valid), w2_row.eq(w_row),
                     fwd1.eq(p_valid & (p_row == q_row)), fwd2.eq(w_valid & (w_row == q_row)),
                     fwd3.eq(w2_valid & (w2_row == q_row))]
        m.d.comb += self.acc_busy.eq(q_valid | p_valid | w_valid | acc_blocked)
        p_data = data.View(row_data, Mux(ab, rq[1], rq[0]))
        base = data.View(row_data, Mux(fwd1, w_data, Mux(fwd2, w2_data,
                                                         Mux(fwd3, w3_data, p_data))))
        for k in range(L):
            m.d.comb += total[k].eq(base[k] + p_cur[k])

        # Sweep of the running bank: S0 (read) -> S1 (the block RAM's data) -> S2 (rq).
        sr = Signal(range(D + 1))
        s1_valid = Signal()
        s1_row = Signal(rbits)
        s2_valid = Signal()
        s2_row = Signal(rbits)
        sweeping = Signal()
        adv = ~s2_valid | self.o.ready
        t = Signal(len(self.steps))
        # Registered "this is the last step" (a comparison on the memory write path would be
        # the critical path on the iCE40).
        last_step = Signal()
        zero_write = Signal()
        # The zero writes (the last sweep's, and the zeroing after an abort) reach the memory
        # a cycle later, from registers: the FSM's decisions straight into the block RAM's
        # write port were the critical path of the ULX3S build (mostly routing).
        zw = Signal()
        zw_row, za_row = Signal(rbits), Signal(range(D + 1))
        m.d.sync += [zw.eq(zero_write), zw_row.eq(s2_row), za.eq(zeroing), za_row.eq(zr)]
        for b in range(2):
            loading = ab == b
            zeroed = za & (zb == b)
            m.d.comb += [
                mems[b].r_addr.eq(Mux(loading, self.acc.payload.row, sr)),
                r_ens[b].eq(loading | adv),
                mems[b].w_addr.eq(Mux(zeroed, za_row, Mux(loading, w_row, zw_row))),
                mems[b].w_en.eq(zeroed | Mux(loading, w_valid, zw)),
                mems[b].w_data.eq(Mux(zeroed | ~loading, 0, w_data)),
                q_ens[b].eq(loading | ~sweeping | adv),
            ]
        with m.If(zeroing):
            m.d.sync += zr.eq(zr + 1)
            with m.If(zr == D - 1):
                m.d.sync += zeroing.eq(0)
        with m.If(self.abort):
            # The running bank (every row: the steps may have stopped anywhere). The next
            # abort comes after at least one full sweep (D cycles) of the next image, so a
            # zeroing always ends before another starts.
            m.d.sync += [zeroing.eq(1), zb.eq(~ab), zr.eq(0)]

        def on_abort():
            # last in a state's body, so it overrides the state's own transition
            with m.If(self.abort):
                m.next = "IDLE"

        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += ab.eq(~ab)
                    m.next = "CLEAR"
            with m.State("CLEAR"):
                m.d.comb += [self.running.eq(1),
                             self.o.valid.eq(1), self.o.payload.op.eq(Op.CLEAR)]
                with m.If(self.o.ready):
                    m.d.sync += [t.eq(0), sr.eq(0), s1_valid.eq(0), s2_valid.eq(0),
                                 last_step.eq(self.steps <= 1)]
                    m.next = "SWEEP"
                on_abort()
            with m.State("SWEEP"):
                m.d.comb += [self.running.eq(1), sweeping.eq(1)]
                m.d.comb += [
                    self.o.valid.eq(s2_valid),
                    self.o.payload.op.eq(Op.INTEGRATE),
                    self.o.payload.row.eq(s2_row),
                    zero_write.eq(s2_valid & self.o.ready & last_step),
                ]
                s2_data = data.View(row_data, Mux(ab, rq[0], rq[1]))     # the running bank
                for k in range(L):
                    m.d.comb += self.o.payload.current[k].eq(s2_data[k])
                with m.If(adv):
                    m.d.sync += [s1_valid.eq(sr < D), s1_row.eq(sr),
                                 s2_valid.eq(s1_valid), s2_row.eq(s1_row)]
                    with m.If(sr < D):
                        m.d.sync += sr.eq(sr + 1)
                    with m.Elif(~s1_valid):
                        m.next = "FIRE"
                on_abort()
            with m.State("FIRE"):
                m.d.comb += [self.running.eq(1),
                             self.o.valid.eq(1), self.o.payload.op.eq(Op.FIRE)]
                with m.If(self.o.ready):
                    m.d.sync += [t.eq(t + 1), sr.eq(0), last_step.eq(t + 2 >= self.steps)]
                    with m.If(last_step):
                        m.next = "IDLE"
                    with m.Else():
                        m.next = "SWEEP"
                on_abort()
        return m
