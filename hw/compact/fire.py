"""FirePipe: the compact engine's neuron update as a pipeline, one neuron every two cycles.

Layer: ``hw`` (Amaranth). The arithmetic is docs/golden-model.md's neuron rule bit for bit:
``V + X`` exact, saturated once to the layer's membrane range, then the double-threshold
fire: ``q = min(M, |V| // theta)`` (``theta_p`` for ``V >= 0``, ``theta_n`` below; a layer
without ``theta_n`` never fires negative), the spike ``+-q`` and the reset membrane
``+-(|V| - q * theta)`` (the excess stays in V).

The pipeline takes a neuron every other cycle (``ph`` low) and works on it in two-cycle
slots: sum, saturate, magnitude, then ``ceil(kmax / 2)`` divider stages that each do two
restoring-division steps (one per cycle), then the fire registers. Every register of a
slot is loaded in one phase only, so each result holds for two cycles.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..plan import WORD_BITS

__all__ = ["FirePipe"]


class FirePipe(wiring.Component):
    """Neuron update pipeline (see the module docstring).

    Parameters
    ----------
    pot_bits : int
        Widest membrane of the layers it serves.
    coef_bits : int
        Widest spike coefficient (``kmax = coef_bits - 1`` quotient bits).
    d_bits : int
        Width of the largest ``theta << (k - 1)``.

    Members
    -------
    ph : In(1)
        The phase: a neuron enters in a cycle with ``ph`` low.
    i_valid, i_v, i_x : In
        The neuron (valid), its membrane and its step input (both 32-bit signed).
    c_hi, c_lo, c_dp, c_dn, c_hasneg, c_k : In
        The layer's constants: membrane bounds, ``theta_p << (k - 1)``,
        ``theta_n << (k - 1)``, whether it has a negative threshold, ``k``.
    o_valid, o_coef, o_nz, o_v : Out
        :attr:`LATENCY` cycles after the input (a cycle with ``ph`` low) and the cycle after:
        the spike coefficient, whether it is not 0, and the reset membrane.
    """

    def __init__(self, *, pot_bits: int, coef_bits: int, d_bits: int):
        for name, v in (("pot_bits", pot_bits), ("coef_bits", coef_bits), ("d_bits", d_bits)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 2:
                raise ValueError(f"{name} must be an integer >= 2, not {v!r}")
        self.pot_bits, self.kmax, self.d_bits = pot_bits, coef_bits - 1, d_bits
        self.stages = (self.kmax + 1) // 2
        super().__init__({
            "ph": In(1),
            "i_valid": In(1), "i_v": In(signed(WORD_BITS)), "i_x": In(signed(WORD_BITS)),
            "c_hi": In(signed(pot_bits + 1)), "c_lo": In(signed(pot_bits + 1)),
            "c_dp": In(d_bits), "c_dn": In(d_bits), "c_hasneg": In(1),
            "c_k": In(range(self.kmax + 1)),
            "o_valid": Out(1), "o_coef": Out(signed(self.kmax + 1)), "o_nz": Out(1),
            "o_v": Out(signed(pot_bits + 1)),
        })

    @property
    def LATENCY(self) -> int:                              # noqa: N802 (a constant)
        """Cycles from a neuron's input to its outputs."""
        return 4 + 2 * self.stages

    def elaborate(self, platform):
        m = Module()
        pot, kmax, d_bits = self.pot_bits, self.kmax, self.d_bits
        even, odd = ~self.ph, self.ph
        # Slot 0 (ph low): the exact sum.
        v0, ssum = Signal(), Signal(signed(WORD_BITS + 1))
        with m.If(even):
            m.d.sync += [v0.eq(self.i_valid), ssum.eq(self.i_v + self.i_x)]
        # ph high: saturate once.
        v1, vsat = Signal(), Signal(signed(pot))
        with m.If(odd):
            m.d.sync += v1.eq(v0)
            with m.If(ssum > self.c_hi):
                m.d.sync += vsat.eq(self.c_hi)
            with m.Elif(ssum < self.c_lo):
                m.d.sync += vsat.eq(self.c_lo)
            with m.Else():
                m.d.sync += vsat.eq(ssum)
        # ph low: magnitude, divisor, the divider's first stage.
        regs = []
        for s in range(self.stages + 1):
            regs.append(dict(v=Signal(name=f"dv{s}"), rem=Signal(pot, name=f"rem{s}"),
                             div=Signal(d_bits, name=f"div{s}"), q=Signal(kmax, name=f"q{s}"),
                             neg=Signal(name=f"neg{s}"), nodiv=Signal(name=f"nodiv{s}")))
        first = regs[0]
        is_neg = vsat < 0
        with m.If(even):
            m.d.sync += [first["v"].eq(v1), first["neg"].eq(is_neg),
                         first["rem"].eq(Mux(is_neg, -vsat, vsat)),
                         first["div"].eq(Mux(is_neg, self.c_dn, self.c_dp)), first["q"].eq(0),
                         first["nodiv"].eq(is_neg & ~self.c_hasneg)]
        # Divider stages: stage s does step 2s (ph high, into its own registers) and step
        # 2s + 1 (ph low, into the next stage's). Step j is active while j < k.
        for s in range(self.stages):
            cur, nxt = regs[s], regs[s + 1]
            diff = Signal(signed(max(pot, d_bits) + 1), name=f"diff{s}")
            m.d.comb += diff.eq(cur["rem"] - cur["div"])
            active = Signal(name=f"active{s}")
            m.d.comb += active.eq(Mux(self.ph, 2 * s < self.c_k, 2 * s + 1 < self.c_k))
            take = Signal(name=f"take{s}")
            m.d.comb += take.eq(active & ~cur["nodiv"] & (diff >= 0))
            for phase, target in ((1, cur), (0, nxt)):
                with m.If(self.ph == phase):
                    m.d.sync += [target["v"].eq(cur["v"]), target["neg"].eq(cur["neg"]),
                                 target["nodiv"].eq(cur["nodiv"]),
                                 target["rem"].eq(Mux(take, diff, cur["rem"])),
                                 target["div"].eq(cur["div"] >> 1),
                                 target["q"].eq(Mux(active, Cat(take, cur["q"]), cur["q"]))]
        # ph high: the spike and the reset membrane, held for two cycles.
        last = regs[-1]
        with m.If(odd):
            m.d.sync += [self.o_valid.eq(last["v"]),
                         self.o_coef.eq(Mux(last["neg"], -last["q"], last["q"])),
                         self.o_nz.eq(last["q"] != 0),
                         self.o_v.eq(Mux(last["neg"], -last["rem"], last["rem"]))]
        return m
