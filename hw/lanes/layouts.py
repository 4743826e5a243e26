"""Stream layouts and small helpers shared by the lane accelerator's units.

Layer: ``hw`` (Amaranth). The payload layouts between the units of
:mod:`augsnn.hw.lanes.accelerator` (events, beats, NeuronCore input/output per layer),
a combinational popcount and a constant multiplier made of shifts and adds.
"""

from __future__ import annotations

from amaranth.hdl import Const, Module, Signal, signed, unsigned
from amaranth.lib import data

from augsnn.golden.checks import unsigned_bits

from ..neuron_core import input_layout, output_layout
from .plan import LayerPlan

__all__ = ["log2", "const_mul", "event_layout", "beat_layout", "core_input_layout",
           "core_output_layout", "popcount"]


def log2(value: int) -> int:
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
    return input_layout(lanes=lp.core_lanes, row_bits=unsigned_bits(lp.rows - 1),
                        current_bits=current_bits)


def core_output_layout(lp: LayerPlan) -> data.StructLayout:
    return output_layout(lanes=lp.core_lanes, index_bits=unsigned_bits(lp.neurons - 1),
                         coef_bits=lp.neuron.coef_bits)


def popcount(m: Module, bits, name: str):
    """Return a signal holding the number of set bits of ``bits`` (combinational)."""
    n = len(bits)
    total = Signal(range(n + 1), name=name)
    m.d.comb += total.eq(sum(bits[k] for k in range(n)))
    return total
