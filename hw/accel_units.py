# amaranth: UnusedElaboratable=no
"""Building blocks of the whole-network accelerator (:mod:`augsnn.hw.accelerator`).

Layer: ``hw`` (Amaranth). Each block is a ``wiring.Component`` with ``amaranth.lib.stream``
ports; the neuron arithmetic lives only in :class:`~augsnn.hw.neuron_core.NeuronCore`. The
data flow of one layer ``l`` (layout conventions: :mod:`augsnn.hw.accel_plan`)::

    core[l-1].o -> ProducerWalk -> EventSerializer -> FanOut[l] -> core[l].i
    pixels ------------------------------------------> FanOut[0] -> FirstLayer -> core[0].i

* :class:`ProducerWalk` turns the spike beats of the layer before (row, ``lanes``
  coefficients) into beats with coordinates ``(g, y, x)``; with sum-pooling it adds the
  coefficients of each pooling window in a small double-buffered memory and emits only the
  non-zero pooled values.
* :class:`EventSerializer` emits the non-zero lanes of a beat one event ``(c, y, x, coef)``
  per cycle.
* :class:`FanOut` turns an event into its synaptic updates: ``lanes`` updates (one weight word
  times the coefficient) per cycle, ``ceil(out_channels / lanes)`` beats per output position
  the event feeds.
* :class:`FirstLayer` keeps the first layer's input current (pixels times weights, computed
  once per image), and every step integrates it into core 0 (one pass over the rows) and
  fires.

Every block registers its outputs; ready signals reach back at most through one block.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, fifo, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from .accel_mem import Rom
from augsnn.golden.checks import signed_bits, unsigned_bits

from .accel_plan import LayerPlan
from .neuron_core import Op, input_layout, output_layout

__all__ = ["event_layout", "beat_layout", "core_output_layout", "core_input_layout",
           "EventSerializer", "ProducerWalk", "FanOut", "FirstLayer", "popcount"]


def _log2(value: int) -> int:
    return value.bit_length() - 1


def const_mul(x, c: int):
    """``x * c`` for an unsigned ``x`` and a constant ``c >= 0``, as shifts and adds.

    Yosys maps a multiplication by a constant to a hard multiplier on the ECP5, which nextpnr
    may place far from the logic around it; the address arithmetic here is small enough for
    LUTs (at most a few adds).
    """
    terms = [x << i for i in range(c.bit_length()) if (c >> i) & 1]
    if not terms:
        return Const(0)
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total


def event_layout(grid, in_bits: int) -> data.StructLayout:
    """One input event of a layer: channel, row, column of its input grid, coefficient."""
    c, h, w = grid
    return data.StructLayout({
        "c": unsigned(unsigned_bits(c - 1)), "y": unsigned(unsigned_bits(h - 1)),
        "x": unsigned(unsigned_bits(w - 1)),
        "coef": signed(in_bits), "done": unsigned(1)})


def beat_layout(groups: int, h: int, w: int, in_bits: int, lanes: int) -> data.StructLayout:
    """Up to ``lanes`` events of channels ``g*lanes + k`` at one position (or ``done``)."""
    return data.StructLayout({
        "g": unsigned(unsigned_bits(groups - 1)), "y": unsigned(unsigned_bits(h - 1)),
        "x": unsigned(unsigned_bits(w - 1)),
        "coef": data.ArrayLayout(signed(in_bits), lanes), "done": unsigned(1)})


def core_input_layout(lp: LayerPlan, current_bits: int) -> data.StructLayout:
    return input_layout(lanes=lp.lanes, row_bits=unsigned_bits(lp.rows - 1),
                        current_bits=current_bits)


def core_output_layout(lp: LayerPlan) -> data.StructLayout:
    return output_layout(lanes=lp.lanes, index_bits=unsigned_bits(lp.neurons - 1),
                         coef_bits=lp.neuron.coef_bits)


def popcount(m: Module, bits, name: str):
    """Return a signal holding the number of set bits of ``bits`` (combinational)."""
    n = len(bits)
    total = Signal(range(n + 1), name=name)
    m.d.comb += total.eq(sum(bits[k] for k in range(n)))
    return total


class EventSerializer(wiring.Component):
    """Emit the non-zero lanes of each beat as single events, one per cycle, in lane order.

    Channel of lane ``k`` of a beat of group ``g``: ``g * lanes + k``. A ``done`` beat becomes
    one ``done`` event. Throughput: one event per cycle; a beat with ``n`` non-zero lanes
    takes ``n`` cycles (a new beat is taken in the cycle its last event leaves). Output
    registered.
    """

    def __init__(self, *, beat: data.StructLayout, event: data.StructLayout, lanes: int):
        self._lanes = lanes
        super().__init__({"i": In(stream.Signature(beat)), "o": Out(stream.Signature(event))})

    def elaborate(self, platform):
        m = Module()
        L = self._lanes
        hold = Signal(self.i.payload.shape())
        rem = Signal(L)                 # lanes of ``hold`` still to emit
        hold_done = Signal()
        out_free = ~self.o.valid | self.o.ready
        empty = (rem == 0) & ~hold_done
        last_one = (rem & (rem - 1)) == 0
        m.d.comb += self.i.ready.eq(empty | (out_free & ~hold_done & last_one))

        # Lowest remaining lane.
        lane = Signal(range(max(2, L)))
        for k in reversed(range(L)):
            with m.If(rem[k]):
                m.d.comb += lane.eq(k)

        with m.If(out_free):
            m.d.sync += self.o.valid.eq(0)
            with m.If(rem != 0):
                c = Cat(lane[:_log2(L)], hold.g) if L > 1 else hold.g
                m.d.sync += [
                    self.o.valid.eq(1),
                    self.o.payload.c.eq(c),
                    self.o.payload.y.eq(hold.y),
                    self.o.payload.x.eq(hold.x),
                    self.o.payload.coef.eq(
                        hold.coef.as_value().word_select(lane, len(hold.coef[0]))),
                    self.o.payload.done.eq(0),
                    rem.eq(rem & (rem - 1)),
                ]
            with m.Elif(hold_done):
                m.d.sync += [self.o.valid.eq(1), self.o.payload.done.eq(1),
                             self.o.payload.coef.eq(0), hold_done.eq(0)]
        with m.If(self.i.valid & self.i.ready):
            nz = Cat(self.i.payload.coef[k] != 0 for k in range(L))
            m.d.sync += [hold.eq(self.i.payload), rem.eq(nz), hold_done.eq(self.i.payload.done)]
        return m


class ProducerWalk(wiring.Component):
    """Give the spike beats of a layer coordinates; with sum-pooling, merge pooling windows.

    The beats of a NeuronCore ``FIRE`` sweep come in row order and only for rows with a
    spike. The walk steps through every row (one per cycle, paced by the beats), keeping the
    row's coordinates ``(g, oy, ox)`` in counters (no division). Spikes of padding neurons
    are dropped here.

    Without pooling, a row with a spike becomes an output beat ``(g, oy, ox, coef[lanes])``.
    With ``pool = s``, the row's coefficients are added into a buffer entry ``(px, g)`` of the
    current pooled row ``py`` (two pooled rows, double-buffered; the first row of a window
    writes instead of adding, so no clearing is needed); after the last row of a band of
    ``s`` output rows, a flusher reads the band's entries and emits the non-zero pooled
    values ``(g, py, px, coef[lanes])`` while the walk goes on in the other buffer. The ``done``
    beat of the sweep follows the last output beat of the step.

    Members
    -------
    i : In(stream(core output))
    o : Out(stream(beat))
    events : Out
        Non-zero (real) spikes taken in the previous cycle (for the event counters; registered).
    busy : Out(1)
    """

    def __init__(self, lp: LayerPlan, beat: data.StructLayout):
        self._lp = lp
        super().__init__({
            "i": In(stream.Signature(core_output_layout(lp))),
            "o": Out(stream.Signature(beat)),
            "events": Out(range(lp.lanes + 1)),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        lp = self._lp
        L, G, D = lp.lanes, lp.groups, lp.rows
        OH, OW, s = lp.out_h, lp.out_w, lp.pool

        wrow = Signal(range(D + 1))
        g = Signal(range(max(2, G)))
        ox = Signal(range(max(2, OW)))
        oy = Signal(range(max(2, OH)))
        finished = wrow == D

        head = self.i.payload
        hv = self.i.valid
        head_row = head.index >> _log2(L)
        at_row = hv & ~head.done & (head_row == wrow)
        # Padding lanes (only in the last group of a position) are dropped.
        coef = Signal(data.ArrayLayout(signed(lp.neuron.coef_bits), L))
        for k in range(L):
            real = Const(1) if not lp.padded or (G - 1) * L + k < lp.out_channels else (g != G - 1)
            m.d.comb += coef[k].eq(Mux(at_row & real, head.coef[k], 0))
        nz = Cat(coef[k] != 0 for k in range(L))
        n_events = popcount(m, nz, "walk_events")

        advance = Signal()   # the walk leaves the current row this cycle
        # Registered: the counter adds it one cycle later (timing: popcount + 32-bit add).
        m.d.sync += self.events.eq(Mux(advance & at_row, n_events, 0))

        def step_walk():
            m.d.sync += wrow.eq(wrow + 1)
            with m.If(g == G - 1):
                m.d.sync += g.eq(0)
                with m.If(ox == OW - 1):
                    m.d.sync += ox.eq(0)
                    m.d.sync += oy.eq(oy + 1)
                with m.Else():
                    m.d.sync += ox.eq(ox + 1)
            with m.Else():
                m.d.sync += g.eq(g + 1)

        def reset_walk():
            m.d.sync += [wrow.eq(0), g.eq(0), ox.eq(0), oy.eq(0)]

        out_free = ~self.o.valid | self.o.ready
        if s == 1:
            with m.If(out_free):
                m.d.sync += self.o.valid.eq(0)
            with m.If(at_row):
                with m.If(out_free):
                    m.d.comb += [advance.eq(1), self.i.ready.eq(1)]
                    m.d.sync += [
                        self.o.valid.eq(nz.any()),
                        self.o.payload.g.eq(g), self.o.payload.y.eq(oy),
                        self.o.payload.x.eq(ox), self.o.payload.coef.eq(coef),
                        self.o.payload.done.eq(0),
                    ]
                    step_walk()
            with m.Elif(hv & head.done):
                with m.If(out_free):
                    m.d.comb += self.i.ready.eq(1)
                    m.d.sync += [self.o.valid.eq(1), self.o.payload.done.eq(1),
                                 self.o.payload.coef.eq(0)]
                    reset_walk()
            with m.Elif(hv & ~finished):
                m.d.comb += advance.eq(1)
                step_walk()
            m.d.comb += self.busy.eq(self.o.valid | (wrow != 0))
            return m

        # --- Sum-pooling.
        PH, PW = lp.pooled_h, lp.pooled_w
        PWG = PW * G
        pbits = signed_bits(lp.out_max)
        rx = Signal(range(s))
        ry = Signal(range(s))
        px = Signal(range(PW + 1))
        py = Signal(range(PH + 1))
        inside = (px < PW) & (py < PH)
        first = (rx == 0) & (ry == 0)
        band_start = first & (px == 0) & (g == 0)
        band_last = (ry == s - 1) & (rx == s - 1) & (px == PW - 1) & (g == G - 1)
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
        p1_coef = Signal(data.ArrayLayout(signed(lp.neuron.coef_bits), L))
        p1_first = Signal()
        p1_last = Signal()
        p1_b = Signal()
        p1_py = Signal(len(py))
        walk = (at_row | (hv & ~finished)) & ~stall
        m.d.comb += [advance.eq(walk), self.i.ready.eq(walk & at_row)]
        addr = Signal(range(max(2, 2 * PWG)))
        m.d.comb += [addr.eq(b * PWG + px * G + g), rd.addr.eq(addr)]
        m.d.sync += p1_valid.eq(walk & inside)
        with m.If(walk):
            m.d.sync += [p1_addr.eq(addr), p1_coef.eq(coef), p1_first.eq(first),
                         p1_last.eq(band_last), p1_b.eq(b), p1_py.eq(py)]
            step_walk()
            with m.If(g == G - 1):
                with m.If(ox == OW - 1):
                    m.d.sync += [rx.eq(0), px.eq(0)]
                    with m.If(ry == s - 1):
                        m.d.sync += [ry.eq(0), py.eq(py + 1)]
                    with m.Else():
                        m.d.sync += ry.eq(ry + 1)
                with m.Elif(rx == s - 1):
                    m.d.sync += [rx.eq(0), px.eq(px + 1)]
                with m.Else():
                    m.d.sync += rx.eq(rx + 1)

        # P1: the entry arrives (the read was transparent for the write of the same cycle);
        # it goes into a register, not straight into the adder (a block RAM's output is slow:
        # 5.8 ns on the ECP5). P2: add (or write) and, after the band's last entry, queue its
        # flush. The one write P0's read could not see, the previous entry's, is forwarded.
        p2_valid = Signal()
        p2_addr = Signal.like(p1_addr)
        p2_coef = Signal.like(p1_coef)
        p2_first, p2_last, p2_b = Signal(), Signal(), Signal()
        p2_py = Signal(len(py))
        p2_data = Signal.like(rd.data)
        p2_sum = Signal.like(rd.data)
        last_sum = Signal.like(rd.data)
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
        push_done = hv & head.done & finished & ~p1_valid & ~p2_valid & cmds.w_rdy
        with m.If(push_done):
            m.d.comb += self.i.ready.eq(1)
            m.d.sync += [wrow.eq(0), g.eq(0), ox.eq(0), oy.eq(0),
                         rx.eq(0), ry.eq(0), px.eq(0), py.eq(0)]
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
                                 | (cmds.level != 0) | p1_valid | p2_valid | (wrow != 0)
                                 | (busy_b != 0))
        return m


class FanOut(wiring.Component):
    """Turn the input events of a weighted layer into NeuronCore commands.

    An event ``(c, y, x, coef)`` becomes one ``INTEGRATE`` beat per (output position it feeds,
    group of ``lanes`` output channels): ``current[k] = weight_word[k] * coef``. Conv: the
    positions ``(y + p - dy, x + p - dx)`` (``p`` the zero padding) for the valid ``dy, dx < k``
    only (the ranges are computed when the event is decoded, so no cycle is spent on an
    invalid tap); dense: every group.
    A ``done`` event becomes a ``FIRE`` beat; a pulse on ``clear`` a ``CLEAR`` beat.

    Throughput: one beat per cycle, back to back across events (the next event is decoded
    while the current one is expanded). Latency: event FIFO (2), decode (3), generator (1),
    weight memory (1), weight register (1), multiply (1), product register (1). Back-pressure
    on ``o`` stalls the whole datapath.

    Members
    -------
    i : In(stream(event))
    o : Out(stream(core input))
    clear : In(1)
    busy : Out(1)
    """

    def __init__(self, lp: LayerPlan, *, rom_backend: str = "readmemh",
                 init_file: str = "rom.hex"):
        self._lp = lp
        self._rom_backend = rom_backend
        self._init_file = init_file
        super().__init__({
            "i": In(stream.Signature(event_layout(lp.grid, lp.in_bits))),
            "o": Out(stream.Signature(core_input_layout(lp, lp.product_bits))),
            "clear": In(1),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        lp = self._lp
        L, G, k, wb = lp.lanes, lp.groups, lp.k, lp.weight_bits
        C, H, W = lp.grid
        OW = lp.out_w
        dense = lp.kind == "dense"
        depth = lp.rom_depth
        abits = unsigned_bits(depth - 1)
        rbits = unsigned_bits(lp.rows - 1)
        kbits = unsigned_bits(k)

        from .accel_mem import pack_words
        m.submodules.rom = rom = Rom(width=L * wb, depth=depth,
                                     words=pack_words(lp.rom_words(), wb)
                                     if self._rom_backend == "memory" else None,
                                     backend=self._rom_backend, init_file=self._init_file)

        m.submodules.events = efifo = fifo.SyncFIFOBuffered(
            width=self.i.payload.shape().size, depth=4)
        m.d.comb += [efifo.w_data.eq(self.i.payload), efifo.w_en.eq(self.i.valid),
                     self.i.ready.eq(efifo.w_rdy)]
        ev = data.View(self.i.payload.shape(), efifo.r_data)

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

        # Datapath stages after the generator: R (weight read), W (weight register), X
        # (multiply), M (product register) -> o.
        r_valid = Signal()
        r_op = Signal(Op)
        r_row = Signal(rbits)
        r_coef = Signal(signed(lp.in_bits))
        m_valid = Signal()
        m.d.comb += self.o.valid.eq(m_valid)
        en = ~m_valid | self.o.ready

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
        clear_pending = Signal()
        free = ~cur_valid | last
        take = en & free & nxt_valid & ~clear_pending
        den = ~nxt_valid | take

        # Valid, done and coefficient of d1 .. d3.
        dv = [Signal(name=f"d{n}_valid") for n in (1, 2, 3)]
        dd = [Signal(name=f"d{n}_done") for n in (1, 2, 3)]
        dc = [Signal(signed(lp.in_bits), name=f"d{n}_coef") for n in (1, 2, 3)]
        m.d.comb += efifo.r_en.eq(den)
        with m.If(den):
            m.d.sync += [dv[0].eq(efifo.r_rdy), dd[0].eq(ev.done), dc[0].eq(ev.coef)]
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
        else:
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

            def tap_range(pos, size, out):
                # Valid taps d: 0 <= pos - d < out. A bound that can never bind (padding
                # >= k - 1, or a 1x1 kernel) is left out rather than compared constantly.
                lo = Mux(pos > out - 1, pos - (out - 1), 0) if size - 1 + p > out - 1 else 0
                hi = Mux(pos < k - 1, pos, k - 1) if p < k - 1 else k - 1
                return lo, hi

            dylo, dyhi = tap_range(y_in, H, OH)
            dxlo, dxhi = tap_range(x_in, W, OW)
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

        with m.If(self.clear):
            m.d.sync += clear_pending.eq(1)

        # --- Generator.
        m.d.comb += [rom.addr.eq(waddr), rom.en.eq(en)]
        with m.If(en):
            m.d.sync += [r_valid.eq(cur_valid), r_op.eq(cur_op), r_row.eq(row),
                         r_coef.eq(Mux(cur_op == Op.INTEGRATE, coef, 0))]
            with m.If(cur_valid & ~last):
                with m.If(gc != G - 1):
                    m.d.sync += [gc.eq(gc + 1), waddr.eq(waddr + 1), row.eq(row + 1)]
                with m.Elif(cx != 0):
                    m.d.sync += [gc.eq(0), cx.eq(cx - 1), waddr.eq(waddr + 1),
                                 row.eq(row - (2 * G - 1))]
                with m.Else():
                    m.d.sync += [gc.eq(0), cx.eq(nx), cy.eq(cy - 1),
                                 wdy.eq(wdy + k * G), waddr.eq(wdy + k * G),
                                 rdy.eq(rdy - OW * G), row.eq(rdy - OW * G)]
            with m.If(free):
                m.d.sync += cur_valid.eq(0)
                with m.If(clear_pending):
                    m.d.sync += [cur_valid.eq(1), cur_op.eq(Op.CLEAR), gc.eq(G - 1), cx.eq(0),
                                 cy.eq(0), clear_pending.eq(0), row.eq(0)]
                with m.Elif(nxt_valid):
                    m.d.sync += [cur_valid.eq(1), coef.eq(nxt_coef), waddr.eq(nxt_waddr),
                                 wdy.eq(nxt_waddr), row.eq(nxt_row), rdy.eq(nxt_row),
                                 nx.eq(nxt_nx)]
                    with m.If(nxt_done):
                        m.d.sync += [cur_op.eq(Op.FIRE), gc.eq(G - 1), cx.eq(0), cy.eq(0),
                                     row.eq(0)]
                    with m.Else():
                        m.d.sync += [cur_op.eq(Op.INTEGRATE), gc.eq(0), cx.eq(nxt_nx),
                                     cy.eq(nxt_ny)]

        # --- R -> W: register the weight word (block RAM output straight into a multiplier
        # was the critical path: 57 MHz on the ECP5-85F).
        w_valid = Signal()
        w_op = Signal(Op)
        w_row = Signal(rbits)
        w_coef = Signal(signed(lp.in_bits))
        w_word = Signal(L * wb)
        with m.If(en):
            m.d.sync += [w_valid.eq(r_valid), w_op.eq(r_op), w_row.eq(r_row),
                         w_coef.eq(r_coef), w_word.eq(rom.data)]

        # --- W -> X: multiply each lane's weight by the coefficient; X -> M: register again (the
        # hard multipliers may be placed far from both ends: register -> multiplier ->
        # register in one cycle was the critical path at 80 MHz on the ECP5-85F).
        x_valid = Signal()
        x_op = Signal(Op)
        x_row = Signal(rbits)
        x_prod = Signal.like(self.o.payload.current)
        with m.If(en):
            m.d.sync += [x_valid.eq(w_valid), x_op.eq(w_op), x_row.eq(w_row)]
            for lane in range(L):
                w = w_word[lane * wb:(lane + 1) * wb].as_signed()
                m.d.sync += x_prod[lane].eq(w * w_coef)
            m.d.sync += [m_valid.eq(x_valid), self.o.payload.op.eq(x_op),
                         self.o.payload.row.eq(x_row), self.o.payload.current.eq(x_prod)]

        m.d.comb += self.busy.eq((efifo.level != 0) | Cat(dv).any() | nxt_valid
                                 | cur_valid | r_valid | w_valid | x_valid | m_valid
                                 | clear_pending)
        return m


class FirstLayer(wiring.Component):
    """First-layer input current (computed once per image) and the step sequence of core 0.

    ``acc`` takes the ``INTEGRATE`` beats of :class:`FanOut` 0 (pixel events times weights)
    and adds them into a current memory (``rows x lanes``, a pipelined read-modify-write that
    takes one beat per cycle and forwards the sums still in flight, so back-to-back updates of
    one row are exact).
    After ``start``: ``CLEAR`` core 0; once ``go`` (all pixels integrated): ``T`` times, one
    pass over the rows sending ``INTEGRATE(row, current)`` to core 0, then ``FIRE``. The last
    pass writes the current back as zero, ready for the next image.

    Members
    -------
    acc : In(stream(core input with product width))
    o : Out(stream(core 0 input))
    start, go : In(1)
    steps : In(T_BITS)
    busy : Out(1)
        The read-modify-write pipeline holds a beat.
    """

    def __init__(self, lp: LayerPlan, *, t_bits: int):
        self._lp = lp
        super().__init__({
            "acc": In(stream.Signature(core_input_layout(lp, lp.product_bits))),
            "o": Out(stream.Signature(core_input_layout(lp, lp.acc_bits))),
            "start": In(1), "go": In(1), "steps": In(t_bits),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        lp = self._lp
        L, D, cb = lp.lanes, lp.rows, lp.acc_bits
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
        q_cur = Signal(self.acc.payload.current.shape())
        p_cur = Signal(self.acc.payload.current.shape())
        p_data = Signal(data.ArrayLayout(signed(cb), L))
        w_valid = Signal()
        w_row = Signal(rbits)
        w_data = Signal(data.ArrayLayout(signed(cb), L))    # the sum being written (W)
        w2_data = Signal(data.ArrayLayout(signed(cb), L))   # the one written last cycle
        fwd1, fwd2 = Signal(), Signal()   # the beat at P follows one or two to the same row
        total = Signal(data.ArrayLayout(signed(cb), L))
        sweeping = Signal()
        # The read port belongs to the sweep while it runs (never the case in practice: the
        # sweep starts once every pixel is integrated).
        m.d.comb += self.acc.ready.eq(~sweeping)
        m.d.sync += [q_valid.eq(self.acc.valid & self.acc.ready
                                & (self.acc.payload.op == Op.INTEGRATE)),
                     q_row.eq(self.acc.payload.row), q_cur.eq(self.acc.payload.current),
                     p_valid.eq(q_valid), p_row.eq(q_row), p_cur.eq(q_cur),
                     p_data.eq(rd.data),
                     w_valid.eq(p_valid), w_row.eq(p_row), w_data.eq(total),
                     w2_data.eq(w_data),
                     fwd1.eq(p_valid & (p_row == q_row)), fwd2.eq(w_valid & (w_row == q_row))]
        m.d.comb += self.busy.eq(q_valid | p_valid | w_valid)
        base = Mux(fwd1, w_data, Mux(fwd2, w2_data, p_data))
        base = data.View(data.ArrayLayout(signed(cb), L), base)
        for k in range(L):
            m.d.comb += total[k].eq(base[k] + p_cur[k])

        # Sweep: S0 (read) -> S1 (to core 0).
        sr = Signal(range(D + 1))
        s1_valid = Signal()
        s1_row = Signal(len(p_row))
        t = Signal(len(self.steps))
        # Registered "this is the last step" (a comparison on the memory write path would be
        # the critical path on the iCE40).
        last_step = Signal()
        zero_write = Signal()

        m.d.comb += [
            rd.addr.eq(Mux(sweeping, sr, self.acc.payload.row)),
            wr.addr.eq(Mux(zero_write, s1_row, w_row)),
            wr.en.eq(w_valid | zero_write),
            wr.data.eq(Mux(zero_write, 0, w_data)),
        ]

        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    m.next = "CLEAR"
            with m.State("CLEAR"):
                m.d.comb += [self.o.valid.eq(1), self.o.payload.op.eq(Op.CLEAR)]
                with m.If(self.o.ready):
                    m.next = "WAIT"
            with m.State("WAIT"):
                with m.If(self.go):
                    m.d.sync += [t.eq(0), sr.eq(0), s1_valid.eq(0),
                                 last_step.eq(self.steps <= 1)]
                    m.next = "SWEEP"
            with m.State("SWEEP"):
                m.d.comb += sweeping.eq(1)
                adv = ~s1_valid | self.o.ready
                m.d.comb += [
                    self.o.valid.eq(s1_valid),
                    self.o.payload.op.eq(Op.INTEGRATE),
                    self.o.payload.row.eq(s1_row),
                    rd.en.eq(adv),
                    zero_write.eq(s1_valid & self.o.ready & last_step),
                ]
                for k in range(L):
                    m.d.comb += self.o.payload.current[k].eq(rd.data[k])
                with m.If(adv):
                    m.d.sync += [s1_valid.eq(sr < D), s1_row.eq(sr)]
                    with m.If(sr < D):
                        m.d.sync += sr.eq(sr + 1)
                    with m.Else():
                        m.next = "FIRE"
            with m.State("FIRE"):
                m.d.comb += [self.o.valid.eq(1), self.o.payload.op.eq(Op.FIRE)]
                with m.If(self.o.ready):
                    m.d.sync += [t.eq(t + 1), sr.eq(0), last_step.eq(t + 2 >= self.steps)]
                    with m.If(last_step):
                        m.next = "IDLE"
                    with m.Else():
                        m.next = "SWEEP"
        return m
