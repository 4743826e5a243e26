"""The augmented-neuron core: a pipelined layer of integer neurons in Amaranth.

Layer: ``hw`` (Amaranth generators). Imports Amaranth only; the arithmetic it implements is
defined by :mod:`augsnn.golden.neuron`, which the testbenches in :mod:`augsnn.sim` use as the
scoreboard.
"""

from __future__ import annotations

import numbers
from types import SimpleNamespace

from amaranth.hdl import Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, enum, fifo, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from augsnn.golden.checks import check_bool, check_int

from .arith import division_step, magnitude, saturate, with_sign
from .banked import bank_depth, banked_memory

__all__ = ["Op", "NeuronCore", "input_layout", "output_layout"]


class Op(enum.Enum, shape=2):
    """Command carried by an input beat of :class:`NeuronCore`."""

    #: Add ``current[k]`` to the partial sum of neuron ``row * lanes + k``, for every lane.
    INTEGRATE = 0
    #: End the time step: saturate, fire and reset every neuron; emit the non-zero spikes.
    FIRE = 1
    #: Set every membrane (and any partial sum) to ``v_init``: the start of a new image.
    CLEAR = 2


def input_layout(*, lanes: int, row_bits: int, current_bits: int) -> data.StructLayout:
    """Return the payload layout of the input stream (first field at the least significant bit)."""
    return data.StructLayout({
        "op": Op,
        "row": unsigned(row_bits),
        "current": data.ArrayLayout(signed(current_bits), lanes),
    })


def output_layout(*, lanes: int, index_bits: int, coef_bits: int,
                  pot_bits: int | None = None) -> data.StructLayout:
    """Return the payload layout of the output stream; ``pot_bits`` adds the readout field."""
    fields = {
        "index": unsigned(index_bits),
        "coef": data.ArrayLayout(signed(coef_bits), lanes),
        "done": unsigned(1),
    }
    if pot_bits is not None:
        fields["v"] = data.ArrayLayout(signed(pot_bits), lanes)
    return data.StructLayout(fields)


def _is_pow2(value: int) -> bool:
    return value & (value - 1) == 0


# Kind of a micro-operation travelling down a lane pipeline.
class _Kind(enum.Enum, shape=2):
    INTEGRATE = 0
    FIRE = 1
    CLEAR = 2
    MARK = 3   # end-of-sweep marker: becomes the ``done`` output beat


class NeuronCore(wiring.Component):
    """Integrate input currents into a layer of augmented neurons and fire their spikes.

    Implements the neuron of docs/golden-model.md bit for bit (:mod:`augsnn.golden.neuron`
    is the reference). The membranes live in one :class:`~amaranth.lib.memory.Memory` per
    lane (deeper than one ECP5 block RAM holds: a :func:`~augsnn.hw.banked.banked_memory`,
    the same timing); neuron ``n`` lives in lane ``n % lanes`` at row ``n // lanes``. Each neuron keeps a *wide* value
    ``V + partial_sum`` of :attr:`wide_bits` bits, so that the partial sums of a time step are
    exact; the membrane is saturated to ``pot_bits`` only once, by the fire pass.

    Commands (input beats, see :class:`Op` and :func:`input_layout`):

    * ``INTEGRATE``: lane ``k`` adds ``current[k]`` to neuron ``row * lanes + k``. A current
      of 0 is a no-op, so a beat may address fewer than ``lanes`` neurons. ``row`` must be
      ``< neurons // lanes``.
    * ``FIRE``: sweep all rows in order: ``V = sat(V_wide)``, fire (docs/golden-model.md),
      write the reset membrane back; emit one output beat per row that has a non-zero spike (every row
      with ``readout=True``), then one beat with ``done = 1`` (``index``, ``coef`` and ``v``
      zero) that closes the time step.
    * ``CLEAR``: set every neuron to ``v_init`` (dropping any partial sum); no output.

    The fourth ``op`` value is reserved: such a beat is accepted and ignored.

    Output beats (see :func:`output_layout`): ``coef[k]`` is the spike of neuron
    ``index + k``; ``v[k]`` (``readout=True`` only) its membrane after the reset.

    Contract
    --------
    Throughput
        ``INTEGRATE``: one beat per cycle, i.e. one update per cycle per lane, including
        back-to-back updates of the same neuron (results are forwarded; there is no hazard).
        ``FIRE``: one row (``lanes`` neurons) per cycle while the output is ready; the input is
        not ready for :attr:`fire_cycles` cycles after a ``FIRE`` beat when the output never
        stalls. ``CLEAR``: the input is not ready for :attr:`clear_cycles` cycles.
    Latency
        :attr:`latency` cycles from the transfer of a ``FIRE`` beat to the earliest transfer of
        the output beat of row 0 (output always ready). An ``INTEGRATE`` beat is visible to
        every later command.
    Widths
        ``current``: ``signed(current_bits)``; ``coef``: ``signed(coef_bits)``; ``v``:
        ``signed(pot_bits)``; ``row``: :attr:`row_bits`; ``index``: :attr:`index_bits`.
    Stream handshakes
        ``i.ready`` and ``o.valid`` are registered: no combinational path from any input to
        any output. Back-pressure on ``o`` stalls the fire sweep; nothing is dropped.

    The partial sum of a neuron within a time step must satisfy
    ``|partial_sum| < 2**(acc_bits-1)`` (the layer's static bound on ``|I|``); larger sums
    wrap around.

    Parameters
    ----------
    coef_bits : int
        Width of the signed spike coefficient, 2 to 16 (2 is ternary); ``M = 2**(coef_bits-1)-1``.
    current_bits : int
        Width of the signed input current of one ``INTEGRATE`` lane, ``>= 2``.
    pot_bits : int
        Width of the signed membrane potential, 2 to 62.
    theta_p : int
        Positive threshold, ``>= 1``.
    theta_n : int or None
        Magnitude of the negative threshold, ``>= 1``; ``None`` for a single threshold.
    neurons : int
        Number of neurons, ``>= 1``.
    lanes : int
        Number of parallel lanes: a power of two that divides ``neurons``.
    v_init : int
        Membrane at reset and after ``CLEAR``, within the membrane range.
    acc_bits : int or None
        Signed width of the bound on a step's partial sums, ``>= current_bits`` (at most 62);
        ``None`` means ``max(current_bits, pot_bits)``.
    divider : bool or None
        ``None``: a shifter when every threshold is a power of two, a pipelined divider
        otherwise; ``True``: always the divider; ``False``: always the shifter.
    readout : bool
        Emit every row on ``FIRE`` with the membranes after the reset (field ``v``); for
        testing and for reading the membranes of a layer.

    Members
    -------
    i : ``In(stream.Signature(input_layout(...)))``
        Commands.
    o : ``Out(stream.Signature(output_layout(...)))``
        Spikes.

    Raises
    ------
    TypeError
        A parameter has the wrong type.
    ValueError
        A parameter is out of range.
    """

    def __init__(self, *, coef_bits, current_bits, pot_bits, theta_p, theta_n=None,
                 neurons=1, lanes=1, v_init=0, acc_bits=None, divider=None, readout=False):
        self._coef_bits = coef_bits = check_int("Coefficient width", coef_bits, 2, 16)
        self._current_bits = current_bits = check_int("Current width", current_bits, 2)
        self._pot_bits = pot_bits = check_int("Membrane width", pot_bits, 2, 62)
        self._theta_p = theta_p = check_int("Positive threshold", theta_p, 1)
        if theta_n is not None:
            theta_n = check_int("Negative threshold", theta_n, 1)
        self._theta_n = theta_n
        self._neurons = neurons = check_int("Neuron count", neurons, 1)
        self._lanes = lanes = check_int("Lane count", lanes, 1)
        if not _is_pow2(lanes):
            raise ValueError(f"Lane count must be a power of two, not {lanes!r}")
        if neurons % lanes:
            raise ValueError(f"Lane count must divide the neuron count {neurons}, not {lanes!r}")
        v_min, v_max = -(1 << (pot_bits - 1)), (1 << (pot_bits - 1)) - 1
        if isinstance(v_init, bool) or not isinstance(v_init, numbers.Integral):
            raise TypeError(f"Initial membrane potential must be an integer, not {v_init!r}")
        v_init = int(v_init)
        if not v_min <= v_init <= v_max:
            raise ValueError(f"Initial membrane potential must lie in [{v_min}, {v_max}] for a "
                             f"{pot_bits}-bit membrane, not {v_init!r}")
        self._v_init = v_init
        if acc_bits is None:
            acc_bits = max(current_bits, pot_bits)
        self._acc_bits = check_int("Accumulator width", acc_bits, current_bits, 62)
        pow2 = _is_pow2(theta_p) and (theta_n is None or _is_pow2(theta_n))
        if divider is None:
            divider = not pow2
        elif not isinstance(divider, bool):
            raise TypeError(f"Divider selection must be None or a bool, not {divider!r}")
        if not divider and not pow2:
            raise ValueError(f"The shift path needs power-of-two thresholds, not "
                             f"theta_p={theta_p!r}, theta_n={theta_n!r}")
        self._divider = divider
        self._readout = check_bool("Readout", readout)

        self._depth = neurons // lanes
        self._row_bits = max(1, (self._depth - 1).bit_length())
        self._index_bits = max(1, (neurons - 1).bit_length())
        self._wide_bits = max(pot_bits, self._acc_bits) + 1
        # Stages of the fire datapath after S3 (see elaborate): saturate, magnitude,
        # quotient (coef_bits - 1 divider stages or 2 shifter stages), sign.
        self._fire_stages = 3 + ((coef_bits - 1) if divider else 2)
        self._fifo_depth = self.latency + 3

        super().__init__({
            "i": In(stream.Signature(input_layout(
                lanes=lanes, row_bits=self._row_bits, current_bits=current_bits))),
            "o": Out(stream.Signature(output_layout(
                lanes=lanes, index_bits=self._index_bits, coef_bits=coef_bits,
                pot_bits=pot_bits if readout else None))),
        })

    # Parameters, read-only.
    coef_bits = property(lambda self: self._coef_bits)
    current_bits = property(lambda self: self._current_bits)
    pot_bits = property(lambda self: self._pot_bits)
    theta_p = property(lambda self: self._theta_p)
    theta_n = property(lambda self: self._theta_n)
    neurons = property(lambda self: self._neurons)
    lanes = property(lambda self: self._lanes)
    v_init = property(lambda self: self._v_init)
    acc_bits = property(lambda self: self._acc_bits)
    divider = property(lambda self: self._divider)
    readout = property(lambda self: self._readout)

    @property
    def M(self) -> int:
        """Largest spike magnitude, ``2**(coef_bits-1) - 1``."""
        return (1 << (self._coef_bits - 1)) - 1

    @property
    def double(self) -> bool:
        """Whether the neurons have a negative threshold."""
        return self._theta_n is not None

    @property
    def depth(self) -> int:
        """Rows per lane memory, ``neurons // lanes``."""
        return self._depth

    @property
    def row_bits(self) -> int:
        return self._row_bits

    @property
    def index_bits(self) -> int:
        return self._index_bits

    @property
    def wide_bits(self) -> int:
        """Width of a stored neuron (membrane plus partial sum), ``max(pot_bits, acc_bits)+1``."""
        return self._wide_bits

    @property
    def latency(self) -> int:
        """Cycles from the transfer of a ``FIRE`` beat to the first output beat it can produce."""
        # FSM issue, S0 (read), SR (memory output register), S1 (forward), S2 (add), S3,
        # fire stages, output FIFO (2).
        return 1 + 5 + self._fire_stages + 2

    @property
    def drain_cycles(self) -> int:
        """Cycles the input waits after the end-of-sweep marker so that no write is in flight."""
        return self._fire_stages + 3

    @property
    def fire_cycles(self) -> int:
        """Cycles the input is not ready after a ``FIRE`` beat (output never stalling)."""
        return self._depth + 1 + self.drain_cycles

    @property
    def clear_cycles(self) -> int:
        """Cycles the input is not ready after a ``CLEAR`` beat."""
        return self._depth

    def elaborate(self, platform):
        m = Module()

        L, D = self._lanes, self._depth
        lane_shift = L.bit_length() - 1

        # --- Output FIFO with credits: a fire micro-op is only issued when its result (if
        # any) is sure to find room, so the pipeline itself never stalls.
        m.submodules.out_fifo = out_fifo = fifo.SyncFIFOBuffered(
            width=self.o.payload.shape().size, depth=self._fifo_depth)
        m.d.comb += [
            self.o.payload.eq(out_fifo.r_data),
            self.o.valid.eq(out_fifo.r_rdy),
            out_fifo.r_en.eq(self.o.ready),
        ]
        # Entries reserved: fire micro-ops in flight plus beats in the FIFO. ``has_credit`` is
        # a register, one cycle behind the count: the count grows by at most 1 per cycle, so
        # ``used < depth - 1`` a cycle ago still means ``used < depth`` now.
        credits_used = Signal(range(self._fifo_depth + 1))
        has_credit = Signal(init=1)
        m.d.sync += has_credit.eq(credits_used < self._fifo_depth - 1)

        # --- Command sequencer: turns input beats into one micro-op per cycle.
        issue = Signal()
        issue_kind = Signal(_Kind)
        issue_row = Signal(self._row_bits)
        # The input's currents go into S0 as they are; SR zeroes them for every micro-op but
        # an INTEGRATE, from S0's registered kind (the sequencer's decision, made from the
        # input's valid, was the synchronous reset of every lane's S0 current register: the
        # critical path of a 32-lane core at 100 MHz, ECP5).
        issue_cur = self.i.payload.current
        sweep_row = Signal(self._row_bits)
        last_row = sweep_row == D - 1
        drain = Signal(range(self.drain_cycles + 1))

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.i.ready.eq(1)
                with m.If(self.i.valid):
                    m.d.sync += sweep_row.eq(0)
                    with m.Switch(self.i.payload.op):
                        with m.Case(Op.INTEGRATE):
                            m.d.comb += [
                                issue.eq(1),
                                issue_kind.eq(_Kind.INTEGRATE),
                                issue_row.eq(self.i.payload.row),
                            ]
                        with m.Case(Op.FIRE):
                            m.next = "FIRE"
                        with m.Case(Op.CLEAR):
                            m.next = "CLEAR"
            with m.State("FIRE"):
                with m.If(has_credit):
                    m.d.comb += [issue.eq(1), issue_kind.eq(_Kind.FIRE), issue_row.eq(sweep_row)]
                    m.d.sync += sweep_row.eq(sweep_row + 1)
                    with m.If(last_row):
                        m.next = "MARK"
            with m.State("MARK"):
                with m.If(has_credit):
                    m.d.comb += [issue.eq(1), issue_kind.eq(_Kind.MARK)]
                    m.d.sync += drain.eq(self.drain_cycles - 1)
                    m.next = "DRAIN"
            with m.State("DRAIN"):
                m.d.sync += drain.eq(drain - 1)
                with m.If(drain == 0):
                    m.next = "IDLE"
            with m.State("CLEAR"):
                m.d.comb += [issue.eq(1), issue_kind.eq(_Kind.CLEAR), issue_row.eq(sweep_row)]
                m.d.sync += sweep_row.eq(sweep_row + 1)
                with m.If(last_row):
                    m.next = "IDLE"

        # --- Control pipeline, shared by all lanes: S0 (read issued), SR (the memory's data is
        # registered straight away: block RAM output register), S1 .. S3.
        def stage(name):
            return (Signal(name=f"{name}_valid"), Signal(_Kind, name=f"{name}_kind"),
                    Signal(self._row_bits, name=f"{name}_row"))

        s0_valid, s0_kind, s0_row = stage("s0")
        sr_valid, sr_kind, sr_row = stage("sr")
        s1_valid, s1_kind, s1_row = stage("s1")
        s2_valid, s2_kind, s2_row = stage("s2")
        s3_valid, s3_kind, s3_row = stage("s3")
        m.d.sync += [
            s0_valid.eq(issue), s0_kind.eq(issue_kind), s0_row.eq(issue_row),
            sr_valid.eq(s0_valid), sr_kind.eq(s0_kind), sr_row.eq(s0_row),
            s1_valid.eq(sr_valid), s1_kind.eq(sr_kind), s1_row.eq(sr_row),
            s2_valid.eq(s1_valid), s2_kind.eq(s1_kind), s2_row.eq(s1_row),
            s3_valid.eq(s2_valid), s3_kind.eq(s2_kind), s3_row.eq(s2_row),
        ]

        # Whether the op of a stage is an INTEGRATE or CLEAR, which write back from S3.
        issue_w = issue & ((issue_kind == _Kind.INTEGRATE) | (issue_kind == _Kind.CLEAR))
        s0_w, sr_w, s1_w, s2_w, s3_w, s4_w = (Signal(name=f"s{n}_write")
                                              for n in ("0", "r", "1", "2", "3", "4"))
        s4_row = Signal(self._row_bits, name="s4_row")
        m.d.sync += [s0_w.eq(issue_w), sr_w.eq(s0_w), s1_w.eq(sr_w), s2_w.eq(s1_w),
                     s3_w.eq(s2_w), s4_w.eq(s3_w), s4_row.eq(s3_row)]
        # Forwarding. An op in S1 read the memory in S0, two cycles ago: the writes of the
        # ops now in S3 (this cycle), S4 and S5 (the last two cycles) are missing from its
        # data. The op just ahead of it (in S2) is forwarded one stage later, from S3. All
        # selects are computed a stage early, so that they leave registers.
        s1_fwd3 = Signal()
        s1_fwd4 = Signal()
        s1_fwd5 = Signal()
        s2_fwd3 = Signal()
        # S2's kind as two flags (INTEGRATE or FIRE: keep the sum; else CLEAR or MARK).
        # (No CLEAR flag when v_init is 0: CLEAR and MARK both give 0.)
        s2_keep, s2_clear = Signal(), Signal() if self._v_init else None
        m.d.sync += s2_keep.eq((s1_kind == _Kind.INTEGRATE) | (s1_kind == _Kind.FIRE))
        if s2_clear is not None:
            m.d.sync += s2_clear.eq(s1_kind == _Kind.CLEAR)
        m.d.sync += [
            s1_fwd3.eq(s2_w & (s2_row == sr_row)),
            s1_fwd4.eq(s3_w & (s3_row == sr_row)),
            s1_fwd5.eq(s4_w & (s4_row == sr_row)),
            s2_fwd3.eq(s2_w & (s2_row == s1_row)),
        ]
        s3_write = s3_w

        # Fire datapath control: stage 0 is S3; one entry per fire stage after it.
        F = self._fire_stages
        f_valid = [Signal(name=f"f{n}_valid") for n in range(F + 1)]
        f_mark = [Signal(name=f"f{n}_mark") for n in range(F + 1)]
        f_row = [Signal(self._row_bits, name=f"f{n}_row") for n in range(F + 1)]
        m.d.comb += [
            f_valid[0].eq(s3_valid & ((s3_kind == _Kind.FIRE) | (s3_kind == _Kind.MARK))),
            f_mark[0].eq(s3_kind == _Kind.MARK),
            f_row[0].eq(s3_row),
        ]
        for n in range(F):
            m.d.sync += [f_valid[n + 1].eq(f_valid[n]), f_mark[n + 1].eq(f_mark[n]),
                         f_row[n + 1].eq(f_row[n])]
        t_valid, t_mark, t_row = f_valid[F], f_mark[F], f_row[F]   # the tail
        t_write = t_valid & ~t_mark

        # --- Lanes.
        out = Signal(self.o.payload.shape())
        q_nz = Signal(L)        # per lane: the quotient entering the tail is not zero
        for k in range(L):
            self._elaborate_lane(
                m, k,
                issue_cur=issue_cur[k], s0_row=s0_row,
                s0_integrate=s0_valid & (s0_kind == _Kind.INTEGRATE),
                s2_keep=s2_keep, s2_clear=s2_clear,
                s3_row=s3_row,
                s1_fwd3=s1_fwd3, s1_fwd4=s1_fwd4, s1_fwd5=s1_fwd5, s2_fwd3=s2_fwd3,
                s3_write=s3_write, t_write=t_write, t_row=t_row,
                out=out, q_nz=q_nz,
            )

        # --- Tail: output beat and credit accounting.
        push = Signal()
        if self._readout:
            m.d.comb += push.eq(t_valid)
        else:
            t_spike = Signal()  # any lane of the tail row spikes
            m.d.sync += t_spike.eq(q_nz.any())
            m.d.comb += push.eq(t_valid & (t_mark | t_spike))
        m.d.comb += [
            out.index.eq(t_row << lane_shift),
            out.done.eq(t_mark),
            out_fifo.w_data.eq(out),
            out_fifo.w_en.eq(push),
        ]
        # A beat that leaves the FIFO and a fire result that is not pushed give their credit
        # back a cycle later, from registers: the tail's flags across all lanes into the
        # credit counter, and then the FIFO's output valid (which also drives the next skid
        # buffer's wide registers, so it is placed away from the counter), were critical
        # paths of a 32-lane core at 100 MHz (ECP5). Still conservative: the credits in use
        # are the FIFO's beats, the fire micro-ops in flight, ``pop_q`` and ``drop_q``.
        pop_q = Signal()
        drop_q = Signal()
        m.d.sync += [pop_q.eq(self.o.valid & self.o.ready), drop_q.eq(t_valid & ~push)]
        fire_issue = issue & ((issue_kind == _Kind.FIRE) | (issue_kind == _Kind.MARK))
        m.d.sync += credits_used.eq(credits_used + fire_issue - pop_q - drop_q)

        return m

    def _elaborate_lane(self, m, k, *, issue_cur, s0_row, s0_integrate, s2_keep, s2_clear,
                        s3_row,
                        s1_fwd3, s1_fwd4, s1_fwd5, s2_fwd3, s3_write, t_write, t_row, out,
                        q_nz):
        W, P, K, M = self._wide_bits, self._pot_bits, self._coef_bits - 1, self.M
        v_max = (1 << (P - 1)) - 1
        double = self._theta_n is not None

        def sig(shape, name):
            # Lane data only: whether a value counts is decided by the shared control pipeline
            # (valid, kind, write flags), which is reset. No reset here keeps an ``abort``
            # (ResetInserter) off thousands of flip-flops: a smaller, faster reset net.
            return Signal(shape, name=f"l{k}_{name}", reset_less=True)

        # Current: S0 .. S2 (SR zeroes it for every micro-op but an INTEGRATE: S2 adds it to
        # a FIRE's value too).
        s0_cur = sig(signed(self._current_bits), "s0_cur")
        sr_cur = sig(signed(self._current_bits), "sr_cur")
        s1_cur = sig(signed(self._current_bits), "s1_cur")
        s2_cur = sig(signed(self._current_bits), "s2_cur")
        m.d.sync += [s0_cur.eq(issue_cur), sr_cur.eq(Mux(s0_integrate, s0_cur, 0)),
                     s1_cur.eq(sr_cur), s2_cur.eq(s1_cur)]

        # (A one-row memory still gets a 1-bit address: a 0-bit one is not valid Verilog.)
        depth = max(2, self._depth)
        bank = bank_depth(depth, W)
        if bank < depth:
            # Deeper than one block RAM holds: explicit banks, each read into its own register
            # (SR); the bank multiplexer comes after them, in S1 (hw/banked.py).
            mem = banked_memory(m, f"membranes{k}", shape=signed(W), depth=depth,
                                init=self._v_init, bank_words=bank)
            wr = SimpleNamespace(en=mem.w_en, addr=mem.w_addr, data=mem.w_data)
            m.d.comb += mem.r_addr.eq(s0_row)
            sr_data = mem.q
        else:
            mem = memory.Memory(shape=signed(W), depth=depth, init=[self._v_init] * depth)
            m.submodules[f"membranes{k}"] = mem
            rd = mem.read_port()
            wr = mem.write_port()
            m.d.comb += rd.addr.eq(s0_row)   # S0: read; data arrives in SR
            sr_data = sig(signed(W), "sr_data")
            m.d.sync += sr_data.eq(rd.data)  # SR: nothing between the memory and this register

        s3_val = sig(signed(W), "s3_val")
        s4_val = sig(signed(W), "s4_val")
        s5_val = sig(signed(W), "s5_val")
        m.d.sync += [s4_val.eq(s3_val), s5_val.eq(s4_val)]

        # S1: pick the newest value among memory, S3, S4 and S5.
        s2_base = sig(signed(W), "s2_base")
        m.d.sync += s2_base.eq(Mux(s1_fwd3, s3_val, Mux(s1_fwd4, s4_val,
                                                         Mux(s1_fwd5, s5_val, sr_data))))

        # S2: integrate (a FIRE's current is 0: it passes the value on), clear, or 0 (MARK).
        # Both sums are formed, with the memory's value and with S3's (the op just ahead
        # wrote this neuron), and the forwarding select picks one after the adders: the
        # select, which fans out to every bit of every lane, is no longer in front of the
        # carry chain.
        sum_mem = s2_base + s2_cur
        sum_fwd = s3_val + s2_cur
        with m.If(s2_keep):
            m.d.sync += s3_val.eq(Mux(s2_fwd3, sum_fwd, sum_mem))
        with m.Else():
            m.d.sync += s3_val.eq(0 if s2_clear is None else Mux(s2_clear, self._v_init, 0))

        # Fire stage 1: saturate the wide value to the membrane range.
        f1_v = sig(signed(P), "f1_v")
        m.d.sync += f1_v.eq(saturate(s3_val, v_max))

        # Fire stage 2: sign and magnitude. A single-threshold neuron never fires negative:
        # with a single threshold, a negative sign inhibits the quotient stages.
        f2_neg = sig(1, "f2_neg")
        f2_mag = sig(unsigned(P), "f2_mag")
        f1_neg, f1_mag = magnitude(f1_v)
        m.d.sync += [f2_neg.eq(f1_neg), f2_mag.eq(f1_mag)]

        # Quotient stages: q = min(M, mag // theta), rem = mag - q * theta.
        neg, rem = f2_neg, f2_mag
        q = Const(0, unsigned(K))
        theta_p = self._theta_p
        theta_n = self._theta_n if double else theta_p
        rem_max = 1 << (P - 1)
        if self._divider:
            # Restoring division limited to K quotient bits. When mag >= theta * 2**K every
            # stage subtracts, which yields exactly q = M and rem = mag - M * theta.
            for n, b in enumerate(reversed(range(K))):
                c_p, c_n = theta_p << b, theta_n << b
                # A stage whose subtrahend exceeds any magnitude never subtracts.
                ok_p, ok_n = c_p <= rem_max, c_n <= rem_max and double
                nxt_neg = sig(1, f"d{n}_neg")
                nxt_rem = sig(unsigned(P), f"d{n}_rem")
                nxt_q = sig(unsigned(K), f"d{n}_q")
                m.d.sync += nxt_neg.eq(neg)
                if ok_p or ok_n:
                    diff, take = division_step(
                        rem, Mux(neg, c_n if ok_n else c_p, c_p if ok_p else c_n))
                    if not ok_p:
                        take = take & neg
                    if not ok_n:
                        take = take & ~neg
                    m.d.sync += [
                        nxt_rem.eq(Mux(take, diff, rem)),
                        nxt_q.eq(q | (take << b)),
                    ]
                else:
                    m.d.sync += [nxt_rem.eq(rem), nxt_q.eq(q)]
                neg, rem, q = nxt_neg, nxt_rem, nxt_q
        else:
            s_p, s_n = theta_p.bit_length() - 1, theta_n.bit_length() - 1
            # Shift stage 1: clamp when mag >= (M + 1) * theta.
            h_neg, h_mag, h_clamp = sig(1, "h_neg"), sig(unsigned(P), "h_mag"), sig(1, "h_clamp")
            clamp_p = rem >= ((M + 1) << s_p)
            if double:
                clamp = Mux(neg, rem >= ((M + 1) << s_n), clamp_p)
            else:
                clamp = ~neg & clamp_p
            m.d.sync += [h_neg.eq(neg), h_mag.eq(rem), h_clamp.eq(clamp)]
            # Shift stage 2: quotient and remainder.
            g_neg, g_rem, g_q = sig(1, "g_neg"), sig(unsigned(P), "g_rem"), sig(unsigned(K), "g_q")
            shifted = Mux(h_neg, h_mag >> s_n, h_mag >> s_p)
            low = Mux(h_neg, h_mag & ((1 << s_n) - 1), h_mag & ((1 << s_p) - 1))
            clamped = h_mag - Mux(h_neg, M << s_n, M << s_p)
            m.d.sync += g_neg.eq(h_neg)
            fires = Const(1) if double else ~h_neg
            with m.If(h_clamp):
                m.d.sync += [g_q.eq(M), g_rem.eq(clamped)]
            with m.Elif(fires):
                m.d.sync += [g_q.eq(shifted), g_rem.eq(low)]
            with m.Else():
                m.d.sync += [g_q.eq(0), g_rem.eq(h_mag)]
            neg, rem, q = g_neg, g_rem, g_q

        # Last fire stage: restore the signs (the tail).
        t_coef = sig(signed(self._coef_bits), "t_coef")
        t_v = sig(signed(P), "t_v")
        m.d.sync += [
            t_coef.eq(with_sign(neg, q)),
            t_v.eq(with_sign(neg, rem)),
        ]

        # Memory write: INTEGRATE/CLEAR from S3, FIRE from the tail (never in the same cycle).
        m.d.comb += [
            wr.en.eq(s3_write | t_write),
            wr.addr.eq(Mux(t_write, t_row, s3_row)),
            wr.data.eq(Mux(t_write, t_v, s3_val)),
            out.coef[k].eq(t_coef),
        ]
        if self._readout:
            m.d.comb += out.v[k].eq(t_v)
        else:
            m.d.comb += q_nz[k].eq(q != 0)
