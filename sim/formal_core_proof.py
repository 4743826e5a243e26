"""Unbounded proof of :class:`augsnn.hw.neuron_core.NeuronCore`: properties and invariants.

Layer: ``sim`` (formal verification, docs/formal.md). :class:`CoreProofHarness` is proven by
k-induction (SBY ``mode prove``): its assertions hold at every cycle of every run, not only
up to a depth. Besides the properties it asserts *invariants*, facts about the core's state
that are true in every reachable state (the base case checks them from power-on like any
assertion) and that rule out the unreachable states the induction step would otherwise start
from. The core is the real one; it is elaborated with its memories as register files
(:mod:`augsnn.sim.formal_mem`) so that the invariants can name a membrane.

Properties, checked where each output beat enters the output FIFO (the *tail* of the fire
datapath), for a *tracked row* chosen freely at power-on (so a proof covers every row):

* ``match``: the tracked row's beat of every sweep carries the spikes (and with ``readout``
  the membranes after the reset) of the reference neuron (:mod:`augsnn.sim.formal_ref`,
  docs/golden-model.md) applied to every command accepted before the ``FIRE``; without
  ``readout`` the beat enters the FIFO exactly when one of its spikes is non-zero.
* ``order``: every sweep's rows reach the tail once each, in row order, then one ``done``
  beat with zero fields; every sweep belongs to an accepted ``FIRE`` (nothing invented).
* ``room``: a beat never enters a full output FIFO (nothing lost in the core).
* ``stable``: the output stream rule at ``o``: while ``o.valid`` and not ``o.ready``,
  ``o.valid`` stays and the payload does not change.

The output FIFO (``amaranth.lib.fifo.SyncFIFOBuffered``) delivers its beats in order, once
each, unchanged, when nothing enters it full: proven separately and unbounded by
:class:`augsnn.sim.formal_fifo.FifoHarness` at the core's FIFO width and depth. Together:
the beats at ``o`` are those the tail produced, so the properties hold at ``o``.

The environment keeps to the core's contract only (as :class:`~augsnn.sim.formal_core.
CoreHarness`): ``row < neurons/lanes`` for ``INTEGRATE``, the tracked row's partial sums
within ``acc_bits``, no ``rst`` after power-on; any command sequence, any ``valid``/``ready``
pattern (back-pressure, back-to-back updates of one row, ``CLEAR`` mid-step).
"""

from __future__ import annotations

from amaranth.hdl import Array, Assert, Assume, Module, Mux, ResetSignal, Signal, signed
from amaranth.lib import data, wiring

from augsnn.hw.neuron_core import NeuronCore, Op, _Kind

from . import formal_ref as ref
from .formal_mem import elaborate_open, fsm_encoding, lookup

__all__ = ["CoreProofHarness"]


def _count(bits):
    """The number of true bits among ``bits`` (an Amaranth value)."""
    total = 0
    for b in bits:
        total = total + b
    return total


class CoreProofHarness(wiring.Component):
    """A :class:`NeuronCore` (or ``core_cls``) with the properties and invariants of its
    unbounded proof. Parameters are those of :class:`NeuronCore`."""

    #: ``part``: which assertions are proven. ``"control"``: the control invariants and the
    #: properties ``order``, ``room``, ``stable`` (the data invariants are left out);
    #: ``"data"``: the data invariants and ``match``, with the control assertions (proven by
    #: the ``"control"`` part) assumed; ``"all"``: everything at once.
    PARTS = ("control", "data", "all")

    def __init__(self, *, core_cls=NeuronCore, part="all", **params):
        if part not in self.PARTS:
            raise ValueError(f"part must be one of {', '.join(self.PARTS)}, not {part!r}")
        self.part = part
        self.core = core_cls(**params)
        c = self.core
        super().__init__({
            "i_valid": wiring.In(1),
            "i_payload": wiring.In(c.i.payload.shape()),
            "o_ready": wiring.In(1),
            "track_row": wiring.In(c.row_bits),
        })

    def elaborate(self, platform):
        m = Module()
        c = self.core
        frag, _, sigs = elaborate_open(c, platform)
        m.submodules.dut = frag

        def S(name):
            return lookup(sigs, name)

        def Ac(expr):       # a control assertion
            return (Assume if self.part == "data" else Assert)(expr, src_loc_at=1)

        def Ad(expr):       # a data assertion
            return [] if self.part == "control" else Assert(expr, src_loc_at=1)

        L, D, P, W = c.lanes, c.depth, c.pot_bits, c.wide_bits
        m.d.comb += [c.i.valid.eq(self.i_valid), c.i.payload.eq(self.i_payload),
                     c.o.ready.eq(self.o_ready)]
        pay = c.i.payload
        xfer = c.i.valid & c.i.ready

        # --- Environment (the core's contract), as in formal_core.CoreHarness.
        trow = Signal(c.row_bits)
        started = Signal()
        trow_reg = Signal(c.row_bits)
        m.d.sync += [started.eq(1), trow_reg.eq(trow)]
        m.d.comb += trow.eq(self.track_row)
        with m.If(started):
            m.d.comb += trow.eq(trow_reg)
        m.d.comb += [Assume(trow < D), Assume(~ResetSignal())]
        with m.If(xfer & (pay.op == Op.INTEGRATE)):
            m.d.comb += Assume(pay.row < D)

        # --- The core's state, by name.
        st = S("fsm_state")
        enc = fsm_encoding(st)
        IDLE, FIRE, MARK, DRAIN, CLEAR = (enc[n] for n in ("IDLE", "FIRE", "MARK", "DRAIN",
                                                          "CLEAR"))
        sweep_row, drain = S("sweep_row"), S("drain")
        credits_used, has_credit = S("credits_used"), S("has_credit")
        F = 0
        while f"f{F + 1}_valid" in sigs:
            F += 1
        stages = ["s0", "sr", "s1", "s2", "s3"]
        sv = {x: S(f"{x}_valid") for x in stages}
        sk = {x: S(f"{x}_kind") for x in stages}
        srow = {x: S(f"{x}_row") for x in stages}
        cur = {x: [S(f"l{k}_{x}_cur") for k in range(L)] for x in stages[:4]}
        s3_val = [S(f"l{k}_s3_val") for k in range(L)]
        mem = [Array(S(f"membranes{k}/row{n}") for n in range(max(2, D))) for k in range(L)]
        t_coef = [S(f"l{k}_t_coef") for k in range(L)]
        t_v = [S(f"l{k}_t_v") for k in range(L)]
        f_valid = [S(f"f{n}_valid") for n in range(F + 1)]
        f_mark = [S(f"f{n}_mark") for n in range(F + 1)]
        f_row = [S(f"f{n}_row") for n in range(F + 1)]
        push, out = S("push"), data.View(c.o.payload.shape(), S("out"))
        fifo = {n: S(f"out_fifo/{n}") for n in ("produce", "consume", "inner_level", "r_rdy",
                                                "w_rdy")}
        inner_depth = len([k for k in sigs if k.startswith("out_fifo/storage/row")])

        m.d.comb += Ac(st < len(enc))

        # Fire-path entries (FIRE or MARK micro-ops), position 0 = S0 (youngest) to 4 = S3,
        # 4 + n = fire stage n, 4 + F = the tail.
        entries = []
        for x in stages[:4]:
            is_f = (sk[x] == _Kind.FIRE) | (sk[x] == _Kind.MARK)
            entries.append((sv[x] & is_f, sk[x] == _Kind.MARK, srow[x]))
        for n in range(F + 1):
            entries.append((f_valid[n], f_mark[n], f_row[n]))
        fire_e = [v & ~mk for v, mk, _ in entries]
        mark_e = [v & mk for v, mk, _ in entries]
        tail = 4 + F
        t_valid, t_mark, t_row = entries[tail]

        # --- Reference state of the tracked row (docs/golden-model.md), as in CoreHarness.
        ref_sum = [Signal(signed(W), init=c.v_init, name=f"ref_sum{k}") for k in range(L)]
        ref_part = [Signal(signed(c.acc_bits), name=f"ref_part{k}") for k in range(L)]
        pre = [Signal(signed(W), init=c.v_init, name=f"pre{k}") for k in range(L)]
        fired = [ref.fire(ref.saturate(ref_sum[k], P), coef_bits=c.coef_bits, pot_bits=P,
                          theta_p=c.theta_p, theta_n=c.theta_n) for k in range(L)]
        exp = [ref.fire(ref.saturate(pre[k], P), coef_bits=c.coef_bits, pot_bits=P,
                        theta_p=c.theta_p, theta_n=c.theta_n) for k in range(L)]
        fire_acc = xfer & (pay.op == Op.FIRE)
        with m.If(xfer):
            with m.Switch(pay.op):
                with m.Case(Op.INTEGRATE):
                    with m.If(pay.row == trow):
                        for k in range(L):
                            total = ref_part[k] + pay.current[k]
                            m.d.comb += Assume(ref.partial_in_bound(total, c.acc_bits))
                            m.d.sync += [ref_part[k].eq(total),
                                         ref_sum[k].eq(ref_sum[k] + pay.current[k])]
                with m.Case(Op.FIRE):
                    for k in range(L):
                        m.d.sync += [ref_sum[k].eq(fired[k][1]), ref_part[k].eq(0),
                                     pre[k].eq(ref_sum[k])]
                with m.Case(Op.CLEAR):
                    for k in range(L):
                        m.d.sync += [ref_sum[k].eq(c.v_init), ref_part[k].eq(0)]
        v_min, v_max = -(1 << (P - 1)), (1 << (P - 1)) - 1
        for k in range(L):
            # The reference is exact: the membrane at the step's start is in range.
            start = ref_sum[k] - ref_part[k]
            m.d.comb += Ad((start >= v_min) & (start <= v_max))

        # --- Properties at the tail.
        tail_next = Signal(range(D + 1))      # the next row expected at the tail
        sweeps_in = Signal(2)                 # FIREs accepted whose done beat is not out
        m.d.sync += sweeps_in.eq(sweeps_in + fire_acc - (t_valid & t_mark))
        with m.If(t_valid):
            m.d.comb += Ac(sweeps_in != 0)                          # order
            with m.If(t_mark):
                m.d.comb += [Ac(tail_next == D), Ac(out.index == 0)]
                for k in range(L):
                    m.d.comb += Ac(out.coef[k] == 0)
                    if c.readout:
                        m.d.comb += Ac(out.v[k] == 0)
                m.d.sync += tail_next.eq(0)
            with m.Else():
                m.d.comb += Ac(t_row == tail_next)
                m.d.sync += tail_next.eq(tail_next + 1)
                with m.If(t_row == trow):                               # match
                    any_spike = 0
                    for k in range(L):
                        m.d.comb += Ad(t_coef[k] == exp[k][0])
                        if c.readout:
                            m.d.comb += Ad(t_v[k] == exp[k][1])
                        any_spike = any_spike | (exp[k][0] != 0)
                    if not c.readout:
                        m.d.comb += Ad(push == any_spike)
        with m.If(push):
            m.d.comb += Ac(fifo["w_rdy"])                            # room

        # stable: the stream rule at the core's output.
        stalled = Signal()
        held = Signal.like(c.o.payload)
        m.d.sync += [stalled.eq(c.o.valid & ~c.o.ready), held.eq(c.o.payload)]
        with m.If(stalled):
            m.d.comb += Ac(c.o.valid & (c.o.payload.as_value() == held.as_value()))

        # --- Invariants: the output FIFO and the credits.
        produce, consume, inner = fifo["produce"], fifo["consume"], fifo["inner_level"]
        r_rdy = fifo["r_rdy"]
        m.d.comb += [Ac(produce < inner_depth), Ac(consume < inner_depth),
                     Ac(inner <= inner_depth)]
        with m.If(produce == consume):
            m.d.comb += Ac((inner == 0) | (inner == inner_depth))
        with m.Elif(produce > consume):
            m.d.comb += Ac(inner == produce - consume)
        with m.Else():
            m.d.comb += Ac(inner == inner_depth + produce - consume)
        with m.If(~r_rdy):
            m.d.comb += Ac(inner <= 1)
        in_flight = _count(v for v, _, _ in entries)
        m.d.comb += [Ac(credits_used == inner + r_rdy + in_flight + S("drop_q") + S("pop_q")),
                     Ac(credits_used <= inner_depth + 1)]
        with m.If(has_credit):
            m.d.comb += Ac(credits_used <= inner_depth)

        # --- Invariants: the sweep sequencer and the fire path.
        n_fire = _count(fire_e)
        n_mark = _count(mark_e)
        m.d.comb += [Ac(n_mark <= 1), Ac(tail_next <= D),
                     Ac(sweeps_in == (st == FIRE) + (st == MARK) + n_mark)]
        for p, (v, mk, row) in enumerate(entries):
            older_fire = _count(fire_e[p + 1:])
            with m.If(v & ~mk):
                m.d.comb += Ac(row == tail_next + older_fire)
            with m.If(v & mk):
                m.d.comb += [Ac(tail_next + older_fire == D), Ac(row == 0)]
                for q in range(p):                      # nothing younger than a MARK
                    m.d.comb += Ac(~entries[q][0])
                # Where a MARK can be: DRAIN counts its way down the pipeline.
                where = (st == DRAIN) & (drain == c.drain_cycles - 1 - p)
                if p == tail - 1:
                    where = where | (st == IDLE)
                if p == tail:
                    where = where | (st == IDLE) | (st == FIRE) | (st == CLEAR)
                m.d.comb += Ac(where)
        # A MARK carries zeros down the fire datapath (its beat's fields are 0).
        stage_regs = {1: ["f1_v"], 2: ["f2_neg", "f2_mag"], F: ["t_coef", "t_v"]}
        if c.divider:
            for j in range(c.coef_bits - 1):
                stage_regs[3 + j] = [f"d{j}_neg", f"d{j}_rem", f"d{j}_q"]
        else:
            stage_regs[3] = ["h_neg", "h_mag", "h_clamp"]
            stage_regs[4] = ["g_neg", "g_rem", "g_q"]
        for k in range(L):
            m.d.comb += Ac(~mark_e[4] | (s3_val[k] == 0))
            for n, names in stage_regs.items():
                for name in names:
                    m.d.comb += Ac(~mark_e[4 + n] | (S(f"l{k}_{name}") == 0))
        with m.Switch(st):
            with m.Case(FIRE):
                # (With the previous sweep's MARK at the tail, the new sweep starts at 0.)
                m.d.comb += [Ac(sweep_row < D),
                             Ac(sweep_row == Mux(t_valid & t_mark, 0, tail_next) + n_fire)]
            with m.Case(MARK):
                m.d.comb += [Ac(n_mark == 0), Ac(tail_next + n_fire == D)]
            with m.Case(DRAIN):
                m.d.comb += [Ac(n_mark == 1), Ac(drain <= c.drain_cycles - 1)]
            with m.Case(CLEAR):
                m.d.comb += [Ac(sweep_row < D), Ac(n_fire == 0)]
        with m.If(((st == IDLE) | (st == CLEAR)) & (n_mark == 0)):
            m.d.comb += [Ac(tail_next == 0), Ac(n_fire == 0)]

        # --- Invariants: the control pipeline's derived registers (write flags, forwarding
        # selects) agree with the ops they describe; S5 is shadowed here (the core keeps
        # only its value).
        sw = {x: S(f"{x}_write") for x in stages}
        s4_w, s4_row = S("s4_write"), S("s4_row")
        s5_w, s5_row = Signal(), Signal(c.row_bits)
        m.d.sync += [s5_w.eq(s4_w), s5_row.eq(s4_row)]
        for x in stages:
            m.d.comb += Ac(sw[x] == (sv[x] & ((sk[x] == _Kind.INTEGRATE)
                                                  | (sk[x] == _Kind.CLEAR))))
        m.d.comb += [
            Ac(S("s1_fwd3") == (sw["s3"] & (srow["s3"] == srow["s1"]))),
            Ac(S("s1_fwd4") == (s4_w & (s4_row == srow["s1"]))),
            Ac(S("s1_fwd5") == (s5_w & (s5_row == srow["s1"]))),
            Ac(S("s2_fwd3") == (sw["s3"] & (srow["s3"] == srow["s2"]))),
        ]
        # Rows in range; no INTEGRATE/CLEAR younger than a FIRE op of a sweep, and nothing
        # at all younger than a MARK that has not reached the tail (the sequencer drains).
        spos = ["s0", "sr", "s1", "s2", "s3"]        # positions 0..4 of ``entries``
        for x in stages:
            with m.If(sv[x]):
                m.d.comb += Ac(srow[x] < D)
        for q, (v, mk, _) in enumerate(entries):
            for p in range(min(q, 5)):
                m.d.comb += Ac(~(v & ~mk & sw[spos[p]]))
                if q < tail:
                    m.d.comb += Ac(~(v & mk & sv[spos[p]]))
        s4_val = [S(f"l{k}_s4_val") for k in range(L)]
        s5_val = [S(f"l{k}_s5_val") for k in range(L)]
        for k in range(L):
            # The value an op in S4 (S5) wrote is still the row's value in the memory.
            with m.If(s4_w & (s4_row == trow)):
                m.d.comb += Ad(s4_val[k] == mem[k][trow])
            with m.Elif(s5_w & (s5_row == trow)):
                m.d.comb += Ad(s5_val[k] == mem[k][trow])

        # --- Invariants: the tracked row's value in the core equals the reference.
        # ``hit[x]``: the op in stage x is for the tracked row.
        hit = {x: sv[x] & (srow[x] == trow) for x in stages}
        fire_pending_fsm = (st == FIRE) & (sweep_row <= trow)
        fire_in_fstage = 0
        for n in range(F + 1):
            fire_in_fstage = fire_in_fstage | (f_valid[n] & ~f_mark[n] & (f_row[n] == trow))
        fire_in_s = {x: hit[x] & (sk[x] == _Kind.FIRE) for x in stages}
        fire_pending = (fire_pending_fsm | fire_in_fstage
                        | fire_in_s["s0"] | fire_in_s["sr"] | fire_in_s["s1"] | fire_in_s["s2"])
        in_sweep = (st == FIRE) | (st == MARK) | (st == DRAIN) | (n_fire != 0)
        for k in range(L):
            # The newest value of the row: memory, the write of S3, then the ops in S2..S0
            # (oldest first), then a CLEAR the sequencer has still to issue.
            s3_writes = hit["s3"] & ((sk["s3"] == _Kind.INTEGRATE) | (sk["s3"] == _Kind.CLEAR))
            v = Signal(signed(W), name=f"core_s3_{k}")
            m.d.comb += v.eq(mem[k][trow])
            with m.If(s3_writes):
                m.d.comb += v.eq(s3_val[k])
            # The forwarding: an op in S1 or S2 (not a MARK, whose value is unused) holds or
            # will hold the row's value after every older op (the op in S2 reaches S1's op
            # by S2's forwarding from S3, one cycle later).
            not_mark = {x: sk[x] != _Kind.MARK for x in stages}
            with m.If(hit["s2"] & not_mark["s2"]):
                # S2's value before its add (the core forms both sums and picks one)
                s2_v = Mux(S("s2_fwd3"), s3_val[k], S(f"l{k}_s2_base"))
                m.d.comb += Ad(s2_v == v)
            s1_base = Mux(S("s1_fwd3"), s3_val[k], Mux(S("s1_fwd4"), s4_val[k],
                                                      Mux(S("s1_fwd5"), s5_val[k],
                                                          S(f"l{k}_sr_data"))))
            with m.If(hit["s1"] & not_mark["s1"]):
                m.d.comb += Ad(s1_base == v)
            for x in ("s2", "s1", "sr", "s0"):
                with m.If(fire_in_s[x]):
                    m.d.comb += Ad(v == pre[k])      # the value the FIRE will read
                nv = Signal(signed(W), name=f"core_{x}_{k}")
                m.d.comb += nv.eq(v)
                with m.If(hit[x] & (sk[x] == _Kind.INTEGRATE)):
                    m.d.comb += nv.eq(v + cur[x][k])
                with m.If(hit[x] & (sk[x] == _Kind.CLEAR)):
                    m.d.comb += nv.eq(c.v_init)
                v = nv
            # Only an INTEGRATE carries a current from SR on (SR zeroes it for every other
            # op): S2 adds it to a FIRE's value too.
            for x in ("sr", "s1", "s2"):
                m.d.comb += Ad((sk[x] == _Kind.INTEGRATE) | (cur[x][k] == 0))
            with m.If(fire_pending_fsm):
                m.d.comb += Ad(v == pre[k])
            with m.If((st == CLEAR) & (sweep_row <= trow)):
                m.d.comb += Ad(ref_sum[k] == c.v_init)
            with m.Elif(~fire_pending & ~fire_in_s["s3"]):
                m.d.comb += Ad(v == ref_sum[k])
            with m.If(fire_in_s["s3"]):
                m.d.comb += [Ad(s3_val[k] == pre[k]), Ad(mem[k][trow] == pre[k])]
            with m.If(fire_in_fstage):
                m.d.comb += Ad(mem[k][trow] == pre[k])
            with m.If(in_sweep):
                m.d.comb += [Ad(ref_sum[k] == exp[k][1]), Ad(ref_part[k] == 0)]

            # The fire datapath: the tracked row's FIRE in each stage holds what the
            # reference gives for ``pre`` (sign, magnitude, quotient and remainder).
            vs = ref.saturate(pre[k], P)
            neg = vs < 0
            mag = Mux(neg, -vs, vs)[:P]
            o_mag = Mux(exp[k][0] < 0, -exp[k][0], exp[k][0])[:c.coef_bits - 1]
            a_mag = Mux(exp[k][1] < 0, -exp[k][1], exp[k][1])[:P]
            at = [f_valid[n] & ~f_mark[n] & (f_row[n] == trow) for n in range(F + 1)]
            m.d.comb += [Ad(~at[1] | (S(f"l{k}_f1_v") == vs)),
                         Ad(~at[2] | ((S(f"l{k}_f2_neg") == neg)
                                      & (S(f"l{k}_f2_mag") == mag))),
                         Ad(~at[F] | (t_v[k] == exp[k][1]))]
            if c.divider:
                last = f"d{c.coef_bits - 2}"          # the last divider stage
            else:
                last = "g"
                m.d.comb += Ad(~at[3] | ((S(f"l{k}_h_neg") == neg) & (S(f"l{k}_h_mag") == mag)))
            m.d.comb += Ad(~at[F - 1] | ((S(f"l{k}_{last}_neg") == neg)
                                         & (S(f"l{k}_{last}_q") == o_mag)
                                         & (S(f"l{k}_{last}_rem") == a_mag)))
        return m
