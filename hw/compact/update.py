"""The compact engine's update pass: one neuron a slot (``UPDATE_CYCLES``) through FirePipe.

Layer: ``hw`` (Amaranth), a part of :class:`~augsnn.hw.compact.accelerator.CompactAccelerator`.
:class:`UpdateIssue` walks the neurons of one scatter pass (layer 0: all of them) in raster
order (channel, row, column); :func:`update_part` connects it,
:class:`~augsnn.hw.compact.fire.FirePipe` and :class:`~augsnn.hw.compact.writeback.Writeback`
to the engine's banks, lanes, walk and trace (its signals in the namespace ``s``):

* issue side, the slot's first cycle: read the membrane ``V[n]`` (port 0) and the step input,
  for layer 0 the stored current ``X0[n]`` (port 1), for later layers the accumulator of the
  neuron's lane (channel mod 8), which is cleared in the next cycle;
* :class:`~augsnn.hw.compact.fire.FirePipe` saturates, fires and resets;
* write side, ``LATENCY + 3`` cycles after the read (never a slot's first cycle): the membrane
  back (port 0), the spike summed into its pooling window of the next layer's spike map
  (read one cycle before), the trace beat and the event count; output-layer spikes go to the
  counts (port 1: read at the cycle before the write, written two cycles after it).
"""

from __future__ import annotations

from amaranth.hdl import Array, Module, Signal, Value, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .bank import ADDR_BITS
from .fire import FirePipe
from .writeback import Writeback
from .plan import LANES, UPDATE_CYCLES

__all__ = ["UpdateIssue", "update_part"]


class UpdateIssue(wiring.Component):
    """The issue side of an update pass: walk the pass's neurons, one a slot.

    A pass starts with ``start`` (its first neuron issues at the slot's first cycle after the
    registered test below, at the earliest two cycles later); ``first`` (the layer's first
    pass) restarts the walk at membrane row ``v_base`` and, for layer 0, current row
    ``x_base``, otherwise it goes on where the last pass ended. Neurons are in raster order
    (channel, row, column); a later layer's neuron ``(co, pos)`` has its step input in lane
    ``co mod 8`` at row ``(co div 8 - first block) hw + pos``.

    Parameters
    ----------
    hw_max : int
        Most output positions of a layer (``hout wout``).
    x_base : int
        The bank row of layer 0's first current.
    n_shape : shape
        The neuron counter's shape.

    Members
    -------
    start, first, v_base : In
        Start a pass; restart the walk (at ``v_base``).
    enable : In(1)
        The pass owns the lanes (the engine's ``in_upd``).
    hw, hw1, nlast : In
        The layer's output positions (and - 1); the pass's last neuron.
    slot : Out(range(UPDATE_CYCLES))
        The cycle of the slot (free running).
    issue : Out(1)
        A neuron's reads: membrane row ``vr`` (port 0), layer 0's current row ``xr`` (port
        1), lane row ``lane_ra``.
    vr, xr, lane_ra : Out
    valid1, valid2 : Out(1)
        ``issue`` one and two cycles later.
    lane_sel, lane_wa : Out
        One cycle after the issue: the neuron's lane and its row (cleared then).
    """

    def __init__(self, *, hw_max: int, x_base: int, n_shape):
        self.hw_max, self.x_base, self.n_shape = hw_max, x_base, n_shape
        super().__init__({
            "start": In(1), "first": In(1), "v_base": In(ADDR_BITS), "enable": In(1),
            "hw": In(range(hw_max + 1)), "hw1": In(range(max(2, hw_max))),
            "nlast": In(n_shape),
            "slot": Out(range(UPDATE_CYCLES)), "issue": Out(1),
            "vr": Out(ADDR_BITS), "xr": Out(ADDR_BITS), "lane_ra": Out(8),
            "valid1": Out(1), "valid2": Out(1), "lane_sel": Out(range(LANES)),
            "lane_wa": Out(8),
        })

    def elaborate(self, platform):
        m = Module()
        cnt = self.slot
        m.d.sync += cnt.eq(cnt + 1)
        iss_on = Signal()
        i_n = Signal(self.n_shape)
        vr, xr = self.vr, self.xr
        i_pos = Signal(range(max(2, self.hw_max)))
        i_lsel = Signal(range(LANES))
        i_la, i_lbase = self.lane_ra, Signal(8)
        issue = self.issue
        # i_n changes only when a neuron issues (a slot apart), so its comparison with the
        # pass's last neuron is registered; the first issue waits a cycle for it.
        i_last, iss_go = Signal(), Signal()
        m.d.sync += [i_last.eq(i_n == self.nlast), iss_go.eq(iss_on)]
        m.d.comb += issue.eq(iss_on & iss_go & self.enable & (cnt == 0))
        m.d.sync += [self.valid1.eq(issue), self.valid2.eq(self.valid1),
                     self.lane_sel.eq(i_lsel), self.lane_wa.eq(i_la)]
        with m.If(issue):
            m.d.sync += [vr.eq(vr + 1), xr.eq(xr + 1), i_n.eq(i_n + 1)]
            with m.If(i_pos == self.hw1):
                m.d.sync += i_pos.eq(0)
                with m.If(i_lsel == LANES - 1):
                    m.d.sync += [i_lsel.eq(0), i_lbase.eq(i_lbase + self.hw),
                                 i_la.eq(i_lbase + self.hw)]
                with m.Else():
                    m.d.sync += [i_lsel.eq(i_lsel + 1), i_la.eq(i_lbase)]
            with m.Else():
                m.d.sync += [i_pos.eq(i_pos + 1), i_la.eq(i_la + 1)]
            with m.If(i_last):
                m.d.sync += [iss_on.eq(0), iss_go.eq(0)]
        with m.If(self.start):
            m.d.sync += [iss_on.eq(1), i_pos.eq(0), i_lsel.eq(0), i_la.eq(0), i_lbase.eq(0)]
            with m.If(self.first):
                m.d.sync += [i_n.eq(0), vr.eq(self.v_base), xr.eq(self.x_base)]
        return m


def update_part(self, m, s):
    """The update pass: its issue (:class:`UpdateIssue`), FirePipe and its write side, and
    the states ``UPD_RUN``, ``UPD_FLUSH``."""
    p, layers = s.p, s.layers
    kmax = s.kmax
    P = UPDATE_CYCLES
    fp = FirePipe(pot_bits=s.pot_max, coef_bits=kmax + 1, d_bits=s.d_bits, x_bits=p.in_bits,
                  slot=P)
    m.submodules.fire = fp
    ui = UpdateIssue(hw_max=max(lp.hout * lp.wout for lp in layers), x_base=s.x_bases[0],
                     n_shape=Value.cast(s.n).shape())
    m.submodules.update_issue = ui
    cnt = ui.slot
    w_at = (3 + fp.LATENCY) % P                 # the write's cycle of the slot
    m.d.comb += [ui.enable.eq(s.in_upd), ui.hw.eq(s.c_hw), ui.hw1.eq(s.c_hw1),
                 ui.nlast.eq(s.p_nlast)]
    lane_x = Signal(signed(p.acc_bits))
    m.d.sync += lane_x.eq(Array(s.lane_data[i] for i in range(LANES))[ui.lane_sel])
    with m.If(ui.issue):
        m.d.comb += [s.a0.eq(ui.vr), s.upd_lane_ra.eq(ui.lane_ra)]
        with m.If(s.is_first):
            m.d.comb += s.a1.eq(ui.xr)
    # the lane's accumulator is cleared the cycle after its read (later layers)
    m.d.comb += s.upd_lane_wa.eq(ui.lane_wa)
    for i in range(LANES):
        m.d.comb += s.upd_lane_we[i].eq(ui.valid1 & ~s.is_first & (ui.lane_sel == i))
    m.d.comb += [fp.cnt.eq(cnt - 2), fp.i_valid.eq(ui.valid2),
                 fp.i_v.eq(s.r0[:s.pot_max].as_signed())]
    with m.If(s.is_first):
        m.d.comb += fp.i_x.eq(s.r1[:p.in_bits].as_signed())
    with m.Else():
        m.d.comb += fp.i_x.eq(lane_x)
    m.d.comb += [fp.c_hi.eq(s.c_hi), fp.c_dp.eq(s.c_dp),
                 fp.c_dn.eq(s.c_dn), fp.c_hasneg.eq(s.c_hasneg), fp.c_k.eq(s.c_k)]

    def start_update(first, layer=None):
        """Enter an update pass (its first neuron issues at the next low phase); ``first``:
        the layer's first pass (start its walk); ``layer``: the layer being set now (its
        registers are not loaded yet)."""
        vb = s.v_base if layer is None else s.v_bases[layer]
        m.d.comb += [ui.start.eq(1), ui.first.eq(first), ui.v_base.eq(vb)]
        m.d.sync += s.in_upd.eq(1)
        with m.If(first):
            s.start_walk(layer)

    # ---- write side -----------------------------------------------------------------------
    wb = Writeback(slot=P, write_at=w_at, coef_bits=kmax + 1, v_bits=s.pot_max + 1,
                   spike_bits=p.spike_bits, map_bits=len(s.upd_sm_ra))
    m.submodules.writeback = wb
    m.d.comb += [wb.cycle.eq(cnt), wb.enable.eq(s.in_upd), wb.is_last.eq(s.is_last),
                 wb.f_valid.eq(fp.o_valid), wb.f_coef.eq(fp.o_coef), wb.f_nz.eq(fp.o_nz),
                 wb.f_v.eq(fp.o_v), wb.vp.eq(s.vp), wb.cp.eq(s.cp), wb.paddr.eq(s.paddr),
                 wb.sm_rd.eq(s.upd_sm_rd), wb.r1.eq(s.r1),
                 s.upd_sm_ra.eq(wb.sm_ra), s.upd_sm_wa.eq(wb.sm_wa), s.upd_sm_wd.eq(wb.sm_wd),
                 s.upd_sm_we.eq(wb.sm_we)]
    wr, cw1 = wb.write, wb.counting
    with m.If(wb.c_en):
        m.d.comb += [s.a1.eq(wb.c_addr), s.d1.eq(wb.c_data), s.w1.eq(wb.c_we)]
    with m.If(wr):
        m.d.comb += [s.a0.eq(wb.v_addr), s.d0.eq(wb.v_data), s.w0.eq(wb.v_we)]
        with m.If(fp.o_nz):
            m.d.sync += [s.tr_valid.eq(1), s.tr_index.eq(s.n), s.tr_coef.eq(fp.o_coef),
                         s.tr_done.eq(0)]
            with m.Switch(s.li):
                for l in range(len(layers)):
                    with m.Case(l):
                        m.d.sync += s.events[l].eq(s.events[l] + 1)
        s.advance_walk()
    s.__dict__.update(fp=fp, start_update=start_update, upd_wr=wr)

    # Likewise the written neuron's comparison with the pass's last one (n changes only at a
    # write, a slot apart; the first write comes LATENCY cycles after the pass starts).
    n_last = Signal()
    m.d.sync += n_last.eq(s.n == s.p_nlast)

    def states():
        with m.State("UPD_RUN"):
            with m.If(wr & n_last):
                m.d.sync += s.in_upd.eq(0)
                m.next = "UPD_FLUSH"
        with m.State("UPD_FLUSH"):
            # the last count's write (output layer) is two cycles after its neuron's write
            with m.If(~cw1):
                m.next = "UPD_DONE"
    return states
