"""The shared neuron arithmetic (hw/arith.py) against Python integers, in amaranth.sim.

Every value of a small signed input goes through both forms of :func:`saturate` (constant
bound, bound in a register) and :func:`magnitude` / :func:`with_sign`; a restoring division
built from :func:`division_step` must give ``min(M, |V| // theta)`` and the remainder of the
neuron rule (docs/golden-model.md) for every magnitude and threshold in range.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.sim import Simulator

from augsnn.hw.arith import division_step, magnitude, saturate, with_sign


def _comb(m, inputs, check):
    sim = Simulator(m)

    async def bench(ctx):
        for values in inputs:
            for sig, v in values:
                ctx.set(sig, v)
            await ctx.delay(1e-6)
            check(ctx, dict((id(sig), v) for sig, v in values))

    sim.add_testbench(bench)
    sim.run()


def test_saturate_magnitude_sign():
    b = 5                                          # membrane width: -16 .. 15
    hi = (1 << (b - 1)) - 1
    m = Module()
    x = Signal(signed(9))
    hi_reg = Signal(signed(b + 1))
    const, reg = Signal(signed(b)), Signal(signed(b))
    neg, mag, back = Signal(), Signal(unsigned(b)), Signal(signed(b + 1))
    m.d.comb += [const.eq(saturate(x, hi)), reg.eq(saturate(x, hi_reg))]
    n, a = magnitude(const)
    m.d.comb += [neg.eq(n), mag.eq(a), back.eq(with_sign(neg, mag))]

    def check(ctx, vals):
        v = vals[id(x)]
        want = min(hi, max(-hi - 1, v))
        assert ctx.get(const) == want and ctx.get(reg) == want, v
        assert ctx.get(neg) == (want < 0) and ctx.get(mag) == abs(want), v
        assert ctx.get(back) == want, v

    _comb(m, [((x, v), (hi_reg, hi)) for v in range(-256, 256)], check)


def test_division_steps_give_the_neuron_quotient():
    K, P = 3, 8                                    # 3 quotient bits (M = 7), 8-bit magnitude
    M = (1 << K) - 1
    m = Module()
    mag, theta = Signal(unsigned(P)), Signal(unsigned(P))
    rem, q = mag, []
    for bit in reversed(range(K)):
        diff, take = division_step(rem, theta << bit)
        nxt = Signal(unsigned(P))
        m.d.comb += nxt.eq(diff.as_unsigned())
        with m.If(~take):
            m.d.comb += nxt.eq(rem)
        q.append(take)
        rem = nxt
    quot = Signal(unsigned(K))
    m.d.comb += quot.eq(sum(t << b for t, b in zip(q, reversed(range(K)))))

    def check(ctx, vals):
        v, t = vals[id(mag)], vals[id(theta)]
        want_q = min(M, v // t)
        assert (ctx.get(quot), ctx.get(rem)) == (want_q, v - want_q * t), (v, t)

    _comb(m, [((mag, v), (theta, t)) for t in (1, 3, 7, 20) for v in range(1 << P)], check)
