"""Pack and unpack Amaranth ``data`` layouts to and from the integers a simulator sees.

Layer: ``sim``. Amaranth flattens a stream payload (a :class:`~amaranth.lib.data.StructLayout`)
into one Verilog vector, first field at the least significant bit. A cocotb testbench writes
and reads that vector as an integer; these helpers convert between it and nested Python
values (``dict`` for a struct, ``list`` for an array, ``int`` for a field). Pure Python: they
look only at the layout description, so they are fast enough to call every cycle.
"""

from __future__ import annotations

import enum

from amaranth.hdl import Shape
from amaranth.lib import data

__all__ = ["pack", "unpack"]


def _fields(layout):
    """Yield ``(key, offset, shape_or_layout)`` for a struct or array layout."""
    if isinstance(layout, data.ArrayLayout):
        width = Shape.cast(layout.elem_shape).width
        for n in range(layout.length):
            yield n, n * width, layout.elem_shape
    else:
        for name, field in layout:
            yield name, field.offset, field.shape


def _compile(layout):
    """Return a fast plan for ``layout``: ``(kind, ...)``; cached on the layout object."""
    if isinstance(layout, data.Layout):
        kind = "array" if isinstance(layout, data.ArrayLayout) else "struct"
        return (kind, [(key, offset, _compile(shape)) for key, offset, shape in _fields(layout)])
    shape = Shape.cast(layout)
    return ("int", shape.width, shape.signed)


_plans: dict = {}


def _plan(layout):
    key = id(layout)
    if key not in _plans:
        _plans[key] = (layout, _compile(layout))   # keep the layout alive with its id
    return _plans[key][1]


def _pack(plan, value) -> int:
    kind = plan[0]
    if kind == "int":
        _, width, signed = plan
        value = int(value.value if isinstance(value, enum.Enum) else value)
        lo, hi = (-(1 << (width - 1)), (1 << (width - 1)) - 1) if signed else (0, (1 << width) - 1)
        if not lo <= value <= hi:
            raise ValueError(f"Value {value} does not fit a {'signed' if signed else 'unsigned'} "
                             f"{width}-bit field")
        return value & ((1 << width) - 1)
    bits = 0
    for key, offset, sub in plan[1]:
        if kind == "array" or key in value:
            bits |= _pack(sub, value[key]) << offset
    return bits


def _unpack(plan, bits: int):
    kind = plan[0]
    if kind == "int":
        _, width, signed = plan
        bits &= (1 << width) - 1
        if signed and bits >> (width - 1):
            bits -= 1 << width
        return bits
    if kind == "array":
        return [_unpack(sub, bits >> offset) for _, offset, sub in plan[1]]
    return {key: _unpack(sub, bits >> offset) for key, offset, sub in plan[1]}


def pack(layout, value) -> int:
    """Return the unsigned integer of ``value`` laid out by ``layout``; missing struct fields are 0.

    Raises
    ------
    ValueError
        A field value does not fit its width.
    """
    return _pack(_plan(layout), value)


def unpack(layout, bits: int):
    """Return the nested Python value (``dict``/``list``/``int``) of ``bits`` under ``layout``."""
    return _unpack(_plan(layout), int(bits))
