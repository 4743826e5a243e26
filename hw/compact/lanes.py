"""The compact engine's multiplier lanes: the scatter into block-RAM accumulators.

Layer: ``hw`` (Amaranth), a part of :class:`~augsnn.hw.compact.accelerator.CompactAccelerator`
(it shares the engine's signals through the namespace ``s``).

A scatter layer's weights are stored as 8-byte *groups* (the weights of one input channel
and kernel position to a block of 8 output channels), bytes 0-3 in bank 0 and 4-7 in bank 1
at the same row, so one read of both banks feeds 8 multipliers. Each multiplier adds into
its own accumulator lane (a 256 x 32 block RAM; lane ``i`` holds output channel
``8 b + i``): one group, 8 synaptic operations, a cycle. A pass covers as many blocks of
output channels as the lanes hold (``pass_blocks``); the update of those neurons follows
(:mod:`.update`), which reads and clears their accumulators.

Pipeline of a group issued at cycle ``c``: ``c`` bank read (both banks); ``c + 2`` the row
arrives, bytes registered; ``c + 3`` 8 products registered, the lanes read; ``c + 4`` the sums
registered; ``c + 5`` the lanes written, so a read at ``c + 3`` sees the writes of groups
issued up to ``c - 3``. No two groups less than 3 cycles apart add into the same row: an
entry's groups (kernel position, block) have distinct rows, and between the last group of
one entry and the first of the next the scan spends two cycles (it moves on, then latches
the entry). Lane 0's multiplier also computes the first layer's current (the gather, one
pixel a cycle).

The scan of the spike map keeps the kernel window of the current entry (first and last valid
kernel row and column, the weight row and accumulator row of its first position) up to date
as it moves, so an entry's groups start the cycle after it is found and no cycle is spent on
kernel positions outside the output. The entries are registered before the scan tests them
(it reads two ahead), so a non-zero entry costs three cycles besides its groups (one of
them the scan's own).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Mux, Signal, signed
from amaranth.lib import memory

from ..plan import WORD_BITS
from .bank import ADDR_BITS
from .plan import LANE_ROWS, LANES

__all__ = ["lanes_part"]

LANE_BITS = (LANE_ROWS - 1).bit_length()


def lanes_part(self, m, s):
    """The lanes, the multiplier pipeline and the scatter states (returned as a function)."""
    p = s.p
    x_bits = p.x_bits
    prod_bits = 8 + x_bits
    # ---- the accumulator lanes ------------------------------------------------------------
    lane_rd, lane_wr = [], []
    for i in range(LANES):
        mem = memory.Memory(shape=p.acc_bits, depth=LANE_ROWS, init=[])
        m.submodules[f"acc{i}"] = mem
        lane_rd.append(mem.read_port())
        lane_wr.append(mem.write_port())
    in_upd = Signal()                           # the update pass owns the lanes' ports
    upd_lane_ra, upd_lane_wa = Signal(LANE_BITS), Signal(LANE_BITS)
    upd_lane_we = [Signal(name=f"upd_lane_we{i}") for i in range(LANES)]
    # ---- the issue of a group (scatter) or of a weight byte (gather) ----------------------
    iss_v = Signal()
    iss_row = Signal(ADDR_BITS)
    iss_a = Signal(LANE_BITS + 1)
    iss_x = Signal(signed(x_bits))
    iss_lastblk = Signal()
    m.d.sync += iss_v.eq(0)
    g_issue = Signal()                          # gather: comb from the CURRENT state
    w_byte = Signal(ADDR_BITS + 2)
    last_issue = Signal()
    use_pixel = Signal()
    with m.If(g_issue):
        m.d.comb += s.a0.eq(w_byte[2:])
    with m.If(iss_v):
        m.d.comb += [s.a0.eq(iss_row), s.a1.eq(iss_row)]

    def stage(name):
        return dict(v=Signal(name=f"{name}_v"), a=Signal(LANE_BITS + 1, name=f"{name}_a"),
                    x=Signal(signed(x_bits), name=f"{name}_x"),
                    lastblk=Signal(name=f"{name}_lastblk"), last=Signal(name=f"{name}_last"),
                    sel=Signal(2, name=f"{name}_sel"))
    s1, s2, s3, s4, s5 = (stage(f"s{k}") for k in range(1, 6))
    m.d.sync += [s1["v"].eq(iss_v | g_issue), s1["a"].eq(iss_a), s1["x"].eq(iss_x),
                 s1["lastblk"].eq(iss_lastblk), s1["last"].eq(last_issue & g_issue),
                 s1["sel"].eq(w_byte[:2])]
    for src, dst in ((s1, s2), (s2, s3), (s3, s4), (s4, s5)):
        m.d.sync += [dst[k].eq(src[k]) for k in ("v", "a", "lastblk", "last", "sel")]
    mask = Signal(LANES)
    m.d.comb += mask.eq(Mux(s5["lastblk"], s.c_lastmask, Const((1 << LANES) - 1, LANES)))
    m.d.sync += [s2["x"].eq(Mux(use_pixel, s.pix_rd.data, s1["x"])), s3["x"].eq(s2["x"])]
    # c + 2: the group's bytes (lane 0: the gather's byte of the row on port 0)
    raw = Cat(s.b0.rdata, s.b1.rdata)
    wb = [Signal(signed(8), name=f"wb{i}", reset_less=True) for i in range(LANES)]
    m.d.sync += wb[0].eq(Mux(use_pixel, s.r0.word_select(s2["sel"], 8), raw[0:8]))
    m.d.sync += [wb[i].eq(raw[8 * i:8 * i + 8]) for i in range(1, LANES)]
    # c + 3: the products, registered; the lanes read
    prod = [Signal(signed(prod_bits), name=f"prod{i}", reset_less=True) for i in range(LANES)]
    m.d.sync += [prod[i].eq(wb[i] * s3["x"]) for i in range(LANES)]
    # c + 4: the sums (0 while an update pass clears the lanes); c + 5: the write
    sums = [Signal(p.acc_bits, name=f"sum{i}") for i in range(LANES)]
    for i in range(LANES):
        rd, wr = lane_rd[i], lane_wr[i]
        with m.If(in_upd):
            m.d.sync += sums[i].eq(0)
            m.d.comb += [rd.addr.eq(upd_lane_ra), wr.addr.eq(upd_lane_wa),
                         wr.en.eq(upd_lane_we[i])]
        with m.Else():
            m.d.sync += sums[i].eq(rd.data.as_signed() + prod[i])
            m.d.comb += [rd.addr.eq(s3["a"]), wr.addr.eq(s5["a"]),
                         wr.en.eq(s5["v"] & mask[i] & ~use_pixel)]
        m.d.comb += wr.data.eq(sums[i])
    # the gather's product, for the CURRENT state
    vD, lastD = Signal(), Signal()
    m.d.comb += [vD.eq(s4["v"] & use_pixel), lastD.eq(s4["last"])]
    drained = Signal()
    m.d.sync += drained.eq(~(iss_v | s1["v"] | s2["v"] | s3["v"] | s4["v"] | s5["v"]))
    s.__dict__.update(lane_rd=lane_rd, in_upd=in_upd, upd_lane_ra=upd_lane_ra,
                      upd_lane_wa=upd_lane_wa, upd_lane_we=upd_lane_we, issue=g_issue,
                      w_byte=w_byte, last_issue=last_issue, use_pixel=use_pixel, vD=vD,
                      lastD=lastD, prodD=prod[0], drained=drained)

    # ---- the scan of the spike map and the groups of an entry -------------------------------
    L = s.layers
    sc = list(L[1:]) or list(L[:1])             # (one layer: no scatter, placeholders)
    kh_max = max(lp.kh for lp in sc)
    kw_max = max(lp.kw for lp in sc)
    s_j = Signal(range(max(2, p.spike_depth)))
    s_ci = Signal(range(max(2, max(lp.cin for lp in sc))))
    s_iy = Signal(range(max(2, max(lp.hin for lp in sc))))
    s_ix = Signal(range(max(2, max(lp.win for lp in sc))))
    ky0, ky1 = Signal(range(max(2, kh_max))), Signal(range(max(2, kh_max)))
    kx0, kx1 = Signal(range(max(2, kw_max))), Signal(range(max(2, kw_max)))
    s_cib, s_rowb, s_base = Signal(ADDR_BITS), Signal(ADDR_BITS), Signal(ADDR_BITS)
    s_arow, s_apos = Signal(LANE_BITS + 1), Signal(LANE_BITS + 1)
    s_val = Signal(signed(x_bits))
    s_ky, s_kx = Signal.like(ky0), Signal.like(kx0)
    s_w, s_wkx, s_wky = Signal(ADDR_BITS), Signal(ADDR_BITS), Signal(ADDR_BITS)
    s_a, s_akx, s_aky = Signal(LANE_BITS + 1), Signal(LANE_BITS + 1), Signal(LANE_BITS + 1)
    s_jj = Signal(range(max(2, max(lp.pass_blocks for lp in sc))))
    s_jg = Signal(range(max(2, max(lp.blocks for lp in sc))))
    c = s                                      # the per-layer constants (registers)

    def start_scatter():
        base = c.p_wrow
        m.d.sync += [s_j.eq(0), s_ci.eq(0), s_iy.eq(0), s_ix.eq(0), ky0.eq(0), ky1.eq(0),
                     kx0.eq(0), kx1.eq(0), s_cib.eq(base), s_rowb.eq(base), s_base.eq(base),
                     s_arow.eq(0), s_apos.eq(0)]

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
    sm_q = Signal(signed(p.spike_bits))
    m.d.sync += sm_q.eq(s.scat_sm_rd)

    def states():
        with m.State("SCAT_PRIME"):
            m.d.comb += s.scat_sm_ra.eq(0)
            start_scatter()
            m.next = "SCAT_PRIME2"
        with m.State("SCAT_PRIME2"):
            m.d.comb += s.scat_sm_ra.eq(1)
            m.next = "SCAT_SCAN"
        with m.State("SCAT_SCAN"):
            val = sm_q                               # the entry s_j
            with m.If(val != 0):
                with m.If(c.p_last):                 # the last pass consumes the entry
                    m.d.comb += [s.scat_sm_wa.eq(s_j), s.scat_sm_we.eq(1)]
                m.d.sync += [s_val.eq(val), s_ky.eq(ky0), s_kx.eq(kx0), s_w.eq(s_base),
                             s_wkx.eq(s_base), s_wky.eq(s_base), s_a.eq(s_apos),
                             s_akx.eq(s_apos), s_aky.eq(s_apos), s_jj.eq(0), s_jg.eq(c.p_j0)]
                m.next = "SCAT_EVENT"
            with m.Elif(s_j == c.S_last):
                m.next = "SCAT_DRAIN"
            with m.Else():
                m.d.comb += s.scat_sm_ra.eq(s_j + 2)
                advance_scan()
        with m.State("SCAT_EVENT"):
            m.d.sync += [iss_v.eq(1), iss_row.eq(s_w), iss_a.eq(s_a), iss_x.eq(s_val),
                         iss_lastblk.eq(s_jg == c.c_nb1)]
            with m.If(s_jj == c.p_nb1):
                m.d.sync += [s_jj.eq(0), s_jg.eq(c.p_j0)]
                with m.If(s_kx == kx1):
                    with m.If(s_ky == ky1):
                        m.next = "SCAT_NEXT"
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
        with m.State("SCAT_NEXT"):
            with m.If(s_j == c.S_last):
                m.next = "SCAT_DRAIN"
            with m.Else():
                m.d.comb += s.scat_sm_ra.eq(s_j + 1)
                advance_scan()
                m.next = "SCAT_NEXT2"
        with m.State("SCAT_NEXT2"):
            m.d.comb += s.scat_sm_ra.eq(s_j + 1)
            m.next = "SCAT_SCAN"
        with m.State("SCAT_DRAIN"):
            with m.If(drained):
                s.start_update(c.p_first)
                m.next = "UPD_RUN"
    return states
