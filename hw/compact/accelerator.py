"""The compact engine: a whole converted SNN on one small FPGA (iCE40 UP5K) in Amaranth.

Layer: ``hw`` (Amaranth generators). The layout comes from :mod:`augsnn.hw.compact.plan`;
the arithmetic is that of docs/golden-model.md bit for bit (:mod:`augsnn.golden` is the
reference). Where the lane accelerator (:mod:`augsnn.hw.lanes.accelerator`) gives every layer
its own neuron core and dual-port block RAM, this engine runs the layers one after the other
within a time step, with membranes, currents and weights in two single-port banks (iCE40
SPRAM pairs), the weights loaded over the serial link. docs/compact-engine.md has the
schedule.

The parts: this module (memories, per-layer registers, the phase state machine: the
clearing, the first layer's current, the decision and the answer), the units it connects:
:class:`~augsnn.hw.frames.FrameReceiver` and :class:`~augsnn.hw.frames.ResultSender` (the
frames, shared with the lane engine), :class:`~.scatter.Scatter` (the spike-map scan),
:class:`~.lanes.MacLanes` (8 multipliers and their block-RAM accumulators),
:class:`~.update.UpdateIssue`, :class:`~.fire.FirePipe` and :class:`~.writeback.Writeback`
(the neuron update, connected by :func:`~.update.update_part`, which shares the engine's
signals through the namespace ``s``).
"""

from types import SimpleNamespace

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from ..frames import FrameReceiver, ResultSender, result_layout
from ..neuron_core import output_layout
from augsnn.golden.checks import signed_bits, unsigned_bits

from ..plan import T_BITS, WORD_BITS
from .bank import ADDR_BITS, Bank
from .lanes import LANE_BITS, MacLanes
from .plan import LANES, compact_plan
from .scatter import SCATTER_CONSTANTS, Scatter
from .update import update_part

__all__ = ["CompactAccelerator"]


def _const_array(values, shape):
    return Array([Const(int(v), shape) for v in values])


class CompactAccelerator(wiring.Component):
    """Run a converted SNN on images with 8 multiplier lanes and two single-port banks.

    Frames on ``i`` (bytes; docs/boards.md): a header (``T``, the early-exit margin and
    ``t_min``, 16 bits each, least significant byte first), then the image's pixels; or the
    weight frame: ``T = 0`` (2 bytes), then the weight payload
    (:meth:`CompactPlan.weight_payload`), which the engine stores and answers with one word,
    the 32-bit sum of the payload bytes. An image is answered with the class, the output
    counts, the events of every layer, the steps run and the cycles from the first header
    byte to the first answer word.

    Schedule per image: clear the membranes and counts; compute the first layer's input
    current from the stored pixels (one multiply-accumulate a cycle); then per time step,
    layer after layer, pass after pass: scatter the layer's input spikes into the
    accumulator lanes (8 synaptic operations a cycle), then update the pass's neurons (one
    every ``UPDATE_CYCLES`` = 4 cycles); after each step the decision (early exit, or the answer after ``T``).
    The cycle model is :meth:`CompactPlan.cycles`.

    Parameters
    ----------
    model : Model
        The converted network; refused with :class:`~augsnn.hw.compact.plan.NotCompact`
        if the engine cannot run it.
    spram : bool
        Build the banks from iCE40 SPRAM (``True``) or from Amaranth memories.
    trace : bool
        Add ``trace<l>`` ports: every non-zero spike of layer ``l`` (``index``, ``coef``) and
        one ``done`` beat per time step, in the layout of
        :func:`augsnn.hw.neuron_core.output_layout` with one lane.
    """

    def __init__(self, model, *, spram: bool = False, trace: bool = False):
        self._plan = compact_plan(model)
        if not isinstance(trace, bool):
            raise TypeError(f"trace must be a bool, not {trace!r}")
        if not isinstance(spram, bool):
            raise TypeError(f"spram must be a bool, not {spram!r}")
        self._trace, self._spram = trace, spram
        ports = {"i": In(stream.Signature(unsigned(8))),
                 "o": Out(stream.Signature(result_layout())),
                 "busy": Out(1)}
        if trace:
            for lp in self._plan.layers:
                ports[f"trace{lp.number}"] = Out(wiring.Signature({
                    "valid": Out(1), "payload": Out(self.trace_layout(lp))}))
        super().__init__(ports)

    plan = property(lambda self: self._plan)
    trace = property(lambda self: self._trace)

    @staticmethod
    def trace_layout(lp) -> data.StructLayout:
        return output_layout(lanes=1, index_bits=max(1, (lp.neurons - 1).bit_length()),
                             coef_bits=lp.neuron.coef_bits)

    def elaborate(self, platform):
        m = Module()
        p = self._plan
        s = SimpleNamespace(C=p.n_classes, L=len(p.layers), first=p.layers[0],
                            last=p.layers[-1], layers=p.layers, m=m, p=p, reg=p.regions)
        # The frames: a byte a cycle in (header, then the pixels or the weights), the answer
        # out; the receiver takes the next frame once the answer's last word has gone.
        m.submodules.receiver = s.rx = FrameReceiver((1, 1, p.pixels), weight_frames=True,
                                                     position="index")
        m.submodules.sender = s.tx = ResultSender(p.result_words, short_answers=True)
        wiring.connect(m, wiring.flipped(self.i), s.rx.i)
        wiring.connect(m, s.tx.o, wiring.flipped(self.o))
        m.d.comb += s.rx.done.eq(s.tx.done)
        self._memories(m, s)
        self._registers(m, s)
        self._walker(m, s)
        self._lanes(m, s)
        update_states = update_part(self, m, s)
        with m.FSM(name="phase") as fsm:
            self._frame_states(m, s)
            self._current_states(m, s)
            update_states()
            self._done_state(m, s)
            with m.State("SCATTER"):
                with m.If(s.scatter.done):
                    s.start_update(s.p_first)
                    m.next = "UPD_RUN"
            self._answer_states(m, s)
        m.d.comb += self.busy.eq(~fsm.ongoing("IDLE"))
        return m

    # ---- memories and registers ---------------------------------------------------------------
    def _memories(self, m, s):
        """The banks, the pixel memory and the two spike maps."""
        p = s.p
        banks = [Bank(spram=self._spram) for _ in range(2)]
        m.submodules.bank0, m.submodules.bank1 = banks
        m.submodules.pixels = pix_mem = memory.Memory(shape=8, depth=p.pixels, init=[])
        pix_rd, pix_wr = pix_mem.read_port(), pix_mem.write_port()
        maps = []
        for k, depth in enumerate(p.spike_depths):
            mem = memory.Memory(shape=signed(p.spike_bits), depth=max(2, depth), init=[])
            m.submodules[f"spikes{k}"] = mem
            maps.append((mem.read_port(), mem.write_port()))
        a_bits = max(1, (max(2, p.spike_depth) - 1).bit_length())
        names = ("scat_sm_ra", "scat_sm_wa", "upd_sm_ra", "upd_sm_wa")
        sig = {n: Signal(a_bits, name=n) for n in names}
        sig.update(scat_sm_we=Signal(), upd_sm_we=Signal(),
                   upd_sm_wd=Signal(signed(p.spike_bits)),
                   scat_sm_rd=Signal(signed(p.spike_bits)),
                   upd_sm_rd=Signal(signed(p.spike_bits)))
        s.__dict__.update(sig)
        s.banks, s.b0, s.b1, s.pix_rd, s.pix_wr = banks, banks[0], banks[1], pix_rd, pix_wr
        s.maps = maps

    def _registers(self, m, s):
        """Per-layer and per-pass registers, bank ports, counters, trace outputs."""
        L, layers, p, reg = s.L, s.layers, s.p, s.reg
        li = Signal(range(max(2, L)))
        layer_regs = []

        def per_layer(values, shape):
            values = [int(v) for v in values]
            if isinstance(shape, range):
                shape = range(min(0, min(values)), max(2, shape.stop, max(values) + 1))
            if len(set(values)) == 1:           # the same in every layer: a constant
                return Const(values[0], shape)
            r = Signal(shape, init=values[0])
            layer_regs.append((r, values, shape))
            return r

        def set_layer(value):
            m.d.sync += li.eq(value)
            for r, values, shape in layer_regs:
                m.d.sync += r.eq(_const_array(values + [values[-1]], shape)[value])

        def const(fn, shape):
            return per_layer([fn(lp) for lp in layers], shape)

        swap = const(lambda lp: p.swap[lp.number], 1)
        mp = const(lambda lp: lp.number % 2, 1)
        self._ports(m, s, swap, mp)
        n_max = max(lp.neurons for lp in layers)
        v_bases = [reg[f"V{lp.number}"][1] for lp in layers]
        x_bases = [reg["X0"][1]] + [0] * (L - 1)
        w_firsts = [reg[f"W{lp.number}"][1] for lp in layers]
        kmax = max(lp.k for lp in layers)
        pot_max = max(lp.neuron.pot_bits for lp in layers)
        d_bits = max(max(lp.neuron.theta_p, lp.neuron.theta_n or 0) << (lp.k - 1)
                     for lp in layers).bit_length()
        pool_max = max(lp.pool for lp in layers)
        cn = dict(
            N=const(lambda lp: lp.neurons - 1, range(n_max)),
            v_base=const(lambda lp: v_bases[lp.number], ADDR_BITS),
            w_rows=const(lambda lp: lp.weight_rows - 1, ADDR_BITS),
            is_last=const(lambda lp: lp.number == L - 1, 1),
            is_first=const(lambda lp: lp.number == 0, 1),
            S_last=const(lambda lp: max(0, lp.cin * lp.hin * lp.win - 1),
                         range(max(2, p.spike_depth))),
            c_hin1=const(lambda lp: lp.hin - 1, range(max(lp.hin for lp in layers))),
            c_win1=const(lambda lp: lp.win - 1, range(max(lp.win for lp in layers))),
            c_kh1=const(lambda lp: lp.kh - 1, range(max(lp.kh for lp in layers))),
            c_kw1=const(lambda lp: lp.kw - 1, range(max(lp.kw for lp in layers))),
            c_hout1=const(lambda lp: lp.hout - 1, range(max(lp.hout for lp in layers))),
            c_wout1=const(lambda lp: lp.wout - 1, range(max(lp.wout for lp in layers))),
            c_hout=const(lambda lp: lp.hout, range(max(lp.hout for lp in layers) + 1)),
            c_wout=const(lambda lp: lp.wout, range(max(lp.wout for lp in layers) + 1)),
            c_hw=const(lambda lp: lp.hout * lp.wout if lp.number else 0, range(2)),
            c_hw1=const(lambda lp: lp.hout * lp.wout - 1 if lp.number else 0, range(2)),
            c_nb=const(lambda lp: lp.blocks, range(2)),
            c_nb1=const(lambda lp: lp.blocks - 1, range(max(lp.blocks for lp in layers))),
            c_kwnb=const(lambda lp: lp.kw * lp.blocks, range(2)),
            c_wstep=const(lambda lp: lp.kh * lp.kw * lp.blocks, range(2)),
            c_lastmask=const(lambda lp: (1 << (lp.cout - LANES * (lp.blocks - 1))) - 1, LANES),
            c_pool=const(lambda lp: lp.pool - 1, range(max(2, pool_max))),
            c_wp=const(lambda lp: lp.wp, range(max(2, max(lp.wp for lp in layers) + 1))),
            c_vinit=const(lambda lp: lp.neuron.v_init & 0xFFFFFFFF, WORD_BITS),
            c_hi=const(lambda lp: (1 << (lp.neuron.pot_bits - 1)) - 1, signed(pot_max + 1)),
            c_dp=const(lambda lp: lp.neuron.theta_p << (lp.k - 1), d_bits),
            c_dn=const(lambda lp: (lp.neuron.theta_n or 0) << (lp.k - 1), d_bits),
            c_hasneg=const(lambda lp: lp.neuron.theta_n is not None, 1),
            c_k=const(lambda lp: lp.k, range(kmax + 1)),
        )
        # The passes of a step, in order: (first block, blocks - 1, last, first, last neuron).
        passes = []
        for lp in layers:
            hw = lp.hout * lp.wout
            for j0, nbk in lp.pass_ranges():
                co_end = lp.cout if lp.number == 0 else min(lp.cout, LANES * (j0 + nbk))
                passes.append((j0, nbk - 1, j0 + nbk == lp.blocks, j0 == 0, co_end * hw - 1,
                               (w_firsts[lp.number] + j0) if lp.number else 0))
        gp = Signal(range(len(passes) + 1))
        p_j0 = Signal(range(max(2, max(x[0] for x in passes) + 1)))
        p_nb1 = Signal(range(max(2, max(x[1] for x in passes) + 1)))
        p_last, p_first = Signal(init=1), Signal(init=1)
        p_nlast = Signal(range(max(2, n_max)), init=passes[0][4])
        p_wrow = Signal(ADDR_BITS)            # the pass's first weight row (block j0)
        regs_ = (p_j0, p_nb1, p_last, p_first, p_nlast, p_wrow)
        tables = [_const_array([x[k] for x in passes] + [0], r.shape())
                  for k, r in enumerate(regs_)]

        def set_pass(g):
            m.d.sync += [gp.eq(g)] + [r.eq(t[g]) for r, t in zip(regs_, tables)]

        s.__dict__.update(cn)
        s.__dict__.update(
            li=li, set_layer=set_layer, swap=swap, n_max=n_max, v_bases=v_bases,
            x_bases=x_bases, w_firsts=w_firsts, kmax=kmax, pot_max=pot_max, d_bits=d_bits,
            pool_max=pool_max, gp=gp, p_j0=p_j0, p_nb1=p_nb1, p_last=p_last, p_first=p_first,
            p_nlast=p_nlast, p_wrow=p_wrow, set_pass=set_pass, counts_base=reg["counts"][1])
        self._counters(m, s)

    @staticmethod
    def _ports(m, s, swap, mp):
        """The bank ports (port 0 reaches the bank of the layer's V, port 1 the other one)
        and the spike maps' ports (layer l's scatter reads map l % 2, its update writes the
        other)."""
        a0, d0, w0 = Signal(ADDR_BITS), Signal(WORD_BITS), Signal()
        a1, d1, w1 = Signal(ADDR_BITS), Signal(WORD_BITS), Signal()
        r0, r1 = Signal(WORD_BITS), Signal(WORD_BITS)
        b0, b1 = s.banks
        m.d.comb += [
            b0.addr.eq(Mux(swap, a1, a0)), b0.wdata.eq(Mux(swap, d1, d0)),
            b0.we.eq(Mux(swap, w1, w0)),
            b1.addr.eq(Mux(swap, a0, a1)), b1.wdata.eq(Mux(swap, d0, d1)),
            b1.we.eq(Mux(swap, w0, w1)),
        ]
        swap_d = Signal(2)                    # swap when the data now arriving was asked for
        m.d.sync += swap_d.eq(Cat(swap, swap_d[0]))
        m.d.comb += [r0.eq(Mux(swap_d[1], b1.rdata, b0.rdata)),
                     r1.eq(Mux(swap_d[1], b0.rdata, b1.rdata))]
        for k, (rd, wr) in enumerate(s.maps):
            mine = mp == k
            m.d.comb += [rd.addr.eq(Mux(mine, s.scat_sm_ra, s.upd_sm_ra)),
                         wr.addr.eq(Mux(mine, s.scat_sm_wa, s.upd_sm_wa)),
                         wr.data.eq(Mux(mine, 0, s.upd_sm_wd)),
                         wr.en.eq(Mux(mine, s.scat_sm_we, s.upd_sm_we))]
        (rd0, _), (rd1, _) = s.maps
        m.d.comb += [s.scat_sm_rd.eq(Mux(mp, rd1.data, rd0.data)),
                     s.upd_sm_rd.eq(Mux(mp, rd0.data, rd1.data))]
        s.__dict__.update(a0=a0, d0=d0, w0=w0, a1=a1, d1=d1, w1=w1, r0=r0, r1=r1)

    def _counters(self, m, s):
        """Steps, cycles and events; the trace outputs; the decision's and answer's registers."""
        layers, C, n_max, kmax, li = s.layers, s.C, s.n_max, s.kmax, s.li
        T, t = Signal(T_BITS), Signal(T_BITS)
        last_step = Signal()                 # registered t == T - 1 (T holds T - 1)
        m.d.sync += last_step.eq(t == T)
        cycles, counting = Signal(WORD_BITS), Signal()
        with m.If(counting):
            m.d.sync += cycles.eq(cycles + 1)
        events = [Signal(min(WORD_BITS, unsigned_bits(lp.neurons * (2 ** T_BITS - 1))),
                         name=f"events{lp.number}") for lp in layers]
        # trace outputs
        tr_valid, tr_done = Signal(), Signal()
        tr_index = Signal(range(max(2, n_max)))
        tr_coef = Signal(signed(kmax + 1))
        tr_layer = Signal.like(li)
        m.d.sync += [tr_layer.eq(li), tr_valid.eq(0)]
        if self._trace:
            for lp in layers:
                port = getattr(self, f"trace{lp.number}")
                m.d.comb += [port.valid.eq(tr_valid & (tr_layer == lp.number)),
                             port.payload.index.eq(tr_index),
                             port.payload.coef[0].eq(tr_coef),
                             port.payload.done.eq(tr_done)]
        # the decision and the answer (an output count is at most 65535 x M in magnitude)
        count_bits = signed_bits((2 ** T_BITS - 1) * s.last.neuron.M)
        s.__dict__.update(
            cls=Signal(range(max(2, C))), best=Signal(signed(count_bits)),
            cand=Signal(signed(count_bits)), second=Signal(signed(count_bits)), has2=Signal(),
            count_bits=count_bits,
            ac=Signal(range(C + 4)), outw=Signal(WORD_BITS),
            word=s.tx.index, ap1=Signal(ADDR_BITS), T=T, t=t, last_step=last_step,
            cycles=cycles, counting=counting, events=events, tr_valid=tr_valid,
            tr_done=tr_done, tr_index=tr_index, tr_coef=tr_coef)

    def _walker(self, m, s):
        """The write side's neuron walk: index, membrane row, count row, pooled map entry."""
        layers, C = s.layers, s.C
        n = Signal(range(max(2, s.n_max + C + 1)))
        vp, cp = Signal(ADDR_BITS), Signal(ADDR_BITS)
        oy = Signal(range(max(2, max(lp.hout for lp in layers))))
        ox = Signal(range(max(2, max(lp.wout for lp in layers))))
        dy, dx = Signal(range(max(2, s.pool_max))), Signal(range(max(2, s.pool_max)))
        paddr = Signal(range(max(2, s.p.spike_depth)))
        prow = Signal(range(max(2, s.p.spike_depth + 1)))

        def start_walk(layer=None):
            vb = s.v_base if layer is None else s.v_bases[layer]
            m.d.sync += [n.eq(0), oy.eq(0), ox.eq(0), dy.eq(0), dx.eq(0), paddr.eq(0),
                         prow.eq(0), vp.eq(vb), cp.eq(s.counts_base)]

        def advance_walk():
            m.d.sync += [n.eq(n + 1), vp.eq(vp + 1), cp.eq(cp + 1)]
            with m.If(ox == s.c_wout1):
                m.d.sync += [ox.eq(0), dx.eq(0)]
                with m.If(dy == s.c_pool):
                    m.d.sync += [dy.eq(0), prow.eq(prow + s.c_wp), paddr.eq(prow + s.c_wp)]
                with m.Else():
                    m.d.sync += [dy.eq(dy + 1), paddr.eq(prow)]
                with m.If(oy == s.c_hout1):
                    m.d.sync += oy.eq(0)
                with m.Else():
                    m.d.sync += oy.eq(oy + 1)
            with m.Else():
                m.d.sync += ox.eq(ox + 1)
                with m.If(dx == s.c_pool):
                    m.d.sync += [dx.eq(0), paddr.eq(paddr + 1)]
                with m.Else():
                    m.d.sync += dx.eq(dx + 1)
        s.__dict__.update(n=n, vp=vp, cp=cp, paddr=paddr, start_walk=start_walk,
                          advance_walk=advance_walk)

    def _lanes(self, m, s):
        """The multiplier lanes (:class:`MacLanes`) and the scatter (:class:`Scatter`) that
        feeds them, wired to the banks, the spike maps and the per-layer registers."""
        p = s.p
        m.submodules.lanes = lanes = MacLanes(x_bits=p.x_bits, acc_bits=p.acc_bits)
        sc = list(s.layers[1:]) or list(s.layers[:1])     # (one layer: no scatter)
        sizes = {k: max(getattr(lp, k) for lp in sc)
                 for k in ("kh", "kw", "cin", "hin", "win", "pass_blocks", "blocks")}
        constants = data.StructLayout({n: Value.cast(getattr(s, n)).shape()
                                       for n in SCATTER_CONSTANTS})
        m.submodules.scatter = scat = Scatter(constants=constants, depth=p.spike_depth,
                                              spike_bits=p.spike_bits, x_bits=p.x_bits,
                                              sizes=sizes)
        sig = dict(in_upd=Signal(), upd_lane_ra=Signal(LANE_BITS),
                   upd_lane_wa=Signal(LANE_BITS), upd_lane_we=Signal(LANES),
                   issue=Signal(), w_byte=Signal(ADDR_BITS + 2), last_issue=Signal(),
                   use_pixel=Signal())
        s.__dict__.update(sig, scatter=scat, lane_data=lanes.lane_data, vD=lanes.prod_valid,
                          lastD=lanes.prod_last, prodD=lanes.prod, drained=lanes.drained)
        m.d.comb += [scat.c[n].eq(getattr(s, n)) for n in SCATTER_CONSTANTS]
        m.d.comb += [scat.sm_rd.eq(s.scat_sm_rd), s.scat_sm_ra.eq(scat.sm_ra),
                     s.scat_sm_wa.eq(scat.sm_wa), s.scat_sm_we.eq(scat.sm_we),
                     scat.drained.eq(lanes.drained)]
        wiring.connect(m, scat.issue, lanes.issue)
        m.d.comb += [
            lanes.rdata.eq(Cat(s.b0.rdata, s.b1.rdata)), lanes.lastmask.eq(s.c_lastmask),
            lanes.gather.eq(s.issue), lanes.gather_last.eq(s.last_issue),
            lanes.use_pixel.eq(s.use_pixel), lanes.sel.eq(s.w_byte[:2]),
            lanes.pixel.eq(s.pix_rd.data), lanes.r0.eq(s.r0),
            lanes.in_upd.eq(s.in_upd), lanes.upd_ra.eq(s.upd_lane_ra),
            lanes.upd_wa.eq(s.upd_lane_wa), lanes.upd_we.eq(s.upd_lane_we),
        ]
        # The bank reads of a gather byte (port 0) and of a group (both banks).
        with m.If(s.issue):
            m.d.comb += s.a0.eq(s.w_byte[2:])
        with m.If(scat.issue.valid):
            m.d.comb += [s.a0.eq(scat.issue.payload.row), s.a1.eq(scat.issue.payload.row)]

    # ---- states -----------------------------------------------------------------------
    def _frame_states(self, m, s):
        """IDLE, FRAME: the frame's header, then its pixels or the weights; LOAD_ACK."""
        rx, tx = s.rx, s.tx
        checksum, wbuf = Signal(WORD_BITS), Signal(24)
        nb, half = Signal(2), Signal()
        row, wrow = Signal(ADDR_BITS), Signal(ADDR_BITS)
        with m.State("IDLE"):
            with m.If(rx.start):
                s.set_layer(0)
                m.d.sync += [s.cycles.eq(1), s.counting.eq(1), wrow.eq(s.w_firsts[0]),
                             row.eq(0), nb.eq(0), half.eq(0), checksum.eq(0)]
                m.next = "FRAME"
        with m.State("FRAME"):
            m.d.comb += [rx.pixels.ready.eq(1), rx.weights.ready.eq(1)]
            with m.If(rx.header.valid):
                m.d.sync += s.T.eq(rx.header.payload.t - 1)
            # A weight frame (T = 0). Layer 0: 4 bytes a row in its V bank (port 0). Later
            # layers: 8-byte groups, bytes 0-3 in bank 0 and 4-7 in bank 1 at the same row.
            byte = rx.weights.payload
            with m.If(rx.weights.valid):
                m.d.sync += [checksum.eq(checksum + byte), nb.eq(nb + 1),
                             wbuf.eq(Cat(wbuf[8:], byte))]
                with m.If(nb == 3):
                    word = Cat(wbuf, byte)
                    row_done = Signal()
                    with m.If(s.is_first | (half == s.swap)):
                        m.d.comb += [s.a0.eq(wrow), s.d0.eq(word), s.w0.eq(1)]
                    with m.Else():
                        m.d.comb += [s.a1.eq(wrow), s.d1.eq(word), s.w1.eq(1)]
                    with m.If(s.is_first | half):
                        m.d.comb += row_done.eq(1)
                        m.d.sync += [row.eq(row + 1), wrow.eq(wrow + 1), half.eq(0)]
                    with m.Else():
                        m.d.sync += half.eq(1)
                    with m.If(row_done & (row == s.w_rows)):
                        m.d.sync += [row.eq(0),
                                     wrow.eq(_const_array(s.w_firsts + [0], ADDR_BITS)[s.li + 1])]
                        s.set_layer(s.li + 1)
                        with m.If(s.is_last):
                            m.next = "LOAD_ACK"
            # An image: its pixels into the pixel memory.
            px = rx.pixels.payload
            m.d.comb += [s.pix_wr.addr.eq(px.index), s.pix_wr.data.eq(px.value),
                         s.pix_wr.en.eq(rx.pixels.valid)]
            with m.If(rx.pixels.valid & px.last):
                s.set_layer(0)
                s.start_walk(0)
                m.d.sync += [s.t.eq(0)] + [e.eq(0) for e in s.events]
                m.next = "CLEAR"
        with m.State("LOAD_ACK"):
            # The weight frame's answer: one word, the sum of its payload bytes.
            m.d.comb += [tx.i.valid.eq(1), tx.i.payload.eq(checksum), tx.end.eq(1)]
            with m.If(tx.done):
                s.set_layer(0)
                m.d.sync += s.counting.eq(0)
                m.next = "IDLE"

    def _current_states(self, m, s):
        """CLEAR (membranes to v_init, counts to 0) and CURRENT (the first layer's current)."""
        first, p = s.first, s.p
        n, vp, cp = s.n, s.vp, s.cp
        K0 = first.cin * first.kh * first.kw
        g_ci = Signal(range(max(2, first.cin)))
        g_ky = Signal(range(max(2, first.kh)))
        g_kx = Signal(range(max(2, first.kw)))
        g_oy = Signal(range(max(2, first.hout)))
        g_ox = Signal(range(max(2, first.wout)))
        g_n = Signal(range(max(2, first.neurons)))
        g_wco, g_w = Signal(ADDR_BITS + 2), Signal(ADDR_BITS + 2)
        hw0 = first.hin * first.win
        g_pbase = Signal(range(max(2, p.pixels)))
        g_orow = Signal(range(max(2, p.pixels)))
        g_pci = Signal(range(max(2, p.pixels + hw0)))
        g_prow = Signal(range(max(2, p.pixels + hw0)))
        g_p = Signal(range(max(2, p.pixels + hw0)))
        g_issuing, g_wr, g_last = Signal(), Signal(), Signal()
        g_acc = Signal(signed(p.in_bits))
        g_wa = Signal(ADDR_BITS)
        w0_byte = s.reg["W0"][1] * 4
        with m.State("CLEAR"):
            # V <- v_init (port 0), the counts <- 0 with the last layer (port 1), a row a cycle.
            m.d.comb += [s.a0.eq(vp), s.d0.eq(s.c_vinit), s.w0.eq(1)]
            with m.If(s.is_last):
                m.d.comb += [s.a1.eq(cp), s.d1.eq(0), s.w1.eq(1)]
            m.d.sync += [n.eq(n + 1), vp.eq(vp + 1), cp.eq(cp + 1)]
            with m.If(n == s.N):
                m.d.sync += [n.eq(0), cp.eq(s.counts_base)]
                m.d.sync += vp.eq(_const_array(s.v_bases + [0], ADDR_BITS)[s.li + 1])
                with m.If(s.is_last):
                    s.set_layer(0)
                    m.next = "CUR_INIT"
                with m.Else():
                    s.set_layer(s.li + 1)
        with m.State("CUR_INIT"):
            # (a state of its own: the gather's registers are not loaded on CLEAR's end test)
            m.d.sync += [g_ci.eq(0), g_ky.eq(0), g_kx.eq(0), g_oy.eq(0), g_ox.eq(0),
                         g_n.eq(0), g_wco.eq(w0_byte), g_w.eq(w0_byte), g_pbase.eq(0),
                         g_orow.eq(0), g_pci.eq(0), g_prow.eq(0), g_p.eq(0),
                         g_issuing.eq(1), g_acc.eq(0)]
            m.next = "CURRENT"
        with m.State("CURRENT"):
            # I[n] = sum over (ci, ky, kx) of w * pixel; one MAC a cycle, then a write.
            m.d.comb += [s.use_pixel.eq(1), s.pix_rd.addr.eq(g_p), s.issue.eq(g_issuing),
                         s.w_byte.eq(g_w),
                         s.last_issue.eq((g_ci == first.cin - 1) & (g_ky == first.kh - 1)
                                         & (g_kx == first.kw - 1))]
            with m.If(g_issuing):
                m.d.sync += g_w.eq(g_w + 1)
                with m.If(g_kx == first.kw - 1):
                    m.d.sync += g_kx.eq(0)
                    with m.If(g_ky == first.kh - 1):
                        m.d.sync += [g_ky.eq(0), g_ci.eq(g_ci + 1), g_pci.eq(g_pci + hw0),
                                     g_prow.eq(g_pci + hw0), g_p.eq(g_pci + hw0)]
                        with m.If(g_ci == first.cin - 1):
                            m.d.sync += [g_ci.eq(0), g_issuing.eq(0)]
                    with m.Else():
                        m.d.sync += [g_ky.eq(g_ky + 1), g_prow.eq(g_prow + first.win),
                                     g_p.eq(g_prow + first.win)]
                with m.Else():
                    m.d.sync += [g_kx.eq(g_kx + 1), g_p.eq(g_p + 1)]
            with m.If(s.vD):
                m.d.sync += g_acc.eq(g_acc + s.prodD)
            with m.If(g_wr):
                # The neuron's current, from a register (short path into the bank).
                m.d.comb += [s.a1.eq(g_wa), s.d1.eq(g_acc), s.w1.eq(1)]
                m.d.sync += [g_acc.eq(0), g_wr.eq(0)]
                with m.If(g_last):
                    m.d.sync += [g_issuing.eq(0), s.t.eq(0), g_last.eq(0)]
                    s.set_layer(0)
                    s.set_pass(0)
                    self._start_update0(m, s)
                    m.next = "UPD_RUN"
            with m.If(s.vD & s.lastD):
                m.d.sync += [g_wr.eq(1), g_wa.eq(s.reg["X0"][1] + g_n), g_n.eq(g_n + 1),
                             g_issuing.eq(1)]
                # Next neuron (raster order co, oy, ox): its weights and pixel window.
                nxt = Signal.like(g_pbase)
                with m.If(g_ox == first.wout - 1):
                    m.d.sync += g_ox.eq(0)
                    with m.If(g_oy == first.hout - 1):
                        m.d.sync += [g_oy.eq(0), g_orow.eq(0), g_wco.eq(g_wco + K0),
                                     g_w.eq(g_wco + K0)]
                        m.d.comb += nxt.eq(0)
                    with m.Else():
                        m.d.sync += [g_oy.eq(g_oy + 1), g_orow.eq(g_orow + first.win),
                                     g_w.eq(g_wco)]
                        m.d.comb += nxt.eq(g_orow + first.win)
                with m.Else():
                    m.d.sync += [g_ox.eq(g_ox + 1), g_w.eq(g_wco)]
                    m.d.comb += nxt.eq(g_pbase + 1)
                m.d.sync += [g_pbase.eq(nxt), g_pci.eq(nxt), g_prow.eq(nxt), g_p.eq(nxt)]
                with m.If(g_n == first.neurons - 1):
                    m.d.sync += [g_issuing.eq(0), g_last.eq(1)]

    @staticmethod
    def _start_update0(m, s):
        """Start the update of layer 0 (its only pass) while ``li`` is being set to 0."""
        s.start_update(1, layer=0)

    def _done_state(self, m, s):
        """UPD_DONE: after an update pass, the next pass, layer or the step's decision."""
        with m.State("UPD_DONE"):
            with m.If(s.p_last):
                m.d.sync += [s.tr_valid.eq(1), s.tr_done.eq(1), s.tr_index.eq(0),
                             s.tr_coef.eq(0)]
            with m.If(s.p_last & s.is_last):
                m.d.sync += [s.ac.eq(0), s.cls.eq(0), s.cp.eq(s.counts_base)]
                m.next = "ARGMAX"
            with m.Else():
                with m.If(s.p_last):
                    s.set_layer(s.li + 1)
                s.set_pass(s.gp + 1)
                m.d.comb += s.scatter.start.eq(1)
                m.next = "SCATTER"

    def _answer_states(self, m, s):
        """ARGMAX .. ANSWER_SHOW: the decision after every step and the answer words."""
        C, a1, r1 = s.C, s.a1, s.r1
        cp = s.cp
        with m.State("ARGMAX"):
            # Read counts[ac] (port 1); compare the one read the cycle before. The leader is
            # the lowest index of the largest count, the runner-up the largest of the others.
            m.d.comb += a1.eq(cp)
            m.d.sync += [s.ac.eq(s.ac + 1), cp.eq(cp + 1),
                         s.cand.eq(r1[:s.count_bits])]                 # counts[ac - 2]
            with m.If(s.ac >= 3):                                      # cand: counts[ac - 3]
                with m.If(s.ac == 3):
                    m.d.sync += [s.best.eq(s.cand), s.cls.eq(0), s.has2.eq(0)]
                with m.Elif(s.cand > s.best):
                    m.d.sync += [s.best.eq(s.cand), s.cls.eq(s.ac - 3), s.second.eq(s.best),
                                 s.has2.eq(1)]
                with m.Elif(~s.has2 | (s.cand > s.second)):
                    m.d.sync += [s.second.eq(s.cand), s.has2.eq(1)]
            with m.If(s.ac == C + 2):
                m.next = "LEAD"
        # docs/golden-model.md "Early exit": stop after step t + 1 when the margin is not 0,
        # t + 1 >= t_min and leader - runner-up >= margin (a tie never stops); otherwise run
        # to T. Each part registered (short paths).
        margin, t_min = s.rx.fields.margin, s.rx.fields.t_min
        lead = Signal(signed(s.count_bits + 1))
        early = Signal()
        decided = Signal()
        with m.State("LEAD"):
            m.d.sync += [lead.eq(s.best - s.second),
                         early.eq((margin != 0) & (s.t + 1 >= t_min))]
            m.next = "MARGIN"
        with m.State("MARGIN"):
            m.d.sync += decided.eq(early & (~s.has2 | (lead >= margin)))
            m.next = "DECIDE"
        with m.State("DECIDE"):
            with m.If(s.last_step | decided):
                m.d.sync += s.ap1.eq(s.counts_base)
                m.next = "ANSWER"
            with m.Else():
                m.d.sync += s.t.eq(s.t + 1)
                s.set_layer(0)
                s.set_pass(0)
                self._start_update0(m, s)
                m.next = "UPD_RUN"
        with m.State("ANSWER"):
            # Word w: the class, counts[w-1] (read from the bank: two cycles), the events,
            # the steps run, the cycles. ``o.valid`` drops between words while a count is
            # fetched.
            tail = Array(s.events + [s.t + 1, s.cycles])       # words 1 + C ...
            with m.If(s.word == 0):
                m.d.sync += [s.outw.eq(s.cls), s.counting.eq(0)]
                m.next = "ANSWER_SHOW"
            with m.Elif(s.word <= C):
                m.d.comb += a1.eq(s.ap1)
                m.next = "ANSWER_WAIT"
            with m.Else():
                m.d.sync += s.outw.eq(tail[s.word - (1 + C)])
                m.next = "ANSWER_SHOW"
        with m.State("ANSWER_WAIT"):
            m.d.comb += a1.eq(s.ap1)
            m.next = "ANSWER_LATCH"
        with m.State("ANSWER_LATCH"):
            m.d.sync += s.outw.eq(r1)
            m.next = "ANSWER_SHOW"
        with m.State("ANSWER_SHOW"):
            m.d.comb += [s.tx.i.valid.eq(1), s.tx.i.payload.eq(s.outw)]
            with m.If(s.tx.i.ready):
                with m.If(s.word != 0):
                    m.d.sync += s.ap1.eq(s.ap1 + 1)
                with m.If(s.tx.done):
                    s.set_layer(0)
                    m.next = "IDLE"
                with m.Else():
                    m.next = "ANSWER"
