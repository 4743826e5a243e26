"""Block-RAM banks made explicit, so that a register comes between a block RAM and the
multiplexer that joins the banks.

Layer: ``hw`` (Amaranth). A memory deeper than one block RAM holds in its cheapest shape is
split by Yosys into banks joined by a multiplexer straight after the block RAMs' outputs; on
the ECP5 a DP16KD's clock-to-output is about 6 ns without its output register (which Yosys
does not use), so block RAM -> multiplexer -> register was a critical path at 100 MHz (the
first layer's membranes and current, a weight ROM). :func:`bank_depth` finds the split Yosys
makes; :func:`banked_memory` makes it in the design: one ``Memory`` per bank, each bank's read
data registered beside it, the multiplexer after those registers.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

from amaranth.hdl import Array, Module, Signal
from amaranth.lib import memory

__all__ = ["COLLISION_X_MARK", "DP16KD_SHAPES", "bank_depth", "banked_memory",
           "cheapest_shape"]

#: Part of the name of a memory whose design never uses a read of the word written in the same
#: cycle (``banked_memory(..., collision_x=True)``). Amaranth's read port without transparency
#: returns the old word then, which a DP16KD does not promise, so Yosys emulates it with a
#: delayed write and a multiplexer after the block RAM (a LUT between the block RAM and its
#: data register); the board build tells Yosys that such a read is undefined instead
#: (``COLLISION_X_MASK`` of the read ports of memories named with this mark, boards/build.py).
COLLISION_X_MARK = "_cx"

#: The (depth, width) shapes of one ECP5 DP16KD block RAM (18 kbit; 36 bits wide only as a
#: read-only or simple dual-port memory).
DP16KD_SHAPES = ((512, 36), (1024, 18), (2048, 9), (4096, 4), (8192, 2), (16384, 1))


def cheapest_shape(depth: int, width: int, shapes=DP16KD_SHAPES) -> tuple[tuple[int, int], int]:
    """The block-RAM shape ``(depth, width)`` that holds a ``depth x width`` memory in the
    fewest blocks (a tie: the deeper shape, fewer banks), and that number of blocks."""
    def blocks(s):
        return math.ceil(depth / s[0]) * math.ceil(width / s[1])
    best = min(shapes, key=lambda s: (blocks(s), -s[0]))
    return best, blocks(best)


def bank_depth(depth: int, width: int, shapes=DP16KD_SHAPES) -> int:
    """Words per bank of a ``depth x width`` memory: the depth of :func:`cheapest_shape`, or
    ``depth`` when one bank holds it."""
    return min(depth, cheapest_shape(depth, width, shapes)[0][0])


def banked_memory(m: Module, name: str, *, shape, depth: int, init=(),
                  transparent: bool = False, bank_words: int, r_en=None,
                  q_en=None, collision_x: bool = False) -> SimpleNamespace:
    """Add to ``m`` a memory with one read port whose data is registered, and return its
    ports: ``q`` is what a register loaded from a ``Memory`` read port would hold
    (``q <= mem[r_addr]``: the read when ``r_en``, the register loaded when ``q_en``; values,
    ``None``: always). It is built as ``ceil(depth / bank_words)`` memories (banks of a
    power-of-two number of words; submodules ``name`` or ``name_bank<b>``), each with its own
    data register; ``q`` is the bank multiplexer after them (one bank: a memory and its data
    register). One write port (``w_en``, ``w_addr``, ``w_data``); with ``transparent`` the read
    of a word written in the same cycle sees the new data. ``collision_x``: the caller never
    uses such a read (it forwards the write instead); the memories are named with
    :data:`COLLISION_X_MARK` and the board build lets that read be undefined (no emulation
    logic after the block RAM). Simulation still returns the old word.

    The registers are added to ``m`` and have no reset (they hold data): no module of their
    own, whose reset input would go unused.

    Returns
    -------
    SimpleNamespace
        ``r_addr``, ``w_addr``, ``w_en``, ``w_data`` (signals to drive), ``q`` (a signal),
        ``banks`` (int).
    """
    depth = int(depth)
    values = list(init) if not isinstance(init, int) else [init] * depth
    abits = max(1, (depth - 1).bit_length())
    if isinstance(bank_words, bool) or not isinstance(bank_words, int) or bank_words < 1:
        raise ValueError(f"bank_words must be an integer >= 1, not {bank_words!r}")
    # A power of two (the high address bits select the bank); one bank: no multiplexer.
    bank = min(1 << (bank_words - 1).bit_length(), 1 << abits)
    banks = math.ceil(depth / bank)
    p = SimpleNamespace(
        r_addr=Signal(abits, name=f"{name}_r_addr"), w_addr=Signal(abits, name=f"{name}_w_addr"),
        w_en=Signal(name=f"{name}_w_en"), w_data=Signal(shape, name=f"{name}_w_data"),
        banks=banks)
    r_on = 1 if r_en is None else r_en
    q_on = 1 if q_en is None else q_en
    lo = (bank - 1).bit_length()
    qs = []
    for b in range(banks):
        n = min(bank, depth - b * bank)
        mem = memory.Memory(shape=shape, depth=max(2, n), init=values[b * bank:b * bank + n])
        mark = COLLISION_X_MARK if collision_x else ""
        m.submodules[(name if banks == 1 else f"{name}_bank{b}") + mark] = mem
        wr = mem.write_port()
        rd = mem.read_port(transparent_for=(wr,) if transparent else ())
        hit = (p.w_addr[lo:] == b) if banks > 1 else 1
        m.d.comb += [
            rd.addr.eq(p.r_addr[:lo] if lo else 0),
            wr.addr.eq(p.w_addr[:lo] if lo else 0), wr.en.eq(p.w_en & hit),
            wr.data.eq(p.w_data),
        ]
        if r_en is not None:
            m.d.comb += rd.en.eq(r_en)
        q = Signal(shape, name=f"{name}_q{b}" if banks > 1 else f"{name}_q", reset_less=True)
        with m.If(q_on):
            m.d.sync += q.eq(rd.data)
        qs.append(q)
    if banks == 1:
        p.q = qs[0]
        return p
    sel1 = Signal(range(banks), name=f"{name}_sel1", reset_less=True)
    sel2 = Signal(range(banks), name=f"{name}_sel2", reset_less=True)
    with m.If(r_on):
        m.d.sync += sel1.eq(p.r_addr[lo:])
    with m.If(q_on):
        m.d.sync += sel2.eq(sel1)
    p.q = Signal(shape, name=f"{name}_q")
    m.d.comb += p.q.eq(Array(qs)[sel2])
    return p
