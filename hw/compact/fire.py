"""FirePipe: the compact engine's neuron update as a pipeline, one neuron a slot (2 or 4 cycles).

Layer: ``hw`` (Amaranth). The arithmetic is docs/golden-model.md's neuron rule bit for bit
(the expressions of :mod:`augsnn.hw.arith`, shared with the lane engine's neuron core):
``V + X`` exact, saturated once to the layer's membrane range, then the double-threshold
fire: ``q = min(M, |V| // theta)`` (``theta_p`` for ``V >= 0``, ``theta_n`` below; a layer
without ``theta_n`` never fires negative), the spike ``+-q`` and the reset membrane
``+-(|V| - q * theta)`` (the excess stays in V).

The pipeline takes a neuron every ``slot`` cycles (2 or 4; ``cnt`` counts the slot's
cycles, a neuron enters at ``cnt`` 0): sum, saturate, magnitude, then ``ceil(kmax / slot)``
divider stages that each do ``slot`` restoring-division steps (one a cycle), then the fire
registers. Every register is loaded at one ``cnt`` only, so each result holds for a slot.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..arith import division_step, magnitude, saturate, with_sign
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
    x_bits : int
        Width of the step input.
    slot : int
        Cycles per neuron, 2 or 4.

    Members
    -------
    cnt : In(range(slot))
        The cycle of the slot: a neuron enters at ``cnt`` 0.
    i_valid, i_v, i_x : In
        The neuron (valid), its membrane (``pot_bits``) and its step input (``x_bits``).
    c_hi, c_dp, c_dn, c_hasneg, c_k : In
        The layer's constants: the largest membrane (the smallest is ``-c_hi - 1``),
        ``theta_p << (k - 1)``,
        ``theta_n << (k - 1)``, whether it has a negative threshold, ``k``.
    o_valid, o_coef, o_nz, o_v : Out
        From :attr:`LATENCY` cycles after the input, for a slot: the spike coefficient,
        whether it is not 0, and the reset membrane.
    """

    def __init__(self, *, pot_bits: int, coef_bits: int, d_bits: int, x_bits: int = WORD_BITS,
                 slot: int = 2):
        for name, v in (("pot_bits", pot_bits), ("coef_bits", coef_bits), ("d_bits", d_bits),
                        ("x_bits", x_bits), ("slot", slot)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 2:
                raise ValueError(f"{name} must be an integer >= 2, not {v!r}")
        if slot not in (2, 4):
            raise ValueError(f"slot must be 2 or 4 cycles, not {slot}")
        self.pot_bits, self.kmax, self.d_bits = pot_bits, coef_bits - 1, d_bits
        self.x_bits, self.slot = x_bits, slot
        self.stages = -(-self.kmax // slot)
        super().__init__({
            "cnt": In(range(slot)),
            "i_valid": In(1), "i_v": In(signed(pot_bits)), "i_x": In(signed(x_bits)),
            "c_hi": In(signed(pot_bits + 1)),
            "c_dp": In(d_bits), "c_dn": In(d_bits), "c_hasneg": In(1),
            "c_k": In(range(self.kmax + 1)),
            "o_valid": Out(1), "o_coef": Out(signed(self.kmax + 1)), "o_nz": Out(1),
            "o_v": Out(signed(pot_bits + 1)),
        })

    @property
    def LATENCY(self) -> int:                              # noqa: N802 (a constant)
        """Cycles from a neuron's input to its outputs."""
        return 4 + self.slot * self.stages

    def elaborate(self, platform):
        m = Module()
        pot, kmax, d_bits, P = self.pot_bits, self.kmax, self.d_bits, self.slot

        def at(phase):
            return self.cnt == phase % P
        # cnt 0 (the input): the exact sum.
        v0, ssum = Signal(), Signal(signed(max(pot, self.x_bits) + 1))
        with m.If(at(0)):
            m.d.sync += [v0.eq(self.i_valid), ssum.eq(self.i_v + self.i_x)]
        # cnt 1: saturate once (by the bits above the layer's membrane width).
        v1, vsat = Signal(), Signal(signed(pot))
        with m.If(at(1)):
            m.d.sync += [v1.eq(v0), vsat.eq(saturate(ssum, self.c_hi))]
        # cnt 2: magnitude and divisor into the divider's first stage.
        regs = []
        for s in range(self.stages + 1):
            regs.append(dict(v=Signal(name=f"dv{s}"), rem=Signal(pot, name=f"rem{s}"),
                             div=Signal(d_bits, name=f"div{s}"), q=Signal(kmax, name=f"q{s}"),
                             neg=Signal(name=f"neg{s}"), nodiv=Signal(name=f"nodiv{s}")))
        first = regs[0]
        is_neg, mag = magnitude(vsat)
        with m.If(at(2)):
            m.d.sync += [first["v"].eq(v1), first["neg"].eq(is_neg), first["rem"].eq(mag),
                         first["div"].eq(Mux(is_neg, self.c_dn, self.c_dp)), first["q"].eq(0),
                         first["nodiv"].eq(is_neg & ~self.c_hasneg)]
        # Divider stages: stage s does steps P s .. P s + P - 1, one a cycle (cnt 3, 4, ...),
        # the last one into the next stage's registers (cnt 2). Step j is active while j < k.
        for s in range(self.stages):
            cur, nxt = regs[s], regs[s + 1]
            diff = Signal(signed(max(pot, d_bits) + 1), name=f"diff{s}")
            step, fits = division_step(cur["rem"], cur["div"])
            m.d.comb += diff.eq(step)
            active = Signal(name=f"active{s}")
            for i in range(P):
                with m.If(at(3 + i)):
                    m.d.comb += active.eq(P * s + i < self.c_k)
            take = Signal(name=f"take{s}")
            m.d.comb += take.eq(active & ~cur["nodiv"] & fits)
            target_cur = Signal()
            m.d.comb += target_cur.eq(~at(2))
            for own, target in ((1, cur), (0, nxt)):
                with m.If(target_cur == own):
                    m.d.sync += [target["v"].eq(cur["v"]), target["neg"].eq(cur["neg"]),
                                 target["nodiv"].eq(cur["nodiv"]),
                                 target["rem"].eq(Mux(take, diff, cur["rem"])),
                                 target["div"].eq(cur["div"] >> 1),
                                 target["q"].eq(Mux(active, Cat(take, cur["q"]), cur["q"]))]
        # cnt 3: the spike and the reset membrane, held for a slot.
        last = regs[-1]
        with m.If(at(3)):
            m.d.sync += [self.o_valid.eq(last["v"]),
                         self.o_coef.eq(with_sign(last["neg"], last["q"])),
                         self.o_nz.eq(last["q"] != 0),
                         self.o_v.eq(with_sign(last["neg"], last["rem"]))]
        return m
