"""Reference model of one augmented neuron (docs/golden-model.md) in Amaranth, for the proofs.

Layer: ``sim`` (formal verification, docs/formal.md). Written straight from the rules of
docs/golden-model.md / :mod:`augsnn.golden.neuron`, with none of the core's tricks (no wide
stored value, no restoring divider or shifter, no forwarding): the step's partial sum is
kept apart from the membrane, the membrane is saturated once per step, and the quotient is
the number of threshold multiples the membrane reaches (comparisons only).

    V = sat(V + partial)
    if V >= theta_p:                    o = min(M, V // theta_p);      V -= o * theta_p
    elif double and V <= -theta_n:      o = -min(M, (-V) // theta_n);  V += (-o) * theta_n
    else:                               o = 0
"""

from __future__ import annotations

from amaranth.hdl import Const, Mux

__all__ = ["saturate", "fire", "partial_in_bound"]


def saturate(value, pot_bits: int):
    """``value`` clipped to the signed ``pot_bits`` range, as a ``signed(pot_bits)`` value."""
    v_min, v_max = -(1 << (pot_bits - 1)), (1 << (pot_bits - 1)) - 1
    return Mux(value > v_max, v_max, Mux(value < v_min, v_min, value))[:pot_bits].as_signed()


def _quotient(mag, theta: int, M: int):
    """``(min(M, mag // theta), that times theta)`` for ``mag >= 0``, by comparisons only.

    ``mag // theta`` is the number of multiples ``j * theta`` (``j >= 1``) that ``mag``
    reaches; capped at ``M``, it is the number of ``j`` in ``1..M`` with ``mag >= j * theta``.
    Counting comparisons (no divider, no multiplier) keeps the solver's problem small.
    """
    q = Const(0, range(M + 1))
    taken = Const(0, range(M * theta + 1))
    for j in range(1, M + 1):
        q = Mux(mag >= j * theta, j, q)
        taken = Mux(mag >= j * theta, j * theta, taken)
    return q, taken


def fire(v, *, coef_bits: int, pot_bits: int, theta_p: int, theta_n: int | None):
    """Return ``(o, v_after)`` for the saturated membrane ``v`` (``signed(pot_bits)``).

    ``o`` is ``signed(coef_bits)``, ``v_after`` ``signed(pot_bits)``.
    """
    M = (1 << (coef_bits - 1)) - 1
    q_p, taken_p = _quotient(v, theta_p, M)      # 0 unless v >= theta_p
    if theta_n is None:
        o, after = q_p - Const(0, 1), v - taken_p    # (a difference is signed)
    else:
        q_n, taken_n = _quotient(-v, theta_n, M)  # 0 unless v <= -theta_n
        # At most one of the two is non-zero (both thresholds are >= 1).
        o = q_p - q_n
        after = v - taken_p + taken_n
    return o.as_signed()[:coef_bits].as_signed(), after.as_signed()[:pot_bits].as_signed()


def partial_in_bound(partial, acc_bits: int):
    """Whether ``|partial| < 2**(acc_bits-1)``: the core's contract on a step's partial sum."""
    bound = (1 << (acc_bits - 1))
    return (partial < bound) & (partial > -bound)
