# amaranth: UnusedElaboratable=no
"""FanOut: an input event as its synaptic updates, ``lanes`` per cycle (lane accelerator)."""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from augsnn.golden.checks import unsigned_bits

from ..dsp import registered_product
from ..emit import COPY_ATTR
from ..neuron_core import Op
from ..rom import banked_rom
from ..skid import Skid
from .layouts import const_mul, core_input_layout, event_layout
from .plan import LayerPlan

__all__ = ["FanOut", "OUT_DEPTH", "OUT_SLICE"]

#: Beats FanOut's output FIFO holds: the credits of its generator (at least the beats in
#: flight between the generator and the FIFO's output, about 10, for one beat per cycle).
OUT_DEPTH = 16

#: Widest slice of FanOut's output FIFO (bits; 18 LUT-RAM cells of 16 x 4).
OUT_SLICE = 72


def _tap_range(pos, size: int, out: int, k: int, p: int):
    """Valid taps ``d``: ``0 <= pos - d < out`` for a position ``pos`` (padding ``p`` included)
    of an input of ``size``. A bound that can never bind (padding ``>= k - 1``, or a 1x1
    kernel) is left out rather than compared constantly."""
    lo = Mux(pos > out - 1, pos - (out - 1), 0) if size - 1 + p > out - 1 else 0
    hi = Mux(pos < k - 1, pos, k - 1) if p < k - 1 else k - 1
    return lo, hi

class FanOut(wiring.Component):
    """Turn the input events of a weighted layer into NeuronCore commands.

    An event ``(c, y, x, coef)`` becomes one ``INTEGRATE`` beat per (output position it feeds,
    group of ``lanes`` output channels): ``current[k] = weight_word[k] * coef``. Conv: the
    positions ``(y + p - dy, x + p - dx)`` (``p`` the zero padding) for the valid ``dy, dx < k``
    only (the ranges are computed when the event is decoded, so no cycle is spent on an
    invalid tap); dense: every group.

    With ``taps = P > 1`` (conv): one beat per (valid ``dy``, column block ``b`` the event
    touches, group ``g``) updates the ``P`` output columns ``b*P + j`` of the block at once:
    lane ``j*lanes + k'`` gets ``W[g*lanes + k', c, dy, x + p - (b*P + j)] * coef`` where that
    tap is valid, else 0. The weight memory is held ``P`` times, copy ``j`` read at column
    ``j``'s ``dx`` (layout: docs/accelerator.md, "Neuron layouts and memory map").
    A ``done`` event becomes a ``FIRE`` beat; a pulse on ``clear`` a ``CLEAR`` beat.

    Throughput: one beat per cycle, back to back across events (the next event is decoded
    while the current one is expanded). Latency: event FIFO (2), decode (3), generator (1),
    weight memory (2: :func:`~augsnn.hw.rom.banked_rom`), weight register (1), multiplier
    input registers (2), multiply (1), product register (1), output FIFO (:data:`OUT_DEPTH`
    beats; 1-2). Back-pressure: the generator issues a beat only with a credit (a place in
    the output FIFO), so the datapath after it never stalls.

    Members
    -------
    i : In(stream(event))
    o : Out(stream(core input))
    clear : In(1)
        A ``CLEAR`` beat (absent with ``clearable=False``: the first layer's FanOut).
    busy : Out(1)
        Registered: the unit held a beat, or one was offered (or ``clear``), the cycle before.
    """

    def __init__(self, lp: LayerPlan, *, rom_backend: str = "readmemh",
                 init_file: str = "rom.hex", hard_mult: str | None = None,
                 clearable: bool = True):
        self._lp = lp
        self._hard_mult = hard_mult
        self._clearable = clearable
        self._rom_backend = rom_backend
        self._init_file = init_file
        super().__init__({
            "i": In(stream.Signature(event_layout(lp.grid, lp.in_bits))),
            "o": Out(stream.Signature(core_input_layout(lp, lp.product_bits))),
            **({"clear": In(1)} if clearable else {}),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        lp = self._lp
        L, G, k, wb = lp.lanes, lp.groups, lp.k, lp.weight_bits
        P = lp.taps
        C, H, W = lp.grid
        OW = lp.blocks        # output columns per row of the layout (blocks of P columns)
        dense = lp.kind == "dense"
        depth = lp.rom_depth
        abits = unsigned_bits(depth - 1)
        rbits = unsigned_bits(lp.rows - 1)
        kbits = unsigned_bits(k)

        from ..emit import pack_words
        words = pack_words(lp.rom_words(), wb) if self._rom_backend == "memory" else None
        roms = [banked_rom(m, "rom" if P == 1 else f"rom{j}", width=L * wb, depth=depth,
                           words=words, backend=self._rom_backend, init_file=self._init_file)
                for j in range(P)]

        ewidth = self.i.payload.shape().size
        m.submodules.events = efifo = fifo.SyncFIFOBuffered(width=ewidth, depth=4)
        m.d.comb += [efifo.w_data.eq(self.i.payload), efifo.w_en.eq(self.i.valid),
                     self.i.ready.eq(efifo.w_rdy)]
        # Two skid buffers between the event FIFO and the decode: the decode's shift enable
        # (from the generator's state) reaches the FIFO only through a skid's registered
        # ``ready`` (the FIFO's storage, placed across the die, read from the decode's
        # enable in one cycle was the critical path of 8,32,8 at 100 MHz: 84.3-94.6 MHz),
        # and each signal between the two skids starts at a flip-flop.
        eskids = [Skid(ewidth) for _ in range(1)]
        for n, skid in enumerate(eskids):
            m.submodules[f"event_skid{n}"] = skid
        m.d.comb += [eskids[0].i.payload.eq(efifo.r_data), eskids[0].i.valid.eq(efifo.r_rdy),
                     efifo.r_en.eq(eskids[0].i.ready)]
        ev_in = eskids[-1].o
        ev = data.View(self.i.payload.shape(), ev_in.payload)

        # --- Generator state: the beat issued this cycle.
        cur_valid = Signal()
        cur_op = Signal(Op)
        waddr = Signal(abits)
        row = Signal(rbits)
        coef = Signal(signed(lp.in_bits))
        gc = Signal(range(max(2, G)))
        cx = Signal(kbits)
        cy = Signal(kbits)
        nx = Signal(kbits)
        wdy = Signal(abits)
        rdy = Signal(rbits)
        last = (gc == G - 1) & (cx == 0) & (cy == 0)
        # Taps: ``e`` is the dx of column 0 of the current block (column j's is e - j), valid
        # for dxlo <= e - j <= dxhi; e0 its value at the first block of a kernel row.
        ebits = unsigned_bits(k + P)
        e, e0 = Signal(ebits), Signal(ebits)
        cur_dxlo, cur_dxhi = Signal(kbits), Signal(kbits)
        mask = Signal(P)        # (taps only; at P = 1 every tap of a beat is valid)
        if P > 1:
            m.d.comb += mask.eq(Cat((e >= cur_dxlo + j) & (e <= cur_dxhi + j) for j in range(P)))

        # Datapath stages after the generator: R (weight read), then :meth:`_datapath`, then
        # the output FIFO. The generator issues a beat only with a credit (a place in the
        # FIFO kept for it), so nothing after the generator ever stalls: a stall signal from
        # the core, fanned out to every register of the datapath, was the critical path at
        # 67 MHz (ECP5-85F, 32 lanes). ``en``: the generator may issue this cycle.
        r_valid = Signal()
        r_op = Signal(Op)
        r_row = Signal(rbits)
        r_coef = Signal(signed(lp.in_bits))
        # The output FIFO is cut into slices of at most OUT_SLICE bits, written and read in
        # lockstep, each written from its own copy of the valid bit: one 560-bit FIFO's write
        # enable reaching 140 LUT-RAM cells across the die was the critical path at 84.7 MHz.
        width = self.o.payload.shape().size
        ofifos = []
        for n, lo in enumerate(range(0, width, OUT_SLICE)):
            f = fifo.SyncFIFOBuffered(width=min(OUT_SLICE, width - lo), depth=OUT_DEPTH)
            m.submodules["out" if width <= OUT_SLICE else f"out{n}"] = f
            m.d.comb += f.r_en.eq(self.o.ready)
            ofifos.append((lo, f))
        ofifo = ofifos[0][1]      # the head: every slice has its level, r_rdy and w_rdy
        credits = Signal(range(OUT_DEPTH + 1), init=OUT_DEPTH)
        # ``en`` (credits != 0) from a register loaded with the next count's test: the
        # comparison in front of the decode's shift enable and the skid's ready was the first
        # LUT of the critical path of 8,32,8 at 100 MHz (96.5 MHz: FanOut 2's credits -> en ->
        # take -> the event skid's output valid, two 3.4 ns routes).
        credits_next = Signal.like(credits)
        en = Signal(init=1)
        m.d.comb += credits_next.eq(credits - (en & cur_valid) + (ofifo.r_rdy & self.o.ready))
        m.d.sync += [credits.eq(credits_next), en.eq(credits_next != 0)]
        m.d.comb += [self.o.valid.eq(ofifo.r_rdy),
                     self.o.payload.eq(Cat(f.r_data for _, f in ofifos))]

        # --- Decode: three stages into ``nxt``, shifting while ``nxt`` is free. Each stage does
        # one add or one multiplication by a constant (as shifts and adds: a hard multiplier
        # between two adds in one cycle was the critical path at 80 MHz on the ECP5).
        nxt_valid = Signal()
        nxt_done = Signal()
        nxt_coef = Signal(signed(lp.in_bits))
        nxt_waddr = Signal(abits)
        nxt_row = Signal(rbits)
        nxt_nx = Signal(kbits)
        nxt_ny = Signal(kbits)
        nxt_e0 = Signal(ebits)
        nxt_dxlo, nxt_dxhi = Signal(kbits), Signal(kbits)
        clear_pending = Signal()
        free = ~cur_valid | last
        take = en & free & nxt_valid & ~clear_pending
        den = ~nxt_valid | take

        # Valid, done and coefficient of d1 .. d3.
        dv = [Signal(name=f"d{n}_valid") for n in (1, 2, 3)]
        dd = [Signal(name=f"d{n}_done") for n in (1, 2, 3)]
        dc = [Signal(signed(lp.in_bits), name=f"d{n}_coef") for n in (1, 2, 3)]
        m.d.comb += ev_in.ready.eq(den)
        with m.If(den):
            m.d.sync += [dv[0].eq(ev_in.valid), dd[0].eq(ev.done), dc[0].eq(ev.coef)]
            m.d.sync += [dv[n].eq(dv[n - 1]) for n in (1, 2)]
            m.d.sync += [dd[n].eq(dd[n - 1]) for n in (1, 2)]
            m.d.sync += [dc[n].eq(dc[n - 1]) for n in (1, 2)]
            m.d.sync += [nxt_valid.eq(dv[2]), nxt_done.eq(dd[2]), nxt_coef.eq(dc[2])]
        if dense:
            # j = (c*H + y)*W + x (flatten order); word = j*G + g.
            d1_cm, d1_ym = Signal(abits), Signal(abits)
            d1_x = Signal(len(ev.x))
            d2_j = Signal(abits)
            d3_w = Signal(abits)
            with m.If(den):
                m.d.sync += [d1_cm.eq(const_mul(ev.c, H * W)), d1_ym.eq(const_mul(ev.y, W)),
                             d1_x.eq(ev.x),
                             d2_j.eq(d1_cm + d1_ym + d1_x),
                             d3_w.eq(const_mul(d2_j, G)),
                             nxt_waddr.eq(d3_w), nxt_row.eq(0), nxt_nx.eq(0), nxt_ny.eq(0)]
        elif P > 1:
            self._decode_taps(m, ev, den, abits, rbits, kbits, ebits, nxt_waddr, nxt_row,
                              nxt_nx, nxt_ny, nxt_e0, nxt_dxlo, nxt_dxhi)
        else:
            self._decode_conv(m, ev, den, abits, rbits, kbits, nxt_waddr, nxt_row, nxt_nx,
                              nxt_ny)

        clear = self.clear if self._clearable else Const(0, 1)
        with m.If(clear):
            m.d.sync += clear_pending.eq(1)

        # --- Generator.
        for j, r in enumerate(roms):
            # Column j reads its dx (one word lower per column); an invalid tap reads word 0.
            addr = waddr if j == 0 else (waddr - j * G)[:abits]
            m.d.comb += r.addr.eq(Mux(mask[j], addr, 0) if P > 1 else addr)
        r_mask = Signal(P) if P > 1 else None     # (taps only)
        m.d.sync += [r_valid.eq(cur_valid & en), r_op.eq(cur_op), r_row.eq(row),
                     r_coef.eq(Mux(cur_op == Op.INTEGRATE, coef, 0))]
        if P > 1:
            m.d.sync += r_mask.eq(mask)
        with m.If(en):
            with m.If(cur_valid & ~last):
                with m.If(gc != G - 1):
                    m.d.sync += [gc.eq(gc + 1), waddr.eq(waddr + 1), row.eq(row + 1)]
                with m.Elif(cx != 0):
                    # The next dx (taps: the next block to the left, dx + P).
                    m.d.sync += [gc.eq(0), cx.eq(cx - 1), waddr.eq(waddr + ((P - 1) * G + 1)),
                                 row.eq(row - (2 * G - 1))]
                    if P > 1:
                        m.d.sync += e.eq(e + P)
                with m.Else():
                    m.d.sync += [gc.eq(0), cx.eq(nx), cy.eq(cy - 1),
                                 wdy.eq(wdy + k * G), waddr.eq(wdy + k * G),
                                 rdy.eq(rdy - OW * G), row.eq(rdy - OW * G)]
                    if P > 1:
                        m.d.sync += e.eq(e0)
            with m.If(free):
                m.d.sync += cur_valid.eq(0)
                with m.If(clear_pending):
                    m.d.sync += [cur_valid.eq(1), cur_op.eq(Op.CLEAR), gc.eq(G - 1), cx.eq(0),
                                 cy.eq(0), clear_pending.eq(0), row.eq(0)]
                with m.Elif(nxt_valid):
                    m.d.sync += [cur_valid.eq(1), coef.eq(nxt_coef), waddr.eq(nxt_waddr),
                                 wdy.eq(nxt_waddr), row.eq(nxt_row), rdy.eq(nxt_row),
                                 nx.eq(nxt_nx)]
                    if P > 1:
                        m.d.sync += [e.eq(nxt_e0), e0.eq(nxt_e0), cur_dxlo.eq(nxt_dxlo),
                                     cur_dxhi.eq(nxt_dxhi)]
                    with m.If(nxt_done):
                        m.d.sync += [cur_op.eq(Op.FIRE), gc.eq(G - 1), cx.eq(0), cy.eq(0),
                                     row.eq(0)]
                    with m.Else():
                        m.d.sync += [cur_op.eq(Op.INTEGRATE), gc.eq(0), cx.eq(nxt_nx),
                                     cy.eq(nxt_ny)]

        stages = self._datapath(m, roms, r_valid, r_op, r_row, r_coef, r_mask, ofifos)
        # ``busy`` from a register (the loader's handover waits on it across the die): the
        # unit held a beat, or one was offered to it, the cycle before.
        m.d.sync += self.busy.eq((efifo.level != 0)
                                 | Cat(s.o.valid | ~s.i.ready for s in eskids).any()
                                 | Cat(dv).any() | nxt_valid
                                 | cur_valid | r_valid | Cat(stages).any() | (ofifo.level != 0)
                                 | clear_pending | self.i.valid | clear)
        return m

    def _datapath(self, m, roms, r_valid, r_op, r_row, r_coef, r_mask, ofifos):
        """The stages after the weight read (R): Q (the ROM's bank registers), W (weight
        register), V and U (multiplier input registers), X (multiply), M (product register) -> the
        output FIFO's slices ``ofifos`` (``(first bit, FIFO)``). No stage stalls (the
        generator holds the credits). Returns the valid bits of Q .. M."""
        lp = self._lp
        L, wb, P = lp.lanes, lp.weight_bits, lp.taps

        def stage(name, valid, op, row, coef=None):
            """One more register of the beat's valid, op, row (and coefficient)."""
            out = (Signal(name=f"{name}_valid"), Signal(Op, name=f"{name}_op"),
                   Signal(len(row), name=f"{name}_row"))
            m.d.sync += [out[0].eq(valid), out[1].eq(op), out[2].eq(row)]
            if coef is None:
                return out
            c = Signal.like(coef, name=f"{name}_coef")
            m.d.sync += c.eq(coef)
            return out + (c,)

        # --- R -> Q: the ROM registers each bank's word (a block RAM's slow output straight
        # into the bank multiplexer was the critical path at 75 MHz on the ECP5-85F).
        q_valid, q_op, q_row, q_coef = stage("q", r_valid, r_op, r_row, r_coef)
        q_mask = Signal(P) if P > 1 else None
        if P > 1:
            m.d.sync += q_mask.eq(r_mask)

        # --- Q -> W: register the weight word after the bank multiplexer (block RAM output
        # straight into a multiplier was the critical path: 57 MHz on the ECP5-85F).
        w_valid, w_op, w_row, w_coef = stage("w", q_valid, q_op, q_row, q_coef)
        w_words = [Signal(L * wb, name="w_word" if P == 1 else f"w_word{j}", reset_less=True)
                   for j in range(P)]
        for j, r in enumerate(roms):
            # An invalid tap's weight is zero (taps only; at P = 1 every tap is valid).
            m.d.sync += w_words[j].eq(r.data if P == 1 else Mux(q_mask[j], r.data, 0))

        # --- W -> V: the multipliers' input registers; V -> X: multiply each lane's weight by
        # the coefficient; X -> M: register again. The hard multipliers sit in rows of their
        # own, far from the memories and the cores: with the registers on either side placed
        # near a memory or a core, register -> multiplier -> register was the critical path
        # at 72 MHz (ECP5-85F, 32 lanes). The V and X registers have nothing else to be near,
        # and every multiplier has its own copy of the coefficient (one register driving 32
        # multipliers across the die was the next path). Yosys would merge the copies (same
        # input): ``augsnn build`` marks the flip-flops of wires with the ``augsnn_copy``
        # attribute ``keep`` (boards/build.py).
        v_valid, v_op, v_row = stage("v", w_valid, w_op, w_row)
        v_words = [Signal(L * wb, name="v_word" if P == 1 else f"v_word{j}", reset_less=True)
                   for j in range(P)]
        v_coefs = [Signal.like(w_coef, name=f"v_coef{n}", reset_less=True,
                               attrs={COPY_ATTR: 1}) for n in range(P * L)]
        m.d.sync += [v.eq(w) for v, w in zip(v_words, w_words)]
        m.d.sync += [c.eq(w_coef) for c in v_coefs]
        # V -> U -> X: each lane's product through :func:`~augsnn.hw.dsp.registered_product`,
        # which registers the operands (U) and the product (X): in the fabric, or (the ECP5
        # board build, ``hard_mult="ecp5"``) in the MULT18X18D itself, so that no route runs
        # between a register and the multiplier (V copy -> multiplier -> product register,
        # about 3.5 ns of routing each way around a 3.9 ns multiply, held FanOut 1 near
        # 100 MHz placed alone and below it in the whole design).
        u_valid, u_op, u_row = stage("u", v_valid, v_op, v_row)
        x_valid, x_op, x_row = stage("x", u_valid, u_op, u_row)
        # The wide data registers have no reset (their valid bits do): ``abort`` and the
        # power-on reset reach far fewer flip-flops.
        x_prod = Signal.like(self.o.payload.current, reset_less=True)
        for j in range(P):
            for lane in range(L):
                n = j * L + lane
                w = v_words[j][lane * wb:(lane + 1) * wb].as_signed()
                registered_product(m, w, v_coefs[n], x_prod[n], hard=self._hard_mult,
                                   name=f"mul{n}", attrs={COPY_ATTR: 1})
        m_beat = Signal(self.o.payload.shape(), reset_less=True)
        m.d.sync += [m_beat.op.eq(x_op), m_beat.row.eq(x_row), m_beat.current.eq(x_prod)]
        valids = []
        for n, (lo, f) in enumerate(ofifos):
            # One copy of the valid bit per slice (kept apart in the board build).
            v = Signal(name=f"m_valid{n}", attrs={COPY_ATTR: 1} if len(ofifos) > 1 else {})
            m.d.sync += v.eq(x_valid)
            m.d.comb += [f.w_en.eq(v), f.w_data.eq(m_beat.as_value()[lo:lo + len(f.w_data)])]
            valids.append(v)
        return [q_valid, w_valid, v_valid, u_valid, x_valid, valids[0]]

    def _decode_conv(self, m, ev, den, abits, rbits, kbits, nxt_waddr, nxt_row, nxt_nx, nxt_ny):
        """The conv decode (``taps = 1``): three stages into the ``nxt_*`` registers."""
        lp = self._lp
        G, k = lp.groups, lp.k
        C, H, W = lp.grid
        OW = lp.out_w
        OH = lp.out_h
        d1_dylo, d1_dxlo = Signal(kbits), Signal(kbits)
        d1_ny, d1_nx = Signal(kbits), Signal(kbits)
        d1_y, d1_x = Signal(range(H + lp.padding)), Signal(range(W + lp.padding))
        d1_ct = Signal(abits)
        # Position in the zero-padded input (padding pixels are zero: never events).
        p = lp.padding
        y_in = Signal(range(H + p), name="y_in")
        x_in = Signal(range(W + p), name="x_in")
        m.d.comb += [y_in.eq(ev.y + p), x_in.eq(ev.x + p)]
        dylo, dyhi = _tap_range(y_in, H, OH, k, p)
        dxlo, dxhi = _tap_range(x_in, W, OW, k, p)
        # d2: the first tap's output position (ry, rx) and its weight offsets; d3: the
        # products; nxt: the sums. Weight word = c*k*k*G + dylo*k*G + dxlo*G, first row =
        # ry*OW*G + rx*G.
        d2_ry, d2_rx = Signal(len(d1_y)), Signal(len(d1_x))
        d2_wy, d2_wx, d2_ct = Signal(abits), Signal(abits), Signal(abits)
        d3_rym, d3_rxm = Signal(rbits), Signal(rbits)
        d3_w = Signal(abits)
        d2_nx, d2_ny, d3_nx, d3_ny = (Signal(kbits) for _ in range(4))
        with m.If(den):
            m.d.sync += [
                d1_dylo.eq(dylo), d1_dxlo.eq(dxlo), d1_ny.eq(dyhi - dylo),
                d1_nx.eq(dxhi - dxlo), d1_y.eq(y_in), d1_x.eq(x_in),
                d1_ct.eq(const_mul(ev.c, k * k * G)),
            ]
            m.d.sync += [
                d2_ry.eq(d1_y - d1_dylo), d2_rx.eq(d1_x - d1_dxlo),
                d2_wy.eq(const_mul(d1_dylo, k * G)), d2_wx.eq(const_mul(d1_dxlo, G)),
                d2_ct.eq(d1_ct),
                d2_nx.eq(d1_nx), d2_ny.eq(d1_ny),
            ]
            m.d.sync += [
                d3_rym.eq(const_mul(d2_ry, OW * G)), d3_rxm.eq(const_mul(d2_rx, G)),
                d3_w.eq(d2_ct + d2_wy + d2_wx), d3_nx.eq(d2_nx), d3_ny.eq(d2_ny),
            ]
            m.d.sync += [nxt_waddr.eq(d3_w), nxt_row.eq(d3_rym + d3_rxm),
                         nxt_nx.eq(d3_nx), nxt_ny.eq(d3_ny)]

    def _decode_taps(self, m, ev, den, abits, rbits, kbits, ebits, nxt_waddr, nxt_row,
                     nxt_nx, nxt_ny, nxt_e0, nxt_dxlo, nxt_dxhi):
        """The conv decode with ``taps = P > 1``: three stages into the ``nxt_*`` registers.

        For the valid taps ``dy in [dylo, dyhi]``, ``dx in [dxlo, dxhi]`` the touched output
        columns are ``x_in - dxhi .. x_in - dxlo``, i.e. the blocks ``bl .. bh`` (``>> log2 P``);
        the first beat is block ``bh`` (row ``(ry * OWb + bh) * G``), whose column 0 has
        ``dx = e0 = x_in - bh * P = dxlo + (x_in - dxlo) % P``; its weight word (column 0)
        ``c*k*k*G + dylo*k*G + e0*G``.
        """
        from .layouts import log2
        lp = self._lp
        G, k, P, p = lp.groups, lp.k, lp.taps, lp.padding
        C, H, W = lp.grid
        OH, OW, OWb = lp.out_h, lp.out_w, lp.blocks
        sh = log2(P)
        y_in = Signal(range(H + p), name="y_in")
        x_in = Signal(range(W + p), name="x_in")
        m.d.comb += [y_in.eq(ev.y + p), x_in.eq(ev.x + p)]
        dylo, dyhi = _tap_range(y_in, H, OH, k, p)
        dxlo, dxhi = _tap_range(x_in, W, OW, k, p)
        d1_dylo, d1_dxlo, d1_dxhi, d1_ny = (Signal(kbits) for _ in range(4))
        d1_y, d1_x = Signal(range(H + p)), Signal(range(W + p))
        d1_ct = Signal(abits)
        d2_ry = Signal(len(d1_y))
        d2_oxh, d2_oxl = Signal(len(d1_x)), Signal(len(d1_x))
        d2_wy, d2_ct = Signal(abits), Signal(abits)
        d2_e0 = Signal(ebits)
        d2_ny, d2_dxlo, d2_dxhi = (Signal(kbits) for _ in range(3))
        d3_rym, d3_rbm = Signal(rbits), Signal(rbits)
        d3_w, d3_ew = Signal(abits), Signal(abits)
        d3_nb = Signal(kbits)
        d3_e0 = Signal(ebits)
        d3_ny, d3_dxlo, d3_dxhi = (Signal(kbits) for _ in range(3))
        with m.If(den):
            m.d.sync += [
                d1_dylo.eq(dylo), d1_dxlo.eq(dxlo), d1_dxhi.eq(dxhi), d1_ny.eq(dyhi - dylo),
                d1_y.eq(y_in), d1_x.eq(x_in), d1_ct.eq(const_mul(ev.c, k * k * G)),
            ]
            m.d.sync += [
                d2_ry.eq(d1_y - d1_dylo), d2_oxh.eq(d1_x - d1_dxlo), d2_oxl.eq(d1_x - d1_dxhi),
                d2_wy.eq(const_mul(d1_dylo, k * G)), d2_ct.eq(d1_ct),
                d2_e0.eq((d1_x - d1_dxlo)[:sh] + d1_dxlo),
                d2_ny.eq(d1_ny), d2_dxlo.eq(d1_dxlo), d2_dxhi.eq(d1_dxhi),
            ]
            m.d.sync += [
                d3_rym.eq(const_mul(d2_ry, OWb * G)), d3_rbm.eq(const_mul(d2_oxh >> sh, G)),
                d3_w.eq(d2_ct + d2_wy), d3_ew.eq(const_mul(d2_e0, G)),
                d3_nb.eq((d2_oxh >> sh) - (d2_oxl >> sh)), d3_e0.eq(d2_e0),
                d3_ny.eq(d2_ny), d3_dxlo.eq(d2_dxlo), d3_dxhi.eq(d2_dxhi),
            ]
            m.d.sync += [nxt_waddr.eq(d3_w + d3_ew), nxt_row.eq(d3_rym + d3_rbm),
                         nxt_nx.eq(d3_nb), nxt_ny.eq(d3_ny), nxt_e0.eq(d3_e0),
                         nxt_dxlo.eq(d3_dxlo), nxt_dxhi.eq(d3_dxhi)]
