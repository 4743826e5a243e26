# amaranth: UnusedElaboratable=no
"""PoolWalk: a layer's spike beats sum-pooled into coordinate beats (lane accelerator)."""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, fifo, memory, wiring

from augsnn.golden.checks import signed_bits

from .plan import LayerPlan
from .walk import RowWalk, walk_signature

__all__ = ["PoolWalk"]


class PoolWalk(wiring.Component):
    """Sum-pool the spike beats of a layer and give the non-zero pooled values coordinates.

    The beats of a NeuronCore ``FIRE`` sweep come in row order and only for rows with a
    spike. The walk steps through every row (one per cycle, paced by the beats), keeping the
    row's coordinates in counters (no division); spikes of padding neurons are dropped. With
    ``pool = s``, the row's coefficients are added into a buffer entry ``(px, g)`` of the
    current pooled row ``py`` (two pooled rows, double-buffered; the first row of a window
    writes instead of adding, so no clearing is needed); after the last row of a band of
    ``s`` output rows, a flusher reads the band's entries and emits the non-zero pooled
    values ``(g, py, px, coef[lanes])`` in ``(px, g)`` order while the walk goes on in the
    other buffer. Output rows ``>= pooled_h * s`` and columns ``>= pooled_w * s`` (a pooling
    remainder) are walked and dropped. The ``done`` beat of the sweep follows the last output
    beat of the step. Output registered.

    With ``taps = P`` (``P`` divides ``s``, :func:`~augsnn.hw.lanes.plan.plan` checks it) a row
    is a block of ``P`` columns inside one window: its ``P`` column lanes of each channel are
    added first (``coef[j*lanes + k]`` over ``j``), and the window is ``s / P`` blocks wide.
    The output beats have ``lanes`` lanes (no taps).

    Members
    -------
    i : In(stream(core output))
    o : Out(stream(beat))
    events : Out
        Non-zero (real) spikes taken in the previous cycle (for the event counters; registered).
    busy : Out(1)
        A sweep, a flush or an output beat is under way.
    """

    def __init__(self, lp: LayerPlan, beat: data.StructLayout):
        if lp.pool < 2:
            raise ValueError(f"PoolWalk takes a layer with pooling, not pool {lp.pool!r} "
                             f"(use Walk)")
        self._lp = lp
        super().__init__(walk_signature(lp, beat))

    def elaborate(self, platform):
        m = Module()
        lp = self._lp
        L, G, s, P = lp.lanes, lp.groups, lp.pool, lp.taps
        sx = s // P                     # window width in column blocks
        r = RowWalk(m, lp, self.i, self.events)
        g, hv = r.g, r.hv
        pbits = signed_bits(lp.out_max)
        if P == 1:
            coef = r.coef
        else:
            # The P columns of a block lie in one window: add them per channel.
            coef = Signal(data.ArrayLayout(signed(pbits), L))
            for k in range(L):
                m.d.comb += coef[k].eq(sum(r.coef[j * L + k] for j in range(P)))
        out_free = ~self.o.valid | self.o.ready

        PH, PW = lp.pooled_h, lp.pooled_w
        PWG = PW * G
        rx = Signal(range(max(2, sx)))
        ry = Signal(range(s))
        px = Signal(range(PW + 1))
        py = Signal(range(PH + 1))
        inside = (px < PW) & (py < PH)
        first = (rx == 0) & (ry == 0)
        band_start = first & (px == 0) & (g == 0)
        band_last = (ry == s - 1) & (rx == sx - 1) & (px == PW - 1) & (g == G - 1)
        b = py[0]

        m.submodules.buf = buf = memory.Memory(
            shape=data.ArrayLayout(signed(pbits), L), depth=max(2, 2 * PWG), init=[])
        wr = buf.write_port()
        rd = buf.read_port(transparent_for=(wr,))
        rd_f = buf.read_port()
        m.submodules.cmds = cmds = fifo.SyncFIFOBuffered(width=2 + len(py), depth=8)
        busy_b = Signal(2)

        stall = Signal()
        m.d.comb += stall.eq(inside & (
            (band_start & busy_b.bit_select(b, 1)) | (band_last & (cmds.level >= 6))))

        # P0: walk a row (with or without a beat) and read its buffer entry.
        p1_valid = Signal()
        p1_addr = Signal(range(max(2, 2 * PWG)))
        p1_coef = Signal(data.ArrayLayout(signed(lp.neuron.coef_bits if P == 1 else pbits), L),
                         reset_less=True)   # lane data: no reset (the valid bits have one)
        p1_first = Signal()
        p1_last = Signal()
        p1_b = Signal()
        p1_py = Signal(len(py))
        walk = (r.at_row | (hv & ~r.finished)) & ~stall
        m.d.comb += [r.advance.eq(walk), self.i.ready.eq(walk & r.at_row)]
        addr = Signal(range(max(2, 2 * PWG)))
        m.d.comb += [addr.eq(b * PWG + px * G + g), rd.addr.eq(addr)]
        m.d.sync += p1_valid.eq(walk & inside)
        with m.If(walk):
            m.d.sync += [p1_addr.eq(addr), p1_coef.eq(coef), p1_first.eq(first),
                         p1_last.eq(band_last), p1_b.eq(b), p1_py.eq(py)]
            r.step()
            self._step_window(m, r, rx, ry, px, py)

        # P1: the entry arrives (the read was transparent for the write of the same cycle);
        # it goes into a register, not straight into the adder (a block RAM's output is slow:
        # 5.8 ns on the ECP5). P2: add (or write) and, after the band's last entry, queue its
        # flush. The one write P0's read could not see, the previous entry's, is forwarded.
        p2_valid = Signal()
        p2_addr = Signal.like(p1_addr)
        p2_coef = Signal.like(p1_coef, reset_less=True)
        p2_first, p2_last, p2_b = Signal(), Signal(), Signal()
        p2_py = Signal(len(py))
        p2_data = Signal.like(rd.data, reset_less=True)
        p2_sum = Signal.like(rd.data)
        last_sum = Signal.like(rd.data, reset_less=True)
        fwd = Signal()
        m.d.sync += [p2_valid.eq(p1_valid), p2_addr.eq(p1_addr), p2_coef.eq(p1_coef),
                     p2_first.eq(p1_first), p2_last.eq(p1_last), p2_b.eq(p1_b),
                     p2_py.eq(p1_py), p2_data.eq(rd.data), last_sum.eq(p2_sum),
                     fwd.eq(p2_valid & (p2_addr == p1_addr))]
        for k in range(L):
            m.d.comb += p2_sum[k].eq(Mux(p2_first, 0, Mux(fwd, last_sum[k], p2_data[k]))
                                     + p2_coef[k])
        m.d.comb += [wr.addr.eq(p2_addr), wr.en.eq(p2_valid), wr.data.eq(p2_sum)]
        push_flush = p2_valid & p2_last
        # The end of the step: all rows walked, the flushes queued; pass ``done`` on.
        push_done = hv & r.head.done & r.finished & ~p1_valid & ~p2_valid & cmds.w_rdy
        with m.If(push_done):
            m.d.comb += self.i.ready.eq(1)
            r.reset()
            m.d.sync += [rx.eq(0), ry.eq(0), px.eq(0), py.eq(0)]
        m.d.comb += [
            cmds.w_en.eq(push_flush | push_done),
            cmds.w_data.eq(Mux(push_done, 1, Cat(Const(0, 1), p2_b, p2_py))),
        ]

        # Flusher: read the band's entries in (px, g) order and emit the non-zero ones.
        f_free = out_free
        f_active = Signal()
        f_b = Signal()
        f_py = Signal(len(py))
        f_e = Signal(range(max(2, PWG)))
        f_g = Signal(range(max(2, G)))
        f_px = Signal(range(max(2, PW)))
        f1_valid = Signal()
        f1_done = Signal()
        f1_g = Signal(range(max(2, G)))
        f1_px = Signal(range(max(2, PW)))
        f1_py = Signal(len(py))
        clear_b = Signal(2)
        m.d.comb += [rd_f.addr.eq(f_b * PWG + f_e), rd_f.en.eq(f_free)]
        with m.If(f_free):
            m.d.sync += f1_valid.eq(0)
            with m.If(f_active):
                m.d.sync += [f1_valid.eq(1), f1_done.eq(0), f1_g.eq(f_g), f1_px.eq(f_px),
                             f1_py.eq(f_py), f_e.eq(f_e + 1)]
                with m.If(f_g == G - 1):
                    m.d.sync += [f_g.eq(0), f_px.eq(f_px + 1)]
                with m.Else():
                    m.d.sync += f_g.eq(f_g + 1)
                with m.If(f_e == PWG - 1):
                    m.d.sync += f_active.eq(0)
                    m.d.comb += clear_b.eq(Mux(f_b, 0b10, 0b01))
            with m.Elif(cmds.r_rdy):
                m.d.comb += cmds.r_en.eq(1)
                with m.If(cmds.r_data[0]):
                    m.d.sync += [f1_valid.eq(1), f1_done.eq(1)]
                with m.Else():
                    m.d.sync += [f_active.eq(1), f_b.eq(cmds.r_data[1]),
                                 f_py.eq(cmds.r_data[2:]), f_e.eq(0), f_g.eq(0), f_px.eq(0)]
        set_b = Mux(push_flush, Mux(p2_b, 0b10, 0b01), 0)
        m.d.sync += busy_b.eq((busy_b & ~clear_b) | set_b)

        # F1: the entry arrives and is registered as it is (block RAM output); F2: emit it
        # if it is non-zero.
        f2_valid, f2_done = Signal(), Signal()
        f2_g, f2_px, f2_py = Signal.like(f1_g), Signal.like(f1_px), Signal.like(f1_py)
        f2_data = Signal.like(rd_f.data)
        f_nz = Cat(f2_data[k] != 0 for k in range(L))
        with m.If(f_free):
            m.d.sync += [f2_valid.eq(f1_valid), f2_done.eq(f1_done), f2_g.eq(f1_g),
                         f2_px.eq(f1_px), f2_py.eq(f1_py), f2_data.eq(rd_f.data)]
            m.d.sync += [
                self.o.valid.eq(f2_valid & (f2_done | f_nz.any())),
                self.o.payload.done.eq(f2_done),
                self.o.payload.g.eq(f2_g), self.o.payload.y.eq(f2_py),
                self.o.payload.x.eq(f2_px),
            ]
            for k in range(L):
                m.d.sync += self.o.payload.coef[k].eq(Mux(f2_done, 0, f2_data[k]))
        m.d.comb += self.busy.eq(self.o.valid | f1_valid | f2_valid | f_active
                                 | (cmds.level != 0) | p1_valid | p2_valid | (r.wrow != 0)
                                 | (busy_b != 0))
        return m

    def _step_window(self, m, r, rx, ry, px, py):
        """With the row walk's step, step ``(rx, ry)`` in a window and ``(px, py)`` the window."""
        G, s = self._lp.groups, self._lp.pool
        sx = s // self._lp.taps
        with m.If(r.g == G - 1):
            with m.If(r.ox == self._lp.blocks - 1):
                m.d.sync += [rx.eq(0), px.eq(0)]
                with m.If(ry == s - 1):
                    m.d.sync += [ry.eq(0), py.eq(py + 1)]
                with m.Else():
                    m.d.sync += ry.eq(ry + 1)
            with m.Elif(rx == sx - 1):
                m.d.sync += [rx.eq(0), px.eq(px + 1)]
            with m.Else():
                m.d.sync += rx.eq(rx + 1)
