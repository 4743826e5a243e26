"""The compact engine's update write side: a neuron's results back into the memories.

Layer: ``hw`` (Amaranth), a unit of :class:`~augsnn.hw.compact.accelerator.CompactAccelerator`.

:class:`~augsnn.hw.compact.fire.FirePipe` holds a neuron's results for a slot; at the slot's
cycle ``write_at`` (``LATENCY + 3`` cycles after the neuron's reads, never a slot's first
cycle) :class:`Writeback` writes the reset membrane back (bank port 0, at the walk's row
``vp``) and adds the spike into its pooling window of the next layer's spike map (entry
``paddr``, read the cycle before: ``sm_ra`` is always ``paddr``). An output-layer spike goes
to its count instead (bank port 1): the count is read the cycle before the write, added the
cycle after it and written two cycles after it.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..plan import WORD_BITS
from .bank import ADDR_BITS

__all__ = ["Writeback"]


class Writeback(wiring.Component):
    """Write a neuron's results (see the module docstring).

    Parameters
    ----------
    slot : int
        Cycles of a slot; ``write_at``: the write's cycle of the slot.
    coef_bits, v_bits : int
        Widths of FirePipe's spike coefficient and reset membrane (signed).
    spike_bits, map_bits : int
        Width of a spike-map entry and of its address.

    Members
    -------
    cycle, enable, is_last : In
        The slot's cycle; the pass owns the memories; the layer is the output layer.
    f_valid, f_coef, f_nz, f_v : In
        FirePipe's outputs.
    vp, cp, paddr : In
        The neuron's membrane row, count row and pooled spike-map entry (the engine's walk).
    sm_rd, r1 : In
        The spike map's read data; bank port 1's read data.
    write : Out(1)
        The neuron's write cycle (the engine then advances its walk).
    v_addr, v_data, v_we : Out
        Bank port 0.
    c_en, c_addr, c_data, c_we : Out
        Bank port 1, while ``c_en`` (the count's read, then its write).
    sm_ra, sm_wa, sm_wd, sm_we : Out
        The spike map's ports.
    counting : Out(1)
        A count's add is under way (its write follows the next cycle).
    """

    def __init__(self, *, slot: int, write_at: int, coef_bits: int, v_bits: int,
                 spike_bits: int, map_bits: int):
        self.slot, self.write_at = slot, write_at
        super().__init__({
            "cycle": In(range(slot)), "enable": In(1), "is_last": In(1),
            "f_valid": In(1), "f_coef": In(signed(coef_bits)), "f_nz": In(1),
            "f_v": In(signed(v_bits)),
            "vp": In(ADDR_BITS), "cp": In(ADDR_BITS), "paddr": In(map_bits),
            "sm_rd": In(signed(spike_bits)), "r1": In(WORD_BITS),
            "write": Out(1),
            "v_addr": Out(ADDR_BITS), "v_data": Out(signed(v_bits)), "v_we": Out(1),
            "c_en": Out(1), "c_addr": Out(ADDR_BITS), "c_data": Out(WORD_BITS),
            "c_we": Out(1),
            "sm_ra": Out(map_bits), "sm_wa": Out(map_bits), "sm_wd": Out(signed(spike_bits)),
            "sm_we": Out(1), "counting": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        wr = self.write
        m.d.comb += wr.eq(self.f_valid & (self.cycle == self.write_at) & self.enable)
        rd_map = Signal()                       # the spike-map read of the coming write
        m.d.comb += rd_map.eq(self.f_valid & (self.cycle == (self.write_at - 1) % self.slot))
        m.d.comb += self.sm_ra.eq(self.paddr)
        # counts (output layer): read the cycle before the write, add, write two cycles after
        o_w = Signal.like(self.f_coef)
        cw1, cw2 = self.counting, Signal()
        cw_a = Signal(ADDR_BITS)
        count_sum = Signal(WORD_BITS)
        m.d.sync += [cw1.eq(wr & self.is_last), cw2.eq(cw1)]
        with m.If(rd_map & self.is_last & self.enable):
            m.d.comb += [self.c_en.eq(1), self.c_addr.eq(self.cp)]
        with m.If(wr):
            m.d.sync += [o_w.eq(self.f_coef), cw_a.eq(self.cp)]
        with m.If(cw1):
            m.d.sync += count_sum.eq(self.r1.as_signed() + o_w)
        with m.If(cw2):
            m.d.comb += [self.c_en.eq(1), self.c_addr.eq(cw_a), self.c_data.eq(count_sum),
                         self.c_we.eq(1)]
        with m.If(wr):
            m.d.comb += [self.v_addr.eq(self.vp), self.v_data.eq(self.f_v), self.v_we.eq(1)]
            with m.If(~self.is_last):
                m.d.comb += [self.sm_wa.eq(self.paddr),
                             self.sm_wd.eq(self.sm_rd + self.f_coef), self.sm_we.eq(1)]
        return m
