"""Block-RAM banks made explicit, so that a register comes between a block RAM and the
multiplexer that joins the banks.

Layer: ``hw`` (Amaranth). A memory deeper than one block RAM holds in its cheapest shape is
split by Yosys into banks joined by a multiplexer straight after the block RAMs' outputs; on
the ECP5 a DP16KD's clock-to-output is about 6 ns without its output register (which Yosys
does not use), so block RAM -> multiplexer -> register was a critical path at 100 MHz (the
first layer's membranes and current, a weight ROM). :func:`bank_depth` finds the split Yosys
makes; :class:`BankedMemory` makes it in the design: one ``Memory`` per bank, each bank's read
data registered beside it, the multiplexer after those registers.
"""

from __future__ import annotations

import math

from amaranth.hdl import Array, Module, Signal
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["DP16KD_SHAPES", "bank_depth", "BankedMemory"]

#: The (depth, width) shapes of one ECP5 DP16KD block RAM (18 kbit; 36 bits wide only as a
#: read-only or simple dual-port memory).
DP16KD_SHAPES = ((512, 36), (1024, 18), (2048, 9), (4096, 4), (8192, 2), (16384, 1))


def bank_depth(depth: int, width: int, shapes=DP16KD_SHAPES) -> int:
    """Words per bank of a ``depth x width`` memory: the depth of the block-RAM shape that
    holds it in the fewest blocks (a tie: the deeper shape, fewer banks), or ``depth`` when
    one bank holds it."""
    best = min(shapes, key=lambda s: (math.ceil(depth / s[0]) * math.ceil(width / s[1]), -s[0]))
    return min(depth, best[0])


class BankedMemory(wiring.Component):
    """A memory with one read port whose data is registered: ``q`` is what a register loaded
    from a ``Memory`` read port would hold (``q <= mem[r_addr]``: the read when ``r_en``, the
    register loaded when ``q_en``), built as ``ceil(depth / bank_words)`` memories (banks of
    a power-of-two number of words), each with its own data register; ``q`` is the bank
    multiplexer after them (one bank: a memory and its data register). One write port (``w_en``, ``w_addr``, ``w_data``); with
    ``transparent`` the read of a word written in the same cycle sees the new data.

    Members
    -------
    r_addr, r_en, q_en, w_addr, w_en, w_data : In
    q : Out(shape)
    """

    def __init__(self, *, shape, depth: int, init=(), transparent: bool = False,
                 bank_words: int):
        self._shape, self._depth = shape, int(depth)
        self._init = list(init) if not isinstance(init, int) else [init] * self._depth
        self._transparent = bool(transparent)
        abits = max(1, (self._depth - 1).bit_length())
        if isinstance(bank_words, bool) or not isinstance(bank_words, int) or bank_words < 1:
            raise ValueError(f"bank_words must be an integer >= 1, not {bank_words!r}")
        # A power of two (the high address bits select the bank); one bank: no multiplexer.
        self._bank = min(1 << (bank_words - 1).bit_length(), 1 << abits)
        super().__init__({"r_addr": In(abits), "r_en": In(1, init=1), "q_en": In(1, init=1),
                          "q": Out(shape), "w_addr": In(abits), "w_en": In(1),
                          "w_data": In(shape)})

    @property
    def banks(self) -> int:
        return math.ceil(self._depth / self._bank)

    def elaborate(self, platform):
        m = Module()
        lo = (self._bank - 1).bit_length()
        sel1 = Signal(range(self.banks))
        sel2 = Signal(range(self.banks))
        qs = []
        for b in range(self.banks):
            n = min(self._bank, self._depth - b * self._bank)
            init = self._init[b * self._bank:b * self._bank + n]
            mem = memory.Memory(shape=self._shape, depth=max(2, n), init=init)
            m.submodules[f"bank{b}"] = mem
            wr = mem.write_port()
            rd = mem.read_port(transparent_for=(wr,) if self._transparent else ())
            m.d.comb += [
                rd.addr.eq(self.r_addr[:lo] if lo else 0), rd.en.eq(self.r_en),
                wr.addr.eq(self.w_addr[:lo] if lo else 0),
                wr.en.eq(self.w_en & (self.w_addr[lo:] == b)), wr.data.eq(self.w_data),
            ]
            q = Signal(self._shape, name=f"q{b}", reset_less=True)
            with m.If(self.q_en):
                m.d.sync += q.eq(rd.data)
            qs.append(q)
        with m.If(self.r_en):
            m.d.sync += sel1.eq(self.r_addr[lo:])
        with m.If(self.q_en):
            m.d.sync += sel2.eq(sel1)
        m.d.comb += self.q.eq(Array(qs)[sel2] if len(qs) > 1 else qs[0])
        return m
