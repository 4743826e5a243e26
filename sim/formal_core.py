"""Formal harness of :class:`augsnn.hw.neuron_core.NeuronCore`: reference model and properties.

Layer: ``sim`` (formal verification, docs/formal.md). :class:`CoreHarness` wraps a core whose
command and output streams are driven by free inputs (any command, any ``valid``/``ready``
pattern: back-pressure, back-to-back updates of one row, ``CLEAR`` mid-step, reserved ops),
keeps the reference state (docs/golden-model.md; :mod:`augsnn.sim.formal_ref`) of one
*tracked* row (a free input fixed for the whole trace, so a proof covers every row) and asserts:

* ``o_stable``: the output stream rule: while ``o.valid`` and not ``o.ready``, ``o.valid``
  stays and the payload does not change.
* ``o_order``: the beats of a sweep come in row order, each row at most once (every row
  exactly once with ``readout``), then one ``done`` beat with zero fields; no beat is popped
  without a ``FIRE`` it belongs to (no beat invented or duplicated).
* ``o_match``: the tracked row's beat of the tracked sweep carries the reference spikes (and
  with ``readout`` the reference membranes after the reset); without ``readout`` it appears
  exactly when one of its spikes is non-zero. The tracked sweep is chosen by a free input
  at a ``FIRE``, so every sweep is checked.
* ``o_live``: while a sweep is outstanding and ``o.ready`` is high, a beat comes within
  ``latency + depth + 4`` cycles (no beat silently lost, no hang).

The environment keeps to the core's documented contract only: ``row < neurons // lanes``
for ``INTEGRATE``, the partial sums of the tracked row within ``acc_bits`` (the other rows
are unconstrained) and no ``rst`` after power-on. With ``after_fire=True`` the first command
is also a ``FIRE`` at cycle 0 and ``o.ready`` stays high, so that a bounded check reaches the
commands that follow a sweep's write-back.

:class:`NoForwardCore` and :class:`ShortDrainCore` are deliberately broken cores (subclasses;
the real core is unchanged) that the checks must refute.

Free inputs (top-level ports of the harness): ``i_valid``, ``i_payload``, ``o_ready``,
``track_row``, ``arm``.
"""

from __future__ import annotations

from amaranth.hdl import Assert, Assume, Const, Module, ResetSignal, Signal, signed
from amaranth.lib import wiring

from augsnn.hw.neuron_core import NeuronCore, Op

from . import formal_ref as ref

__all__ = ["CoreHarness", "NoForwardCore", "ShortDrainCore"]


class NoForwardCore(NeuronCore):
    """A deliberately broken core for the refutation test: no forwarding from S3 into S2.

    Back-to-back updates of one neuron then lose the earlier one. The real core is not
    changed: this subclass only passes a constant 0 as the S3 -> S2 forwarding select to the
    core's own lane generator.
    """

    def _elaborate_lane(self, m, k, **kwargs):
        if "s2_fwd3" not in kwargs:
            raise RuntimeError("NeuronCore._elaborate_lane no longer takes s2_fwd3: update "
                               "the mutant in augsnn.sim.formal_core")
        kwargs["s2_fwd3"] = Const(0)
        return super()._elaborate_lane(m, k, **kwargs)


class ShortDrainCore(NeuronCore):
    """A deliberately broken core: the input is ready again one cycle after the end-of-sweep
    marker, before the sweep's write-back: a command right after a ``FIRE`` reads a stale
    membrane."""

    @property
    def drain_cycles(self) -> int:
        return 1


class CoreHarness(wiring.Component):
    """A :class:`NeuronCore` (or ``core_cls``) with its reference model and properties.

    Parameters are those of :class:`NeuronCore`; ``core_cls`` selects a mutant.
    """

    CHECKS = ("stable", "order", "match", "live")

    def __init__(self, *, core_cls=NeuronCore, checks=CHECKS, after_fire=False, **params):
        self.core = core_cls(**params)
        self.checks = tuple(checks)
        # ``after_fire``: the first command is a FIRE at cycle 0 and the output is always
        # ready, so that a bounded check reaches the commands after a sweep's write-back.
        self.after_fire = bool(after_fire)
        c = self.core
        super().__init__({
            "i_valid": wiring.In(1),
            "i_payload": wiring.In(c.i.payload.shape()),
            "o_ready": wiring.In(1),
            "track_row": wiring.In(c.row_bits),
            "arm": wiring.In(1),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = c = self.core
        L, D, P = c.lanes, c.depth, c.pot_bits
        acc = c.acc_bits
        m.d.comb += [c.i.valid.eq(self.i_valid), c.i.payload.eq(self.i_payload),
                     c.o.ready.eq(self.o_ready)]
        pay = c.i.payload
        xfer = c.i.valid & c.i.ready
        pop = c.o.valid & c.o.ready
        o = c.o.payload

        # The tracked row is fixed for the whole trace (chosen freely in cycle 0).
        trow = Signal(c.row_bits)
        started = Signal()
        m.d.sync += started.eq(1)
        with m.If(~started):
            m.d.comb += trow.eq(self.track_row)
        trow_reg = Signal(c.row_bits)
        m.d.sync += trow_reg.eq(trow)
        with m.If(started):
            m.d.comb += trow.eq(trow_reg)
        m.d.comb += Assume(trow < D)
        # Power-on state only: ``rst`` does not clear the membranes (memory contents), so a
        # reset in the middle of a trace is outside the core's contract.
        m.d.comb += Assume(~ResetSignal())

        if self.after_fire:
            first = Signal(init=1)
            with m.If(xfer):
                m.d.sync += first.eq(0)
            with m.If(first):
                m.d.comb += [Assume(c.i.valid), Assume(pay.op == Op.FIRE)]
            m.d.comb += Assume(c.o.ready)

        # --- Environment: the core's contract on the commands.
        with m.If(xfer & (pay.op == Op.INTEGRATE)):
            m.d.comb += Assume(pay.row < D)

        # --- Reference state of the tracked row.
        # ``ref_sum`` is ``V + partial`` (exact: the bound on the partial sum makes it fit);
        # ``ref_part`` alone serves the bound. Adding each current to the running sum, in the
        # order of the beats, keeps the solver's adders in the order of the core's.
        ref_sum = [Signal(signed(max(P, acc) + 1), init=c.v_init, name=f"ref_sum{k}")
                   for k in range(L)]
        ref_part = [Signal(signed(acc), name=f"ref_part{k}") for k in range(L)]
        exp_coef = [Signal(signed(c.coef_bits), name=f"exp_coef{k}") for k in range(L)]
        exp_v = [Signal(signed(P), name=f"exp_v{k}") for k in range(L)]
        new_coef, new_v = [], []
        for k in range(L):
            vs = ref.saturate(ref_sum[k], P)
            coef, after = ref.fire(vs, coef_bits=c.coef_bits, pot_bits=P,
                                   theta_p=c.theta_p, theta_n=c.theta_n)
            new_coef.append(coef)
            new_v.append(after)

        # Sweeps accepted whose done beat has not been popped yet.
        out_bits = 5
        sweeps = Signal(out_bits)
        armed = Signal()
        skip = Signal(out_bits)        # done beats to pass before the tracked sweep's beats
        seen = Signal()                # the tracked row's beat of the tracked sweep was seen
        fire_acc = xfer & (pay.op == Op.FIRE)
        done_pop = pop & o.done
        m.d.sync += sweeps.eq(sweeps + fire_acc - done_pop)
        m.d.comb += Assert(sweeps < (1 << out_bits) - 1)   # the counter is wide enough

        with m.If(xfer):
            with m.Switch(pay.op):
                with m.Case(Op.INTEGRATE):
                    with m.If(pay.row == trow):
                        for k in range(L):
                            total = ref_part[k] + pay.current[k]
                            m.d.comb += Assume(ref.partial_in_bound(total, acc))
                            m.d.sync += [ref_part[k].eq(total),
                                         ref_sum[k].eq(ref_sum[k] + pay.current[k])]
                with m.Case(Op.FIRE):
                    for k in range(L):
                        m.d.sync += [ref_sum[k].eq(new_v[k]), ref_part[k].eq(0)]
                    with m.If(~armed & self.arm):
                        m.d.sync += [armed.eq(1), seen.eq(0), skip.eq(sweeps - done_pop)]
                        for k in range(L):
                            m.d.sync += [exp_coef[k].eq(new_coef[k]), exp_v[k].eq(new_v[k])]
                with m.Case(Op.CLEAR):
                    for k in range(L):
                        m.d.sync += [ref_sum[k].eq(c.v_init), ref_part[k].eq(0)]

        # --- o_stable: the stream rule on the output.
        stalled = Signal()
        held = Signal.like(o)
        m.d.sync += [stalled.eq(c.o.valid & ~c.o.ready), held.eq(o)]
        with m.If(stalled & ("stable" in self.checks)):
            m.d.comb += Assert(c.o.valid & (o.as_value() == held.as_value()))

        # --- o_order: row order, no beat without a sweep, done beats with zero fields.
        next_row = Signal(range(D + 1))
        row = (o.index >> (L.bit_length() - 1))[:max(1, c.row_bits)]
        with m.If(pop & ("order" in self.checks)):
            m.d.comb += Assert(sweeps != 0)
            with m.If(o.done):
                m.d.comb += Assert(o.index == 0)
                for k in range(L):
                    m.d.comb += Assert(o.coef[k] == 0)
                    if c.readout:
                        m.d.comb += Assert(o.v[k] == 0)
                if c.readout:
                    m.d.comb += Assert(next_row == D)
                m.d.sync += next_row.eq(0)
            with m.Else():
                m.d.comb += Assert((o.index & (L - 1)) == 0)
                m.d.comb += Assert(row < D)
                if c.readout:
                    m.d.comb += Assert(row == next_row)
                else:
                    m.d.comb += Assert(row >= next_row)
                m.d.sync += next_row.eq(row + 1)

        # --- o_match: the tracked row in the tracked sweep.
        with m.If(pop & armed & ("match" in self.checks)):
            with m.If(skip != 0):
                with m.If(o.done):
                    m.d.sync += skip.eq(skip - 1)
            with m.Elif(o.done):
                any_spike = Const(0)
                for k in range(L):
                    any_spike = any_spike | (exp_coef[k] != 0)
                m.d.comb += Assert(seen | (Const(not c.readout) & ~any_spike))
                m.d.sync += armed.eq(0)
            with m.Elif(row == trow):
                m.d.comb += Assert(~seen)
                any_spike = Const(0)
                for k in range(L):
                    m.d.comb += Assert(o.coef[k] == exp_coef[k])
                    if c.readout:
                        m.d.comb += Assert(o.v[k] == exp_v[k])
                    any_spike = any_spike | (exp_coef[k] != 0)
                if not c.readout:
                    m.d.comb += Assert(any_spike)
                m.d.sync += seen.eq(1)

        # --- o_live: a beat within latency + depth + 4 cycles while the output is ready.
        bound = c.latency + D + 4
        wait = Signal(range(bound + 2))
        with m.If((sweeps != 0) & c.o.ready & ~c.o.valid):
            m.d.sync += wait.eq(wait + 1)
        with m.Elif(pop | (sweeps == 0)):
            m.d.sync += wait.eq(0)
        if "live" in self.checks:
            m.d.comb += Assert(wait <= bound)
        return m

