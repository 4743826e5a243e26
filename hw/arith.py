"""The neuron arithmetic of the hardware, once: saturation, sign and magnitude, the restoring
division step (docs/golden-model.md, "The neuron (normative)").

Layer: ``hw`` (Amaranth expressions; no state). Used by the lane engine's
:class:`~augsnn.hw.neuron_core.NeuronCore` and the compact engine's
:class:`~augsnn.hw.compact.fire.FirePipe`, which pipeline these steps differently (constant
thresholds per core vs. a layer's thresholds in registers) but compute the same values:

* ``V = sat(V + I)``: :func:`saturate` to the membrane range ``[-2^(b-1), 2^(b-1) - 1]``;
* fire on the magnitude (:func:`magnitude`): ``q = min(M, |V| // theta)``, by
  :func:`division_step` (restoring division, one quotient bit a step, most significant
  first, the divisor ``theta << bit``; a magnitude of at least ``theta << K`` takes every
  step, which gives exactly ``q = M``, the remainder ``|V| - M theta``);
* the spike ``+-q`` and the reset membrane ``+-remainder``: :func:`with_sign`.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Mux, Value

__all__ = ["saturate", "magnitude", "with_sign", "division_step"]


def saturate(value, hi):
    """``value`` clamped to ``[-hi - 1, hi]``, with ``hi = 2^(b-1) - 1`` (a ``b``-bit range).

    ``hi`` an ``int``: two comparators against constants. ``hi`` a :class:`Value` (a layer's
    bound in a register, signed, at least ``b + 1`` bits): no comparator; ``value`` is out of
    range when one of its bits that ``hi`` does not cover differs from its sign bit (a short
    path for a small FPGA), and the bound below is ``~hi``.
    """
    if isinstance(hi, int):
        return Mux(value > hi, hi, Mux(value < -hi - 1, -hi - 1, value))
    hi = Value.cast(hi)
    width = len(value)
    above = ~hi[:width].as_unsigned() if width <= len(hi) else \
        Cat(~hi.as_unsigned(), Const(-1, width - len(hi)))
    over = ((value.as_unsigned() ^ Mux(value[-1], -1, 0)) & above) != 0
    return Mux(over & ~value[-1], hi, Mux(over, ~hi, value))


def with_sign(negative, value):
    """``-value`` when ``negative``, else ``value``."""
    return Mux(negative, -value, value)


def magnitude(value):
    """``(value < 0, |value|)``."""
    negative = value < 0
    return negative, with_sign(negative, value)


def division_step(remainder, divisor):
    """One restoring-division step: ``(remainder - divisor, whether it is >= 0)``; the step
    takes the difference (and a quotient bit of 1) when it is."""
    diff = remainder - divisor
    return diff, diff >= 0
