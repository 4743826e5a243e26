"""The compact engine's scatter: the scan of a spike map and the groups of its entries.

Layer: ``hw`` (Amaranth), a unit of :class:`~augsnn.hw.compact.accelerator.CompactAccelerator`.

A scatter pass of a layer after the first reads its input spike map (the previous layer's
spikes, pooled) one entry a cycle, in C, H, W order. Every non-zero entry ``(ci, iy, ix)``
becomes one *group* per valid kernel position ``(ky, kx)`` (the output ``(iy - ky, ix -
kx)`` exists) and block of 8 output channels of the pass: weight row ``base + (ky kw + kx)
blocks + block`` (weights ``[ci][ky][kx][co]``, one block a row), accumulator row
``block hout wout + (iy - ky) wout + (ix - kx)``, one a cycle, to
:class:`~augsnn.hw.compact.lanes.MacLanes`. The pass's last pass over the map clears each
entry it reads (the map is then empty for the next step).

The scan keeps the kernel window of the current entry (first and last valid kernel row and
column, the weight row and accumulator row of its first position) up to date as it moves, so
an entry's groups start the cycle after it is found and no cycle is spent on kernel
positions outside the output. The entries are registered before the scan tests them (it
reads two ahead), so a non-zero entry costs three cycles besides its groups (one of them the
scan's own); between the last group of an entry and the first of the next the scan spends
two cycles, so no two groups less than 3 cycles apart add into one accumulator row.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .bank import ADDR_BITS
from .lanes import LANE_BITS, group_layout

__all__ = ["Scatter", "SCATTER_CONSTANTS"]

#: The layer's and the pass's constants the scan needs (the engine's per-layer registers):
#: ``S_last`` (last map entry), ``c_win1``/``c_hin1`` (input width/height - 1),
#: ``c_kw1``/``c_kh1`` (kernel - 1), ``c_wout1``/``c_hout1`` (output - 1), ``c_wout``,
#: ``c_hw`` (output positions), ``c_nb`` (blocks), ``c_nb1`` (blocks - 1), ``c_kwnb``
#: (``kw`` blocks: one kernel row of weight rows), ``c_wstep`` (``kh kw`` blocks: one input
#: channel), ``p_wrow`` (the pass's first weight row), ``p_j0`` (its first block),
#: ``p_nb1`` (its blocks - 1), ``p_last`` (it is the layer's last pass).
SCATTER_CONSTANTS = ("S_last", "c_win1", "c_hin1", "c_kw1", "c_kh1", "c_wout1", "c_hout1",
                     "c_wout", "c_hw", "c_nb", "c_nb1", "c_kwnb", "c_wstep", "p_wrow", "p_j0",
                     "p_nb1", "p_last")


class Scatter(wiring.Component):
    """Scan a spike map and issue the groups of its non-zero entries (module docstring).

    Parameters
    ----------
    constants : data.StructLayout
        The shapes of :data:`SCATTER_CONSTANTS` (each wide enough for every layer's value).
    depth : int
        Entries of the largest spike map (its address width).
    spike_bits, x_bits : int
        Width of a spike-map entry and of a group's input value.
    sizes : dict
        The largest ``kh``, ``kw``, ``cin``, ``hin``, ``win``, ``pass_blocks`` and
        ``blocks`` over the scatter layers (counter widths).

    Members
    -------
    start : In(1)
        Start a pass (the constants hold from the next cycle until ``done``).
    c : In(constants)
    sm_ra : Out, sm_rd : In
        The spike map's read address and its data (a cycle later).
    sm_wa, sm_we : Out
        The map's write port (the last pass writes each non-zero entry back to 0).
    issue : Out(stream(group_layout(x_bits), always_ready))
        The groups, registered.
    drained : In(1)
        No group is left in the lanes' pipeline.
    done : Out(1)
        The pass is over and its groups are drained (for one cycle).
    """

    def __init__(self, *, constants: data.StructLayout, depth: int, spike_bits: int,
                 x_bits: int, sizes: dict):
        self.depth, self.spike_bits, self.x_bits = depth, spike_bits, x_bits
        self.sizes = dict(sizes)
        a_bits = max(1, (max(2, depth) - 1).bit_length())
        super().__init__({
            "start": In(1), "c": In(constants),
            "sm_ra": Out(a_bits), "sm_rd": In(signed(spike_bits)),
            "sm_wa": Out(a_bits), "sm_we": Out(1),
            "issue": Out(stream.Signature(group_layout(x_bits), always_ready=True)),
            "drained": In(1), "done": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        c, z = self.c, self.sizes
        s_j = Signal(range(max(2, self.depth)))
        s_ci = Signal(range(max(2, z["cin"])))
        s_iy = Signal(range(max(2, z["hin"])))
        s_ix = Signal(range(max(2, z["win"])))
        ky0, ky1 = Signal(range(max(2, z["kh"]))), Signal(range(max(2, z["kh"])))
        kx0, kx1 = Signal(range(max(2, z["kw"]))), Signal(range(max(2, z["kw"])))
        s_cib, s_rowb, s_base = Signal(ADDR_BITS), Signal(ADDR_BITS), Signal(ADDR_BITS)
        s_arow, s_apos = Signal(LANE_BITS + 1), Signal(LANE_BITS + 1)
        s_val = Signal(signed(self.x_bits))
        s_ky, s_kx = Signal.like(ky0), Signal.like(kx0)
        s_w, s_wkx, s_wky = Signal(ADDR_BITS), Signal(ADDR_BITS), Signal(ADDR_BITS)
        s_a, s_akx, s_aky = Signal(LANE_BITS + 1), Signal(LANE_BITS + 1), Signal(LANE_BITS + 1)
        s_jj = Signal(range(max(2, z["pass_blocks"])))
        s_jg = Signal(range(max(2, z["blocks"])))
        iss = self.issue
        m.d.sync += iss.valid.eq(0)

        def start_scatter():
            base = c.p_wrow
            m.d.sync += [s_j.eq(0), s_ci.eq(0), s_iy.eq(0), s_ix.eq(0), ky0.eq(0), ky1.eq(0),
                         kx0.eq(0), kx1.eq(0), s_cib.eq(base), s_rowb.eq(base),
                         s_base.eq(base), s_arow.eq(0), s_apos.eq(0)]

        def advance_scan():
            m.d.sync += s_j.eq(s_j + 1)
            with m.If(s_ix == c.c_win1):
                m.d.sync += [s_ix.eq(0), kx0.eq(0), kx1.eq(0)]
                with m.If(s_iy == c.c_hin1):
                    nxt = s_cib + c.c_wstep
                    m.d.sync += [s_iy.eq(0), ky0.eq(0), ky1.eq(0), s_ci.eq(s_ci + 1),
                                 s_cib.eq(nxt), s_rowb.eq(nxt), s_base.eq(nxt), s_arow.eq(0),
                                 s_apos.eq(0)]
                with m.Else():
                    m.d.sync += s_iy.eq(s_iy + 1)
                    with m.If(s_iy < c.c_kh1):
                        m.d.sync += ky1.eq(ky1 + 1)
                    with m.If(s_iy >= c.c_hout1):
                        m.d.sync += [ky0.eq(ky0 + 1), s_rowb.eq(s_rowb + c.c_kwnb),
                                     s_base.eq(s_rowb + c.c_kwnb), s_apos.eq(s_arow)]
                    with m.Else():
                        m.d.sync += [s_base.eq(s_rowb), s_arow.eq(s_arow + c.c_wout),
                                     s_apos.eq(s_arow + c.c_wout)]
            with m.Else():
                m.d.sync += s_ix.eq(s_ix + 1)
                with m.If(s_ix < c.c_kw1):
                    m.d.sync += kx1.eq(kx1 + 1)
                with m.If(s_ix >= c.c_wout1):
                    m.d.sync += [kx0.eq(kx0 + 1), s_base.eq(s_base + c.c_nb)]
                with m.Else():
                    m.d.sync += s_apos.eq(s_apos + 1)

        # The spike map's entries are registered before the scan looks at them, so the scan
        # reads two entries ahead; after a non-zero entry it primes again (two cycles).
        sm_q = Signal(signed(self.spike_bits))
        m.d.sync += sm_q.eq(self.sm_rd)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    m.next = "PRIME"
            with m.State("PRIME"):
                m.d.comb += self.sm_ra.eq(0)
                start_scatter()
                m.next = "PRIME2"
            with m.State("PRIME2"):
                m.d.comb += self.sm_ra.eq(1)
                m.next = "SCAN"
            with m.State("SCAN"):
                val = sm_q                               # the entry s_j
                with m.If(val != 0):
                    with m.If(c.p_last):                 # the last pass consumes the entry
                        m.d.comb += [self.sm_wa.eq(s_j), self.sm_we.eq(1)]
                    m.d.sync += [s_val.eq(val), s_ky.eq(ky0), s_kx.eq(kx0), s_w.eq(s_base),
                                 s_wkx.eq(s_base), s_wky.eq(s_base), s_a.eq(s_apos),
                                 s_akx.eq(s_apos), s_aky.eq(s_apos), s_jj.eq(0),
                                 s_jg.eq(c.p_j0)]
                    m.next = "EVENT"
                with m.Elif(s_j == c.S_last):
                    m.next = "DRAIN"
                with m.Else():
                    m.d.comb += self.sm_ra.eq(s_j + 2)
                    advance_scan()
            with m.State("EVENT"):
                m.d.sync += [iss.valid.eq(1), iss.payload.row.eq(s_w), iss.payload.a.eq(s_a),
                             iss.payload.x.eq(s_val), iss.payload.lastblk.eq(s_jg == c.c_nb1)]
                with m.If(s_jj == c.p_nb1):
                    m.d.sync += [s_jj.eq(0), s_jg.eq(c.p_j0)]
                    with m.If(s_kx == kx1):
                        with m.If(s_ky == ky1):
                            m.next = "NEXT"
                        with m.Else():
                            m.d.sync += [s_ky.eq(s_ky + 1), s_kx.eq(kx0),
                                         s_wky.eq(s_wky + c.c_kwnb),
                                         s_wkx.eq(s_wky + c.c_kwnb), s_w.eq(s_wky + c.c_kwnb),
                                         s_aky.eq(s_aky - c.c_wout),
                                         s_akx.eq(s_aky - c.c_wout), s_a.eq(s_aky - c.c_wout)]
                    with m.Else():
                        m.d.sync += [s_kx.eq(s_kx + 1), s_wkx.eq(s_wkx + c.c_nb),
                                     s_w.eq(s_wkx + c.c_nb), s_akx.eq(s_akx - 1),
                                     s_a.eq(s_akx - 1)]
                with m.Else():
                    m.d.sync += [s_jj.eq(s_jj + 1), s_jg.eq(s_jg + 1), s_w.eq(s_w + 1),
                                 s_a.eq(s_a + c.c_hw)]
            with m.State("NEXT"):
                with m.If(s_j == c.S_last):
                    m.next = "DRAIN"
                with m.Else():
                    m.d.comb += self.sm_ra.eq(s_j + 1)
                    advance_scan()
                    m.next = "NEXT2"
            with m.State("NEXT2"):
                m.d.comb += self.sm_ra.eq(s_j + 1)
                m.next = "SCAN"
            with m.State("DRAIN"):
                with m.If(self.drained):
                    m.d.comb += self.done.eq(1)
                    m.next = "IDLE"
        return m
