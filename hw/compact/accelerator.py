"""The compact engine: a whole converted SNN on one small FPGA (iCE40 UP5K) in Amaranth.

Layer: ``hw`` (Amaranth generators). The layout comes from :mod:`augsnn.hw.compact.plan`;
the arithmetic is that of docs/golden-model.md bit for bit (:mod:`augsnn.golden` is the
reference). Where the lane accelerator (:mod:`augsnn.hw.lanes.accelerator`) gives every layer
its own neuron core and dual-port block RAM, this engine runs the layers one after the other
within a time step on one datapath, with every large memory in two single-port banks (iCE40
SPRAM pairs) and the weights loaded over the serial link. docs/compact-engine.md has the
schedule.

:meth:`CompactAccelerator.elaborate` builds the datapath in parts (one method each: memories,
counters, the multiplier pipeline, the loop registers, the phase machine's states by phase,
the accumulator read-modify-write); the parts share their signals through one namespace
``s``, so the design is the same one netlist as a single function would make.
"""

from types import SimpleNamespace

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, fifo, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from ..frames import result_layout
from ..neuron_core import output_layout
from ..plan import T_BITS, WORD_BITS
from .bank import ADDR_BITS, Bank
from .plan import compact_plan

__all__ = ["CompactAccelerator"]


def _const_array(values, shape):
    return Array([Const(int(v), shape) for v in values])


class CompactAccelerator(wiring.Component):
    """Run a converted SNN on images with one datapath and two single-port memory banks.

    Frames on ``i`` (bytes; docs/boards.md): a header ``T`` (2 bytes, least significant
    first), then either the image's pixels (``T >= 1``) or, for ``T = 0``, the weight
    payload (:meth:`CompactPlan.weight_payload`), which the engine stores and answers with
    one word: the 32-bit sum of the payload bytes. An image is answered with the class, the
    output counts, the events of every layer and the cycles from the first header byte to
    the first answer word (as :class:`augsnn.hw.lanes.accelerator.Accelerator`).

    Schedule per image: clear the membranes, accumulators and counts; compute the first
    layer's input current from the stored pixels (one multiply-accumulate a cycle); then per
    time step, layer after layer: scatter the layer's input spikes into its accumulators
    (one synaptic operation per two cycles: a single-port read-modify-write), then update
    every neuron (``coef_bits + 6`` cycles each: a sequential divider fires it). The cycle
    model is :meth:`CompactPlan.cycles`.

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

    Members
    -------
    i : In(stream(unsigned(8)))
    o : Out(stream(result_layout()))
    busy : Out(1)
    trace<l> : Out(valid, payload)
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
        L = len(p.layers)
        layers = p.layers
        last = layers[-1]
        first = layers[0]
        C = p.n_classes
        reg = p.regions

        s = SimpleNamespace(C=C, L=L, first=first, last=last, layers=layers, m=m, p=p, reg=reg)
        self._memories(m, s)
        self._counters(m, s)
        self._multiplier(m, s)
        self._loop_state(m, s)
        C, c_wbyte, co = s.C, s.c_wbyte, s.co
        counts_base, cp, dx = s.counts_base, s.cp, s.dx
        dy, n, ox = s.dy, s.n, s.ox
        oy, p, paddr = s.oy, s.p, s.paddr
        point, prow, s_ci = s.point, s.prow, s.s_ci
        s_ix, s_iy, s_iyW = s.s_ix, s.s_iy, s.s_iyW
        s_j, s_wci = s.s_j, s.s_wci
        # ---- result words ----------------------------------------------------------------
        cls = Signal(range(max(2, C)))
        best = Signal(signed(WORD_BITS))
        ac = Signal(range(C + 4))
        cand = Signal(signed(WORD_BITS))
        second = Signal(signed(WORD_BITS))     # the runner-up's count
        has2 = Signal()                        # a runner-up was seen (more than one class)
        outw = Signal(WORD_BITS)
        word = Signal(range(p.result_words + 1))

        pixel = self.i.payload

        def start_update(layer=None):
            m.d.sync += [n.eq(0), co.eq(0), oy.eq(0), ox.eq(0), dy.eq(0), dx.eq(0),
                         paddr.eq(0), prow.eq(0), cp.eq(counts_base)]
            point(layer)

        def start_scatter():
            m.d.sync += [s_j.eq(0), s_ci.eq(0), s_iy.eq(0), s_ix.eq(0), s_iyW.eq(0),
                         s_wci.eq(c_wbyte)]

        s.__dict__.update(ac=ac, best=best, cand=cand, cls=cls, outw=outw, pixel=pixel,
                          second=second, has2=has2,
                          start_scatter=start_scatter, start_update=start_update, word=word)
        with m.FSM(name="phase"):
            self._frame_states(m, s)
            self._current_states(m, s)
            self._update_states(m, s)
            self._scatter_states(m, s)
            self._answer_states(m, s)
        self._rmw(m, s)
        return m

    def _memories(self, m, s):
        """The banks, the pixel and spike memories, per-layer constants and address pointers."""
        L, layers, p = s.L, s.layers, s.p
        reg = s.reg
        # ---- memories ------------------------------------------------------------------
        banks = [Bank(spram=self._spram) for _ in range(2)]
        m.submodules.bank0, m.submodules.bank1 = banks
        m.submodules.pixels = pix_mem = memory.Memory(shape=8, depth=p.pixels, init=[])
        pix_rd, pix_wr = pix_mem.read_port(), pix_mem.write_port()
        m.submodules.spikes = sm = memory.Memory(shape=signed(p.spike_bits),
                                                 depth=max(2, p.spike_depth), init=[])
        sm_rd, sm_wr = sm.read_port(), sm.write_port()

        li = Signal(range(max(2, L)))
        # Per-layer constants are registers loaded together with ``li`` (set_layer), so no
        # path starts at ``li``'s decoder.
        layer_regs = []

        def per_layer(values, shape):
            values = [int(v) for v in values]
            if isinstance(shape, range):
                shape = range(max(2, shape.stop, max(values) + 1))
            reg_ = Signal(shape, init=values[0])
            layer_regs.append((reg_, values, shape))
            return reg_

        def set_layer(value):
            m.d.sync += li.eq(value)
            for reg_, values, shape in layer_regs:
                m.d.sync += reg_.eq(_const_array(values + [values[-1]], shape)[value])

        swap = per_layer(p.swap, 1)
        # Port 0 reaches the bank of the layer's V and W regions, port 1 the other one.
        a0, d0, w0 = Signal(ADDR_BITS), Signal(WORD_BITS), Signal()
        a1, d1, w1 = Signal(ADDR_BITS), Signal(WORD_BITS), Signal()
        r0, r1 = Signal(WORD_BITS), Signal(WORD_BITS)
        b0, b1 = banks
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

        n_max = max(lp.neurons for lp in layers)
        N = per_layer([lp.neurons - 1 for lp in layers], range(n_max))
        v_base = per_layer([reg[f"V{lp.number}"][1] for lp in layers], ADDR_BITS)
        x_base = per_layer([reg[f"X{lp.number}"][1] for lp in layers], ADDR_BITS)
        w_rows = per_layer([reg[f"W{lp.number}"][2] - 1 for lp in layers], ADDR_BITS)
        counts_base = reg["counts"][1]
        # Address pointers: every bank address is a register (or a choice of two), so the
        # long routes to the SPRAM start at a flip-flop.
        vp, xp, cp = Signal(ADDR_BITS), Signal(ADDR_BITS), Signal(ADDR_BITS)
        wrow = Signal(ADDR_BITS)
        ap1 = Signal(ADDR_BITS)
        v_bases = [reg[f"V{lp.number}"][1] for lp in layers]
        x_bases = [reg[f"X{lp.number}"][1] for lp in layers]
        w_bases = [reg[f"W{lp.number}"][1] for lp in layers]

        def point(layer=None):
            """Point vp/xp at neuron 0 of ``layer`` (default: the current one)."""
            if layer is None:
                m.d.sync += [vp.eq(v_base), xp.eq(x_base)]
            else:
                m.d.sync += [vp.eq(_const_array(v_bases + [0], ADDR_BITS)[layer]),
                             xp.eq(_const_array(x_bases + [0], ADDR_BITS)[layer])]
        is_last = per_layer([l == L - 1 for l in range(L)], 1)
        is_first = per_layer([l == 0 for l in range(L)], 1)
        s.__dict__.update(N=N, a0=a0, a1=a1, ap1=ap1, b0=b0, b1=b1, banks=banks,
                          counts_base=counts_base, cp=cp, d0=d0, d1=d1, is_first=is_first,
                          is_last=is_last, layer_regs=layer_regs, li=li, n_max=n_max,
                          per_layer=per_layer, pix_mem=pix_mem, pix_rd=pix_rd, pix_wr=pix_wr,
                          point=point, r0=r0, r1=r1, set_layer=set_layer, sm=sm, sm_rd=sm_rd,
                          sm_wr=sm_wr, swap=swap, swap_d=swap_d, v_base=v_base, v_bases=v_bases,
                          vp=vp, w0=w0, w1=w1, w_bases=w_bases, w_rows=w_rows, wrow=wrow,
                          x_base=x_base, x_bases=x_bases, xp=xp)

    def _counters(self, m, s):
        """Counters shared by the phases, the update pass's registers and the trace outputs."""
        C, L, layers = s.C, s.L, s.layers
        li, n_max, p = s.li, s.n_max, s.p
        # ---- counters shared by the phases -----------------------------------------------
        T = Signal(T_BITS)
        t = Signal(T_BITS)
        t_lo = Signal(8)
        # The image header's early-exit rule (margin 0: none) and its byte counter.
        rule = Signal(2 * T_BITS)
        rule_n = Signal(2)
        last_step = Signal()                 # registered t == T - 1 (T holds T - 1)
        m.d.sync += last_step.eq(t == T)
        cycles = Signal(WORD_BITS)
        counting = Signal()
        with m.If(counting):
            m.d.sync += cycles.eq(cycles + 1)
        events = [Signal(WORD_BITS, name=f"events{l}") for l in range(L)]
        checksum = Signal(WORD_BITS)
        wbuf = Signal(24)
        nb = Signal(2)
        row = Signal(ADDR_BITS)
        pa = Signal(range(max(2, p.pixels)))

        # Update-pass state.
        n = Signal(range(max(2, n_max + C + 1)))
        co = Signal(range(max(2, max(lp.cout for lp in layers))))
        oy = Signal(range(max(2, max(lp.hout for lp in layers))))
        ox = Signal(range(max(2, max(lp.wout for lp in layers))))
        pool_max = max(lp.pool for lp in layers)
        dy = Signal(range(max(2, pool_max)))
        dx = Signal(range(max(2, pool_max)))
        paddr = Signal(range(max(2, p.spike_depth)))
        prow = Signal(range(max(2, p.spike_depth + 1)))
        pot_max = max(lp.neuron.pot_bits for lp in layers)
        ssum = Signal(signed(WORD_BITS + 1))
        vsat = Signal(signed(pot_max))
        pb_old = Signal(signed(p.spike_bits))
        kmax = max(lp.k for lp in layers)
        d_bits = max(max(lp.neuron.theta_p, lp.neuron.theta_n or 0) << (lp.k - 1)
                     for lp in layers).bit_length()
        rem = Signal(pot_max)
        div = Signal(d_bits)
        q = Signal(kmax)
        neg = Signal()
        steps_left = Signal(range(kmax + 1))
        o_reg = Signal(signed(kmax + 1))
        o_nz = Signal()
        v_new = Signal(signed(pot_max + 1))
        count_sum = Signal(WORD_BITS)

        # Trace outputs.
        tr_valid = Signal()
        tr_index = Signal(range(max(2, n_max)))
        tr_coef = Signal(signed(kmax + 1))
        tr_done = Signal()
        tr_layer = Signal.like(li)
        m.d.sync += tr_layer.eq(li)           # the layer of the beat set this cycle
        if self._trace:
            for lp in layers:
                port = getattr(self, f"trace{lp.number}")
                m.d.comb += [port.valid.eq(tr_valid & (tr_layer == lp.number)),
                             port.payload.index.eq(tr_index),
                             port.payload.coef[0].eq(tr_coef),
                             port.payload.done.eq(tr_done)]
        m.d.sync += tr_valid.eq(0)
        s.__dict__.update(T=T, checksum=checksum, co=co, count_sum=count_sum, counting=counting,
                          cycles=cycles, d_bits=d_bits, div=div, dx=dx, dy=dy, events=events,
                          kmax=kmax, last_step=last_step, n=n, nb=nb, neg=neg, o_nz=o_nz,
                          o_reg=o_reg, ox=ox, oy=oy, pa=pa, paddr=paddr, pb_old=pb_old,
                          pool_max=pool_max, pot_max=pot_max, prow=prow, q=q, rem=rem,
                          row=row, rule=rule, rule_n=rule_n, ssum=ssum, steps_left=steps_left, t=t,
                          t_lo=t_lo,
                          tr_coef=tr_coef, tr_done=tr_done, tr_index=tr_index, tr_layer=tr_layer,
                          tr_valid=tr_valid, v_new=v_new, vsat=vsat, wbuf=wbuf)

    def _multiplier(self, m, s):
        """The multiplier pipeline (first-layer current and scatter) and the synop FIFO's room."""
        a0, p, pix_rd = s.a0, s.p, s.pix_rd
        r0 = s.r0
        # ---- multiplier pipeline (first-layer current and scatter) ------------------------
        # A: issue the weight row read (port 0) [and the pixel read]; B: pick the byte;
        # C: multiply; the product goes to the current accumulator or the synop FIFO.
        x_bits = p.x_bits
        prod_bits = 8 + x_bits
        issue = Signal()
        w_byte = Signal(ADDR_BITS + 2)          # byte address in the V/W bank
        x_issue = Signal(signed(x_bits))
        a_issue = Signal(ADDR_BITS)
        last_issue = Signal()
        vB, selB, xB, aB, lastB = (Signal(), Signal(2), Signal(signed(x_bits)),
                                   Signal(ADDR_BITS), Signal())
        vC, byteC, xC, aC, lastC = (Signal(), Signal(signed(8)), Signal(signed(x_bits)),
                                    Signal(ADDR_BITS), Signal())
        use_pixel = Signal()
        # Scatter requests are registered (iss_*) before they address the bank: the decision
        # (inside the output? room in the FIFO?) is too long a path to reach the SPRAM too.
        iss_v, iss_w = Signal(), Signal(ADDR_BITS + 2)
        iss_x, iss_a = Signal(signed(x_bits)), Signal(ADDR_BITS)
        m.d.sync += iss_v.eq(0)
        m.d.comb += [issue.eq(iss_v), w_byte.eq(iss_w), x_issue.eq(iss_x), a_issue.eq(iss_a)]
        m.d.sync += [vB.eq(issue), selB.eq(w_byte[:2]), xB.eq(x_issue), aB.eq(a_issue),
                     lastB.eq(last_issue & issue)]
        # B2: the bank's row arrives (two cycles after the request); the pixel is held.
        vB2, selB2, xB2, aB2, lastB2 = (Signal(), Signal(2), Signal(signed(x_bits)),
                                        Signal(ADDR_BITS), Signal())
        m.d.sync += [vB2.eq(vB), selB2.eq(selB), aB2.eq(aB), lastB2.eq(lastB),
                     xB2.eq(Mux(use_pixel, pix_rd.data, xB))]
        m.d.sync += [vC.eq(vB2), byteC.eq(r0.word_select(selB2, 8)), xC.eq(xB2), aC.eq(aB2),
                     lastC.eq(lastB2)]
        prod = Signal(signed(prod_bits))
        m.d.comb += prod.eq(byteC * xC)
        # D (first layer only): the product registered before the 32-bit accumulation.
        vD, lastD, prodD = Signal(), Signal(), Signal(signed(prod_bits))
        m.d.sync += [vD.eq(vC & use_pixel), lastD.eq(lastC), prodD.eq(prod)]
        with m.If(issue):
            m.d.comb += a0.eq(w_byte[2:])

        # Synop FIFO (scatter): accumulator address and product.
        m.submodules.synops = sfifo = fifo.SyncFIFO(width=ADDR_BITS + prod_bits, depth=4)
        in_flight = Signal(range(8))
        m.d.comb += in_flight.eq(sfifo.level + iss_v + vB + vB2 + vC)
        # Registered views (short paths): in_flight now is at most the last cycle's plus this
        # cycle's request, so ``room`` never lets more than the FIFO's depth be under way; and
        # the scatter is over once nothing was under way a cycle ago with the RMW idle.
        c_idle = Signal()                     # the accumulator RMW has nothing under way
        inflight_q = Signal(range(8))
        drained = Signal()
        room = Signal()
        m.d.sync += [inflight_q.eq(in_flight), drained.eq((in_flight == 0) & c_idle)]
        m.d.comb += room.eq(inflight_q + iss_v < 4)
        s.__dict__.update(aB=aB, aB2=aB2, aC=aC, a_issue=a_issue, byteC=byteC, c_idle=c_idle,
                          drained=drained, in_flight=in_flight, inflight_q=inflight_q, iss_a=iss_a,
                          iss_v=iss_v, iss_w=iss_w, iss_x=iss_x, issue=issue, lastB=lastB,
                          lastB2=lastB2, lastC=lastC, lastD=lastD, last_issue=last_issue, prod=prod,
                          prodD=prodD, prod_bits=prod_bits, room=room, selB=selB, selB2=selB2,
                          sfifo=sfifo, use_pixel=use_pixel, vB=vB, vB2=vB2, vC=vC, vD=vD,
                          w_byte=w_byte, xB=xB, xB2=xB2, xC=xC, x_bits=x_bits, x_issue=x_issue)

    def _loop_state(self, m, s):
        """The gather and scatter loop registers and the per-layer loop constants."""
        C, d_bits, first = s.C, s.d_bits, s.first
        kmax, last, layers = s.kmax, s.last, s.layers
        n_max, p, per_layer = s.n_max, s.p, s.per_layer
        pool_max, pot_max, prod_bits = s.pool_max, s.pot_max, s.prod_bits
        reg, x_bits = s.reg, s.x_bits
        # ---- first layer (gather) state --------------------------------------------------
        K0 = first.cin * first.kh * first.kw
        g_ci = Signal(range(max(2, first.cin)))
        g_ky = Signal(range(max(2, first.kh)))
        g_kx = Signal(range(max(2, first.kw)))
        g_co = Signal(range(max(2, first.cout)))
        g_oy = Signal(range(max(2, first.hout)))
        g_ox = Signal(range(max(2, first.wout)))
        g_n = Signal(range(max(2, first.neurons)))
        g_wco = Signal(ADDR_BITS + 2)
        g_w = Signal(ADDR_BITS + 2)
        hw0 = first.hin * first.win
        g_pbase = Signal(range(max(2, p.pixels)))
        g_orow = Signal(range(max(2, p.pixels)))
        g_pci = Signal(range(max(2, p.pixels + hw0)))
        g_prow = Signal(range(max(2, p.pixels + hw0)))
        g_p = Signal(range(max(2, p.pixels + hw0)))
        g_issuing = Signal()
        g_acc = Signal(signed(WORD_BITS))
        g_wr = Signal()                      # write g_acc to I[g_wa] this cycle
        g_wa = Signal(ADDR_BITS)
        g_last = Signal()                    # the neuron being written is the last one
        w0_byte = reg["W0"][1] * 4

        # ---- scatter state ----------------------------------------------------------------
        sc = [lp for lp in layers[1:]] or [first]
        s_j = Signal(range(max(2, p.spike_depth)))
        s_ci = Signal(range(max(2, max(lp.cin for lp in sc))))
        s_iy = Signal(range(max(2, max(lp.hin for lp in sc))))
        s_ix = Signal(range(max(2, max(lp.win for lp in sc))))
        s_iyW = Signal(ADDR_BITS)
        s_wci = Signal(ADDR_BITS + 2)
        s_w = Signal(ADDR_BITS + 2)
        s_val = Signal(signed(x_bits))
        s_ky = Signal(range(max(2, max(lp.kh for lp in sc))))
        s_kx = Signal(range(max(2, max(lp.kw for lp in sc))))
        s_co = Signal(range(max(2, max(lp.cout for lp in sc))))
        ybits = max(lp.hin for lp in sc).bit_length() + 1
        xbits = max(lp.win for lp in sc).bit_length() + 1
        s_oy = Signal(signed(ybits))
        s_ox = Signal(signed(xbits))
        s_arow = Signal(ADDR_BITS)
        s_ayx = Signal(ADDR_BITS)
        s_a = Signal(ADDR_BITS)
        c_a, c_a2, c_a3 = Signal(ADDR_BITS), Signal(ADDR_BITS), Signal(ADDR_BITS)
        c_prod, c_prod2, c_prod3 = (Signal(signed(prod_bits)), Signal(signed(prod_bits)),
                                    Signal(signed(prod_bits)))
        c_sum, c_sum2, c_sum3 = Signal(WORD_BITS), Signal(WORD_BITS), Signal(WORD_BITS)

        def layer_const(fn, shape):
            return per_layer([fn(lp) for lp in layers], shape)

        S_last = layer_const(lambda lp: max(0, lp.cin * lp.hin * lp.win - 1),
                             range(max(2, p.spike_depth)))
        c_hin = layer_const(lambda lp: lp.hin - 1, range(max(2, max(lp.hin for lp in layers))))
        c_win = layer_const(lambda lp: lp.win - 1, range(max(2, max(lp.win for lp in layers))))
        c_kh = layer_const(lambda lp: lp.kh - 1, range(max(2, max(lp.kh for lp in layers))))
        c_kw = layer_const(lambda lp: lp.kw - 1, range(max(2, max(lp.kw for lp in layers))))
        c_cout = layer_const(lambda lp: lp.cout - 1, range(max(2, max(lp.cout for lp in layers))))
        c_cout1 = layer_const(lambda lp: lp.cout, ADDR_BITS + 2)
        c_hout = layer_const(lambda lp: lp.hout, range(max(2, max(lp.hout for lp in layers) + 1)))
        c_wout = layer_const(lambda lp: lp.wout, range(max(2, max(lp.wout for lp in layers) + 1)))
        c_hwout = layer_const(lambda lp: lp.hout * lp.wout, ADDR_BITS)
        c_wstep = layer_const(lambda lp: lp.kh * lp.kw * lp.cout, ADDR_BITS + 2)
        c_wbyte = layer_const(lambda lp: reg[f"W{lp.number}"][1] * 4, ADDR_BITS + 2)
        c_pool = layer_const(lambda lp: lp.pool - 1, range(max(2, pool_max)))
        c_wp = layer_const(lambda lp: lp.wp, range(max(2, max(lp.wp for lp in layers) + 1)))
        c_vinit = layer_const(lambda lp: lp.neuron.v_init & 0xFFFFFFFF, WORD_BITS)
        c_hi = layer_const(lambda lp: (1 << (lp.neuron.pot_bits - 1)) - 1, signed(pot_max + 1))
        c_lo = layer_const(lambda lp: -(1 << (lp.neuron.pot_bits - 1)), signed(pot_max + 1))
        c_dp = layer_const(lambda lp: lp.neuron.theta_p << (lp.k - 1), d_bits)
        c_dn = layer_const(lambda lp: (lp.neuron.theta_n or 0) << (lp.k - 1), d_bits)
        c_hasneg = layer_const(lambda lp: lp.neuron.theta_n is not None, 1)
        c_k = layer_const(lambda lp: lp.k, range(kmax + 1))
        c_clear_last = layer_const(
            lambda lp: lp.neurons - 1 + (C if lp is last else 0), range(n_max + C + 1))
        s.__dict__.update(K0=K0, S_last=S_last, c_a=c_a, c_a2=c_a2, c_a3=c_a3,
                          c_clear_last=c_clear_last, c_cout=c_cout, c_cout1=c_cout1, c_dn=c_dn,
                          c_dp=c_dp, c_hasneg=c_hasneg, c_hi=c_hi, c_hin=c_hin, c_hout=c_hout,
                          c_hwout=c_hwout, c_k=c_k, c_kh=c_kh, c_kw=c_kw, c_lo=c_lo, c_pool=c_pool,
                          c_prod=c_prod, c_prod2=c_prod2, c_prod3=c_prod3, c_sum=c_sum,
                          c_sum2=c_sum2, c_sum3=c_sum3, c_vinit=c_vinit, c_wbyte=c_wbyte,
                          c_win=c_win, c_wout=c_wout, c_wp=c_wp, c_wstep=c_wstep, g_acc=g_acc,
                          g_ci=g_ci, g_co=g_co, g_issuing=g_issuing, g_kx=g_kx, g_ky=g_ky,
                          g_last=g_last, g_n=g_n, g_orow=g_orow, g_ox=g_ox, g_oy=g_oy, g_p=g_p,
                          g_pbase=g_pbase, g_pci=g_pci, g_prow=g_prow, g_w=g_w, g_wa=g_wa,
                          g_wco=g_wco, g_wr=g_wr, hw0=hw0, layer_const=layer_const, s_a=s_a,
                          s_arow=s_arow, s_ayx=s_ayx, s_ci=s_ci, s_co=s_co, s_ix=s_ix, s_iy=s_iy,
                          s_iyW=s_iyW, s_j=s_j, s_kx=s_kx, s_ky=s_ky, s_ox=s_ox, s_oy=s_oy,
                          s_val=s_val, s_w=s_w, s_wci=s_wci, sc=sc, w0_byte=w0_byte, xbits=xbits,
                          ybits=ybits)

    def _frame_states(self, m, s):
        """Phase states IDLE .. PIXELS: the frame header, the weight frame, the pixels."""
        T, a0, checksum = s.T, s.a0, s.checksum
        counting, cycles, d0 = s.counting, s.cycles, s.d0
        events, is_last, li = s.events, s.is_last, s.li
        n, nb, p = s.n, s.nb, s.p
        pa, pix_wr, pixel = s.pa, s.pix_wr, s.pixel
        point, row, set_layer = s.point, s.row, s.set_layer
        t, t_lo, w0 = s.t, s.t_lo, s.w0
        rule, rule_n = s.rule, s.rule_n
        w_bases, w_rows, wbuf = s.w_bases, s.w_rows, s.wbuf
        wrow = s.wrow
        with m.State("IDLE"):
            m.d.comb += self.i.ready.eq(1)
            with m.If(self.i.valid):
                m.d.sync += [t_lo.eq(pixel), cycles.eq(1), counting.eq(1)]
                m.next = "HEADER"
        with m.State("HEADER"):
            m.d.comb += [self.i.ready.eq(1), self.busy.eq(1)]
            with m.If(self.i.valid):
                tt = Cat(t_lo, pixel)
                set_layer(0)
                m.d.sync += wrow.eq(w_bases[0])
                m.d.sync += [T.eq(tt - 1), pa.eq(0), row.eq(0), nb.eq(0),
                             checksum.eq(0)]
                with m.If(tt == 0):
                    m.d.sync += counting.eq(0)
                    m.next = "LOAD"
                with m.Else():
                    m.d.sync += rule_n.eq(0)
                    m.next = "RULE"
        with m.State("RULE"):
            # Header bytes 2..5: the early-exit margin and t_min (kept in ``rule``).
            m.d.comb += [self.i.ready.eq(1), self.busy.eq(1)]
            with m.If(self.i.valid):
                m.d.sync += [rule.eq(Cat(rule[8:], pixel)), rule_n.eq(rule_n + 1)]
                with m.If(rule_n == 3):
                    m.next = "PIXELS"
        with m.State("LOAD"):
            m.d.comb += [self.i.ready.eq(1), self.busy.eq(1)]
            with m.If(self.i.valid):
                m.d.sync += [checksum.eq(checksum + pixel), nb.eq(nb + 1),
                             wbuf.eq(Cat(wbuf[8:], pixel))]
                with m.If(nb == 3):
                    m.d.comb += [a0.eq(wrow), d0.eq(Cat(wbuf, pixel)), w0.eq(1)]
                    m.d.sync += [row.eq(row + 1), wrow.eq(wrow + 1)]
                    with m.If(row == w_rows):
                        m.d.sync += [row.eq(0),
                                     wrow.eq(_const_array(w_bases + [0], ADDR_BITS)[li + 1])]
                        set_layer(li + 1)
                        with m.If(is_last):
                            m.next = "LOAD_ACK"
        with m.State("LOAD_ACK"):
            m.d.comb += [self.o.valid.eq(1), self.o.payload.data.eq(checksum + 0),
                         self.o.payload.last.eq(1), self.busy.eq(1)]
            with m.If(self.o.ready):
                set_layer(0)
                m.next = "IDLE"
        with m.State("PIXELS"):
            m.d.comb += [self.i.ready.eq(1), self.busy.eq(1),
                         pix_wr.addr.eq(pa), pix_wr.data.eq(pixel),
                         pix_wr.en.eq(self.i.valid)]
            with m.If(self.i.valid):
                m.d.sync += pa.eq(pa + 1)
                with m.If(pa == p.pixels - 1):
                    set_layer(0)
                    point(0)
                    m.d.sync += [n.eq(0), t.eq(0)]
                    m.d.sync += [e.eq(0) for e in events]
                    m.next = "CLEAR"
        s.__dict__.update(tt=tt)

    def _current_states(self, m, s):
        """Phase states CLEAR and CURRENT: clear the state, gather the first layer's current."""
        K0, N, a0 = s.K0, s.N, s.a0
        a1, c_clear_last, c_hout = s.a1, s.c_clear_last, s.c_hout
        c_pool, c_vinit, c_wout = s.c_pool, s.c_vinit, s.c_wout
        c_wp, co, cp = s.c_wp, s.co, s.cp
        d0, d1, dx = s.d0, s.d1, s.dx
        dy, first, g_acc = s.dy, s.first, s.g_acc
        g_ci, g_co, g_issuing = s.g_ci, s.g_co, s.g_issuing
        g_kx, g_ky, g_last = s.g_kx, s.g_ky, s.g_last
        g_n, g_orow, g_ox = s.g_n, s.g_orow, s.g_ox
        g_oy, g_p, g_pbase = s.g_oy, s.g_p, s.g_pbase
        g_pci, g_prow, g_w = s.g_pci, s.g_prow, s.g_w
        g_wa, g_wco, g_wr = s.g_wa, s.g_wco, s.g_wr
        hw0, is_last, issue = s.hw0, s.is_last, s.issue
        lastD, last_issue, li = s.lastD, s.last_issue, s.li
        n, ox, oy = s.n, s.ox, s.oy
        paddr, pix_rd, point = s.paddr, s.pix_rd, s.point
        prodD, prow, reg = s.prodD, s.prow, s.reg
        set_layer, start_update, t = s.set_layer, s.start_update, s.t
        use_pixel, vD, vp = s.use_pixel, s.vD, s.vp
        w0, w0_byte, w1 = s.w0, s.w0_byte, s.w1
        w_byte, xp = s.w_byte, s.xp
        with m.State("CLEAR"):
            # V <- v_init, X <- 0 (and the counts after the last layer's X), a row a cycle.
            m.d.comb += [self.busy.eq(1),
                         a0.eq(vp), d0.eq(c_vinit), w0.eq(n <= N),
                         a1.eq(xp), d1.eq(0), w1.eq(1)]
            m.d.sync += [n.eq(n + 1), vp.eq(vp + 1), xp.eq(xp + 1)]
            with m.If(n == c_clear_last):
                m.d.sync += n.eq(0)
                point(li + 1)
                with m.If(is_last):
                    set_layer(0)
                    m.d.sync += [g_ci.eq(0), g_ky.eq(0), g_kx.eq(0), g_co.eq(0),
                                 g_oy.eq(0), g_ox.eq(0), g_n.eq(0), g_wco.eq(w0_byte),
                                 g_w.eq(w0_byte), g_pbase.eq(0), g_orow.eq(0),
                                 g_pci.eq(0), g_prow.eq(0), g_p.eq(0), g_issuing.eq(1),
                                 g_acc.eq(0)]
                    m.next = "CURRENT"
                with m.Else():
                    set_layer(li + 1)
        with m.State("CURRENT"):
            # I[n] = sum over (ci, ky, kx) of w * pixel; one MAC a cycle, then a write.
            m.d.comb += [self.busy.eq(1), use_pixel.eq(1), pix_rd.addr.eq(g_p),
                         issue.eq(g_issuing), w_byte.eq(g_w),
                         last_issue.eq((g_ci == first.cin - 1) & (g_ky == first.kh - 1)
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
            acc_next = Signal(signed(WORD_BITS))
            m.d.comb += acc_next.eq(g_acc + prodD)
            with m.If(vD):
                m.d.sync += g_acc.eq(acc_next)
            with m.If(g_wr):
                # The neuron's current, from a register (short path into the bank).
                m.d.comb += [a1.eq(g_wa), d1.eq(g_acc), w1.eq(1)]
                m.d.sync += [g_acc.eq(0), g_wr.eq(0)]
                with m.If(g_last):
                    m.d.sync += [g_issuing.eq(0), t.eq(0), g_last.eq(0)]
                    set_layer(0)
                    start_update(0)
                    m.next = "UPD_READ"
            with m.If(vD & lastD):
                m.d.sync += [g_wr.eq(1), g_wa.eq(reg["X0"][1] + g_n), g_n.eq(g_n + 1),
                             g_issuing.eq(1)]
                # Next neuron (raster order co, oy, ox): its weights and pixel window.
                nxt_pbase = Signal.like(g_pbase)
                with m.If(g_ox == first.wout - 1):
                    m.d.sync += g_ox.eq(0)
                    with m.If(g_oy == first.hout - 1):
                        m.d.sync += [g_oy.eq(0), g_co.eq(g_co + 1), g_orow.eq(0),
                                     g_wco.eq(g_wco + K0), g_w.eq(g_wco + K0)]
                        m.d.comb += nxt_pbase.eq(0)
                    with m.Else():
                        m.d.sync += [g_oy.eq(g_oy + 1), g_orow.eq(g_orow + first.win),
                                     g_w.eq(g_wco)]
                        m.d.comb += nxt_pbase.eq(g_orow + first.win)
                with m.Else():
                    m.d.sync += [g_ox.eq(g_ox + 1), g_w.eq(g_wco)]
                    m.d.comb += nxt_pbase.eq(g_pbase + 1)
                m.d.sync += [g_pbase.eq(nxt_pbase), g_pci.eq(nxt_pbase),
                             g_prow.eq(nxt_pbase), g_p.eq(nxt_pbase)]
                with m.If(g_n == first.neurons - 1):
                    m.d.sync += [g_issuing.eq(0), g_last.eq(1)]

        # ---- update pass: one neuron at a time ----------------------------------------
        def advance_neuron():
            """Step to the next neuron (raster order) and its pooled spike-map entry."""
            m.d.sync += [n.eq(n + 1), vp.eq(vp + 1), xp.eq(xp + 1), cp.eq(cp + 1)]
            with m.If(ox == c_wout - 1):
                m.d.sync += [ox.eq(0), dx.eq(0)]
                with m.If(dy == c_pool):
                    m.d.sync += [dy.eq(0), prow.eq(prow + c_wp), paddr.eq(prow + c_wp)]
                with m.Else():
                    m.d.sync += [dy.eq(dy + 1), paddr.eq(prow)]
                with m.If(oy == c_hout - 1):
                    m.d.sync += [oy.eq(0), co.eq(co + 1)]
                with m.Else():
                    m.d.sync += oy.eq(oy + 1)
            with m.Else():
                m.d.sync += ox.eq(ox + 1)
                with m.If(dx == c_pool):
                    m.d.sync += [dx.eq(0), paddr.eq(paddr + 1)]
                with m.Else():
                    m.d.sync += dx.eq(dx + 1)
            with m.If(n == N):
                m.next = "UPD_DONE"
            with m.Else():
                m.next = "UPD_READ"
        s.__dict__.update(acc_next=acc_next, advance_neuron=advance_neuron, nxt_pbase=nxt_pbase)

    def _update_states(self, m, s):
        """Phase states UPD_*: saturate, fire and write back every neuron of a layer."""
        L, a0, a1 = s.L, s.a0, s.a1
        ac, advance_neuron, c_dn = s.ac, s.advance_neuron, s.c_dn
        c_dp, c_hasneg, c_hi = s.c_dp, s.c_hasneg, s.c_hi
        c_k, c_lo, cls = s.c_k, s.c_lo, s.cls
        count_sum, counts_base, cp = s.count_sum, s.counts_base, s.cp
        d0, d1, d_bits = s.d0, s.d1, s.d_bits
        div, events, is_first = s.div, s.events, s.is_first
        is_last, last_step, li = s.is_last, s.last_step, s.li
        n, neg, o_nz = s.n, s.neg, s.o_nz
        o_reg, paddr, pb_old = s.o_reg, s.paddr, s.pb_old
        pot_max, q, r0 = s.pot_max, s.q, s.r0
        r1, rem, set_layer = s.r1, s.rem, s.set_layer
        sm_rd, sm_wr, ssum = s.sm_rd, s.sm_wr, s.ssum
        start_update, steps_left, t = s.start_update, s.steps_left, s.t
        tr_coef, tr_done, tr_index = s.tr_coef, s.tr_done, s.tr_index
        tr_valid, v_new, vp = s.tr_valid, s.v_new, s.vp
        vsat, w0, w1 = s.vsat, s.w0, s.w1
        xp = s.xp
        with m.State("UPD_READ"):
            m.d.comb += [self.busy.eq(1), a0.eq(vp), a1.eq(xp),
                         sm_rd.addr.eq(paddr)]
            m.next = "UPD_WAIT"
        with m.State("UPD_WAIT"):
            m.d.comb += [self.busy.eq(1), sm_rd.addr.eq(paddr)]
            m.next = "UPD_SUM"
        with m.State("UPD_SUM"):
            m.d.comb += self.busy.eq(1)
            m.d.sync += [ssum.eq(r0.as_signed() + r1.as_signed()), pb_old.eq(sm_rd.data)]
            m.next = "UPD_SAT"
        with m.State("UPD_SAT"):
            m.d.comb += self.busy.eq(1)
            with m.If(ssum > c_hi):
                m.d.sync += vsat.eq(c_hi)
            with m.Elif(ssum < c_lo):
                m.d.sync += vsat.eq(c_lo)
            with m.Else():
                m.d.sync += vsat.eq(ssum)
            m.next = "UPD_ABS"
        with m.State("UPD_ABS"):
            m.d.comb += self.busy.eq(1)
            is_neg = vsat < 0
            m.d.sync += [neg.eq(is_neg), rem.eq(Mux(is_neg, -vsat, vsat)),
                         div.eq(Mux(is_neg, c_dn, c_dp)), q.eq(0), steps_left.eq(c_k)]
            with m.If(is_neg & ~c_hasneg):
                m.next = "UPD_FIRE"       # single threshold: no negative spike
            with m.Else():
                m.next = "UPD_DIV"
        with m.State("UPD_DIV"):
            # Restoring division with coef_bits - 1 quotient bits: q = min(M, |V| // theta)
            # and the remainder is |V| - q * theta (docs/golden-model.md: the excess stays
            # in V).
            m.d.comb += self.busy.eq(1)
            diff = Signal(signed(max(pot_max, d_bits) + 1))
            m.d.comb += diff.eq(rem - div)
            with m.If(diff >= 0):
                m.d.sync += [rem.eq(diff), q.eq(Cat(1, q))]
            with m.Else():
                m.d.sync += q.eq(Cat(0, q))
            m.d.sync += [div.eq(div >> 1), steps_left.eq(steps_left - 1)]
            with m.If(steps_left == 1):
                m.next = "UPD_FIRE"
        with m.State("UPD_FIRE"):
            # The spike and the reset membrane, registered (short paths in UPD_WRITE).
            m.d.comb += self.busy.eq(1)
            m.d.sync += [o_reg.eq(Mux(neg, -q, q)), o_nz.eq(q != 0),
                         v_new.eq(Mux(neg, -rem, rem))]
            m.next = "UPD_WRITE"
        with m.State("UPD_WRITE"):
            m.d.comb += self.busy.eq(1)
            o = o_reg
            m.d.comb += [a0.eq(vp), d0.eq(v_new), w0.eq(1),
                         a1.eq(xp), d1.eq(0), w1.eq(~is_first)]
            with m.If(~is_last):
                m.d.comb += [sm_wr.addr.eq(paddr), sm_wr.data.eq(pb_old + o),
                             sm_wr.en.eq(1)]
            with m.If(o_nz):
                m.d.sync += [tr_valid.eq(1), tr_index.eq(n), tr_coef.eq(o), tr_done.eq(0)]
                with m.Switch(li):
                    for l in range(L):
                        with m.Case(l):
                            m.d.sync += events[l].eq(events[l] + 1)
            with m.If(is_last):
                m.next = "UPD_COUNT_READ"
            with m.Else():
                advance_neuron()
        with m.State("UPD_COUNT_READ"):
            m.d.comb += [self.busy.eq(1), a1.eq(cp)]
            m.next = "UPD_COUNT_WAIT"
        with m.State("UPD_COUNT_WAIT"):
            m.d.comb += self.busy.eq(1)
            m.next = "UPD_COUNT_ADD"
        with m.State("UPD_COUNT_ADD"):
            m.d.comb += self.busy.eq(1)
            m.d.sync += count_sum.eq(r1.as_signed() + o_reg)
            m.next = "UPD_COUNT_WRITE"
        with m.State("UPD_COUNT_WRITE"):
            m.d.comb += [self.busy.eq(1), a1.eq(cp), d1.eq(count_sum), w1.eq(1)]
            advance_neuron()
        with m.State("UPD_DONE"):
            m.d.comb += self.busy.eq(1)
            m.d.sync += [tr_valid.eq(1), tr_done.eq(1), tr_index.eq(0), tr_coef.eq(0)]
            with m.If(is_last):
                # The step's decision (early exit, or the answer after the last step).
                m.d.sync += [ac.eq(0), cls.eq(0), cp.eq(counts_base)]
                m.next = "ARGMAX"
            with m.Else():
                set_layer(li + 1)
                m.next = "SCAT_PRIME"
        s.__dict__.update(diff=diff, is_neg=is_neg, l=l, o=o)

    def _scatter_states(self, m, s):
        """Phase states SCAT_*: every non-zero input spike into the layer's accumulators."""
        S_last, c_cout, c_cout1 = s.S_last, s.c_cout, s.c_cout1
        c_hin, c_hout, c_hwout = s.c_hin, s.c_hout, s.c_hwout
        c_kh, c_kw, c_win = s.c_kh, s.c_kw, s.c_win
        c_wout, c_wstep, drained = s.c_wout, s.c_wstep, s.drained
        iss_a, iss_v, iss_w = s.iss_a, s.iss_v, s.iss_w
        iss_x, room, s_a = s.iss_x, s.room, s.s_a
        s_arow, s_ayx, s_ci = s.s_arow, s.s_ayx, s.s_ci
        s_co, s_ix, s_iy = s.s_co, s.s_ix, s.s_iy
        s_iyW, s_j, s_kx = s.s_iyW, s.s_j, s.s_kx
        s_ky, s_ox, s_oy = s.s_ky, s.s_ox, s.s_oy
        s_val, s_w, s_wci = s.s_val, s.s_w, s.s_wci
        sm_rd, sm_wr, start_scatter = s.sm_rd, s.sm_wr, s.start_scatter
        start_update, x_base = s.start_update, s.x_base
        # ---- scatter: every non-zero input spike into the layer's accumulators ----------
        with m.State("SCAT_PRIME"):
            m.d.comb += [self.busy.eq(1), sm_rd.addr.eq(0)]
            start_scatter()
            m.next = "SCAT_SCAN"
        with m.State("SCAT_SCAN"):
            # sm_rd.data is the spike-map entry s_j.
            m.d.comb += self.busy.eq(1)
            val = sm_rd.data
            with m.If(val != 0):
                m.d.comb += [sm_wr.addr.eq(s_j), sm_wr.data.eq(0), sm_wr.en.eq(1),
                             sm_rd.addr.eq(s_j)]
                base = Signal(ADDR_BITS)
                m.d.comb += base.eq(x_base + s_iyW + s_ix)
                m.d.sync += [s_val.eq(val), s_ky.eq(0), s_kx.eq(0), s_co.eq(0),
                             s_oy.eq(s_iy), s_ox.eq(s_ix), s_arow.eq(base),
                             s_ayx.eq(base), s_a.eq(base), s_w.eq(s_wci)]
                m.next = "SCAT_EVENT"
            with m.Elif(s_j == S_last):
                m.next = "SCAT_DRAIN"
            with m.Else():
                m.d.comb += sm_rd.addr.eq(s_j + 1)
                self._advance_scan(m, s_j, s_ix, s_iy, s_ci, s_iyW, s_wci, c_win, c_hin,
                                   c_wout, c_wstep)
        with m.State("SCAT_EVENT"):
            m.d.comb += [self.busy.eq(1), sm_rd.addr.eq(s_j)]
            inside = Signal()
            m.d.comb += inside.eq((s_oy >= 0) & (s_oy < c_hout) & (s_ox >= 0)
                                  & (s_ox < c_wout))
            go_next = Signal()
            with m.If(~inside):
                m.d.sync += s_w.eq(s_w + c_cout1)
                m.d.comb += go_next.eq(1)
            with m.Elif(room):
                m.d.sync += [iss_v.eq(1), iss_w.eq(s_w), iss_x.eq(s_val), iss_a.eq(s_a)]
                m.d.sync += [s_w.eq(s_w + 1), s_co.eq(s_co + 1), s_a.eq(s_a + c_hwout)]
                with m.If(s_co == c_cout):
                    m.d.sync += s_co.eq(0)
                    m.d.comb += go_next.eq(1)
            with m.If(go_next):
                with m.If(s_kx == c_kw):
                    m.d.sync += [s_kx.eq(0), s_ox.eq(s_ix)]
                    with m.If(s_ky == c_kh):
                        m.next = "SCAT_NEXT"
                    with m.Else():
                        m.d.sync += [s_ky.eq(s_ky + 1), s_oy.eq(s_oy - 1),
                                     s_arow.eq(s_arow - c_wout), s_ayx.eq(s_arow - c_wout),
                                     s_a.eq(s_arow - c_wout)]
                with m.Else():
                    m.d.sync += [s_kx.eq(s_kx + 1), s_ox.eq(s_ox - 1),
                                 s_ayx.eq(s_ayx - 1), s_a.eq(s_ayx - 1)]
        with m.State("SCAT_NEXT"):
            m.d.comb += self.busy.eq(1)
            with m.If(s_j == S_last):
                m.next = "SCAT_DRAIN"
            with m.Else():
                m.d.comb += sm_rd.addr.eq(s_j + 1)
                self._advance_scan(m, s_j, s_ix, s_iy, s_ci, s_iyW, s_wci, c_win, c_hin,
                                   c_wout, c_wstep)
                m.next = "SCAT_SCAN"
        with m.State("SCAT_DRAIN"):
            m.d.comb += self.busy.eq(1)
            with m.If(drained):
                start_update()
                m.next = "UPD_READ"
        s.__dict__.update(base=base, go_next=go_next, inside=inside, val=val)

    def _answer_states(self, m, s):
        """Phase states ARGMAX .. ANSWER_SHOW: the decision and the answer words."""
        C, a1, ac = s.C, s.a1, s.ac
        second, has2 = s.second, s.has2
        ap1, best, cand = s.ap1, s.best, s.cand
        cls, counting, counts_base = s.cls, s.counting, s.counts_base
        cp, cycles, events = s.cp, s.cycles, s.events
        outw, p, r1 = s.outw, s.p, s.r1
        set_layer, word = s.set_layer, s.word
        # ---- decision and answer ------------------------------------------------------
        with m.State("ARGMAX"):
            # After every step: read counts[ac] (port 1); compare the one read the cycle
            # before. The leader is the lowest index of the largest count (ties keep the
            # lower index), the runner-up the largest of the other counts.
            m.d.comb += [self.busy.eq(1), a1.eq(cp)]
            m.d.sync += [ac.eq(ac + 1), cp.eq(cp + 1)]
            m.d.sync += cand.eq(r1)                 # r1 is counts[ac - 2]
            with m.If(ac >= 3):                      # cand is counts[ac - 3]
                with m.If(ac == 3):
                    m.d.sync += [best.eq(cand), cls.eq(0), has2.eq(0)]
                with m.Elif(cand > best):
                    m.d.sync += [best.eq(cand), cls.eq(ac - 3), second.eq(best), has2.eq(1)]
                with m.Elif(~has2 | (cand > second)):
                    m.d.sync += [second.eq(cand), has2.eq(1)]
            with m.If(ac == C + 2):
                m.next = "DECIDE"
        with m.State("DECIDE"):
            # docs/golden-model.md "Early exit": stop after step t + 1 when the margin is
            # not 0, t + 1 >= t_min and leader - runner-up >= margin (a tie never stops);
            # otherwise run to T.
            m.d.comb += self.busy.eq(1)
            margin, t_min = s.rule[:T_BITS], s.rule[T_BITS:]
            lead = Signal(signed(WORD_BITS + 2))
            m.d.comb += lead.eq(best - second)
            decided = Signal()
            m.d.comb += decided.eq((margin != 0) & (s.t + 1 >= t_min)
                                   & (~has2 | (lead >= margin)))
            with m.If(s.last_step | decided):
                m.d.sync += [word.eq(0), ap1.eq(counts_base)]
                m.next = "ANSWER"
            with m.Else():
                m.d.sync += s.t.eq(s.t + 1)
                set_layer(0)
                s.start_update(0)
                m.next = "UPD_READ"
        with m.State("ANSWER"):
            # Word w: the class, counts[w-1] (read from the bank: two cycles), the events,
            # the cycles. ``o.valid`` drops between words while a count is fetched.
            words = Array([Const(0, WORD_BITS)] + [Const(0, WORD_BITS)] * C
                          + events + [s.t + 1, cycles])
            m.d.comb += self.busy.eq(1)
            with m.If(word == 0):
                m.d.sync += [outw.eq(cls), counting.eq(0)]
                m.next = "ANSWER_SHOW"
            with m.Elif(word <= C):
                m.d.comb += a1.eq(ap1)
                m.next = "ANSWER_WAIT"
            with m.Else():
                m.d.sync += outw.eq(words[word])
                m.next = "ANSWER_SHOW"
        with m.State("ANSWER_WAIT"):
            m.d.comb += [self.busy.eq(1), a1.eq(ap1)]
            m.next = "ANSWER_LATCH"
        with m.State("ANSWER_LATCH"):
            m.d.comb += self.busy.eq(1)
            m.d.sync += outw.eq(r1)
            m.next = "ANSWER_SHOW"
        with m.State("ANSWER_SHOW"):
            m.d.comb += [self.busy.eq(1), self.o.valid.eq(1), self.o.payload.data.eq(outw),
                         self.o.payload.last.eq(word == p.result_words - 1)]
            with m.If(self.o.ready):
                m.d.sync += word.eq(word + 1)
                with m.If(word != 0):
                    m.d.sync += ap1.eq(ap1 + 1)
                with m.If(word == p.result_words - 1):
                    set_layer(0)
                    m.next = "IDLE"
                with m.Else():
                    m.next = "ANSWER"
        s.__dict__.update(words=words)

    def _rmw(self, m, s):
        """The synop FIFO and the accumulator read-modify-write (scatter)."""
        a1, aC, c_a = s.a1, s.aC, s.c_a
        c_a2, c_a3, c_idle = s.c_a2, s.c_a3, s.c_idle
        c_prod, c_prod2, c_prod3 = s.c_prod, s.c_prod2, s.c_prod3
        c_sum, c_sum2, c_sum3 = s.c_sum, s.c_sum2, s.c_sum3
        d1, prod, r1 = s.d1, s.prod, s.r1
        sfifo, use_pixel, vC = s.sfifo, s.use_pixel, s.vC
        w1 = s.w1
        # ---- synop FIFO and the accumulator read-modify-write (scatter) -------------------
        m.d.comb += [sfifo.w_data.eq(Cat(aC, prod)), sfifo.w_en.eq(vC & ~use_pixel)]
        head_a = sfifo.r_data[:ADDR_BITS]
        head_p = sfifo.r_data[ADDR_BITS:].as_signed()
        # Read-modify-write on the single-port bank (rows arrive two cycles after the read)
        # in batches of up to three: R(k) R(k+1) R(k+2) W(k) W(k+1) W(k+2), each sum
        # registered before it is written: three synops in six cycles. Any three consecutive
        # synops have different rows (>= 3 output channels, checked by the plan), so reading
        # k+1 and k+2 before k is written is safe.
        c_n = Signal(2)                        # synops in this batch
        with m.FSM(name="rmw") as rmw:
            with m.State("READ"):
                with m.If(sfifo.r_rdy):
                    m.d.comb += [a1.eq(head_a), sfifo.r_en.eq(1)]
                    m.d.sync += [c_a.eq(head_a), c_prod.eq(head_p), c_n.eq(1)]
                    m.next = "READ2"
            with m.State("READ2"):
                with m.If(sfifo.r_rdy):
                    m.d.comb += [a1.eq(head_a), sfifo.r_en.eq(1)]
                    m.d.sync += [c_a2.eq(head_a), c_prod2.eq(head_p), c_n.eq(2)]
                m.next = "READ3"
            with m.State("READ3"):
                m.d.sync += c_sum.eq(r1.as_signed() + c_prod)           # row k arrives
                with m.If(sfifo.r_rdy & (c_n == 2)):
                    m.d.comb += [a1.eq(head_a), sfifo.r_en.eq(1)]
                    m.d.sync += [c_a3.eq(head_a), c_prod3.eq(head_p), c_n.eq(3)]
                m.next = "WRITE"
            with m.State("WRITE"):
                m.d.comb += [a1.eq(c_a), d1.eq(c_sum), w1.eq(1)]
                m.d.sync += c_sum2.eq(r1.as_signed() + c_prod2)         # row k+1 arrives
                with m.If(c_n == 1):
                    m.next = "READ"
                with m.Else():
                    m.next = "WRITE2"
            with m.State("WRITE2"):
                m.d.comb += [a1.eq(c_a2), d1.eq(c_sum2), w1.eq(1)]
                m.d.sync += c_sum3.eq(r1.as_signed() + c_prod3)         # row k+2 arrives
                with m.If(c_n == 2):
                    m.next = "READ"
                with m.Else():
                    m.next = "WRITE3"
            with m.State("WRITE3"):
                m.d.comb += [a1.eq(c_a3), d1.eq(c_sum3), w1.eq(1)]
                m.next = "READ"
        m.d.comb += c_idle.eq(rmw.ongoing("READ"))
        s.__dict__.update(c_n=c_n, head_a=head_a, head_p=head_p, rmw=rmw)


    @staticmethod
    def _advance_scan(m, s_j, s_ix, s_iy, s_ci, s_iyW, s_wci, c_win, c_hin, c_wout, c_wstep):
        m.d.sync += s_j.eq(s_j + 1)
        with m.If(s_ix == c_win):
            m.d.sync += s_ix.eq(0)
            with m.If(s_iy == c_hin):
                m.d.sync += [s_iy.eq(0), s_iyW.eq(0), s_ci.eq(s_ci + 1),
                             s_wci.eq(s_wci + c_wstep)]
            with m.Else():
                m.d.sync += [s_iy.eq(s_iy + 1), s_iyW.eq(s_iyW + c_wout)]
        with m.Else():
            m.d.sync += s_ix.eq(s_ix + 1)
