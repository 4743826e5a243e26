"""The frames on an accelerator's ports, as Amaranth layouts (shared by every engine).

Layer: ``hw`` (Amaranth). Both engines take image frames as a stream of bytes and answer
with a stream of :func:`result_layout` words (docs/boards.md has the bytes on the wire);
widths and the answer's size come from :mod:`augsnn.hw.plan`.
"""

from __future__ import annotations

from amaranth.hdl import unsigned
from amaranth.lib import data

from .plan import WORD_BITS

__all__ = ["result_layout"]


def result_layout() -> data.StructLayout:
    """Payload of the result stream: a 32-bit word and the end-of-frame flag."""
    return data.StructLayout({"data": unsigned(WORD_BITS), "last": unsigned(1)})
