"""The compact engine's multiplier lanes: 8 multipliers adding into block-RAM accumulators.

Layer: ``hw`` (Amaranth), a unit of :class:`~augsnn.hw.compact.accelerator.CompactAccelerator`.

A scatter layer's weights are stored as 8-byte *groups* (the weights of one input channel
and kernel position to a block of 8 output channels), bytes 0-3 in bank 0 and 4-7 in bank 1
at the same row, so one read of both banks feeds 8 multipliers. Each multiplier adds into
its own accumulator lane (a block RAM of :data:`~augsnn.hw.compact.plan.LANE_ROWS` rows;
lane ``i`` holds output channel ``8 b + i``): one group, 8 synaptic operations, a cycle. The
groups come from :class:`~augsnn.hw.compact.scatter.Scatter`; the update pass
(:mod:`.update`) reads and clears the accumulators through the ``upd_*`` port.

Pipeline of a group issued at cycle ``c`` (``issue.valid``; the bank read is issued by the
engine in the same cycle): ``c + 2`` the row arrives, bytes registered; ``c + 3`` 8 products
registered, the lanes read; ``c + 4`` the sums registered; ``c + 5`` the lanes written, so a
read at ``c + 3`` sees the writes of groups issued up to ``c - 3`` (the scatter issues no two
groups into one row less than 3 cycles apart). Lane 0's multiplier also computes the first
layer's current (the *gather*: a weight byte of a bank-0 row times a pixel, one a cycle;
the sum is the engine's).
"""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal, signed
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from ..plan import WORD_BITS
from .bank import ADDR_BITS
from .plan import LANE_ROWS, LANES

__all__ = ["MacLanes", "LANE_BITS", "group_layout"]

LANE_BITS = (LANE_ROWS - 1).bit_length()


def group_layout(x_bits: int) -> data.StructLayout:
    """A group issued to the lanes: its weight ``row`` in both banks, the accumulator row
    ``a`` of its first channel block, the input value ``x`` and whether its block is the
    layer's last (``lastblk``: only the real channels of that block are written)."""
    return data.StructLayout({"row": ADDR_BITS, "a": LANE_BITS + 1, "x": signed(x_bits),
                              "lastblk": 1})


class MacLanes(wiring.Component):
    """The 8 accumulator lanes and their multiply-add pipeline (see the module docstring).

    Parameters
    ----------
    x_bits : int
        Width of a scatter input value (a pooled spike).
    acc_bits : int
        Width of an accumulator.

    Members
    -------
    issue : In(stream(group_layout(x_bits), always_ready))
        A group, the cycle its bank rows are read.
    rdata : In(2 * WORD_BITS)
        The rows of both banks (bank 0 in the low half), two cycles after their read.
    lastmask : In(LANES)
        The real channels of the layer's last block.
    gather, gather_last, use_pixel, sel, pixel, r0 : In
        The gather: a byte is issued (its row read on bank port 0 the same cycle), it is the
        neuron's last, the pipeline runs the gather (lane 0 multiplies ``pixel`` by byte
        ``sel`` of ``r0``, the port-0 row; nothing is written to the lanes).
    in_upd, upd_ra, upd_wa, upd_we : In
        The update pass owns the lanes' ports: read address, write address, per-lane write
        enables (the write data is 0: the accumulator is cleared).
    lane_data : Out(LANES x acc_bits)
        The lanes' read data (a cycle after the address).
    prod_valid, prod_last, prod : Out
        Lane 0's gather product (4 cycles after its byte was issued), whether it is the
        neuron's last.
    drained : Out(1)
        No group or gather byte is in the pipeline (registered).
    """

    def __init__(self, *, x_bits: int, acc_bits: int):
        self.x_bits, self.acc_bits = x_bits, acc_bits
        super().__init__({
            "issue": In(stream.Signature(group_layout(x_bits), always_ready=True)),
            "rdata": In(2 * WORD_BITS), "lastmask": In(LANES),
            "gather": In(1), "gather_last": In(1), "use_pixel": In(1), "sel": In(2),
            "pixel": In(8), "r0": In(WORD_BITS),
            "in_upd": In(1), "upd_ra": In(LANE_BITS), "upd_wa": In(LANE_BITS),
            "upd_we": In(LANES),
            "lane_data": Out(data.ArrayLayout(acc_bits, LANES)),
            "prod_valid": Out(1), "prod_last": Out(1), "prod": Out(signed(8 + x_bits)),
            "drained": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        x_bits, acc_bits = self.x_bits, self.acc_bits
        prod_bits = 8 + x_bits
        lane_rd, lane_wr = [], []
        for i in range(LANES):
            mem = memory.Memory(shape=acc_bits, depth=LANE_ROWS, init=[])
            m.submodules[f"acc{i}"] = mem
            lane_rd.append(mem.read_port())
            lane_wr.append(mem.write_port())
            m.d.comb += self.lane_data[i].eq(lane_rd[i].data)

        def stage(name):
            return dict(v=Signal(name=f"{name}_v"), a=Signal(LANE_BITS + 1, name=f"{name}_a"),
                        x=Signal(signed(x_bits), name=f"{name}_x"),
                        lastblk=Signal(name=f"{name}_lastblk"), last=Signal(name=f"{name}_last"),
                        sel=Signal(2, name=f"{name}_sel"))
        s1, s2, s3, s4, s5 = (stage(f"s{k}") for k in range(1, 6))
        iss = self.issue
        m.d.sync += [s1["v"].eq(iss.valid | self.gather), s1["a"].eq(iss.payload.a),
                     s1["x"].eq(iss.payload.x), s1["lastblk"].eq(iss.payload.lastblk),
                     s1["last"].eq(self.gather_last & self.gather), s1["sel"].eq(self.sel)]
        for src, dst in ((s1, s2), (s2, s3), (s3, s4), (s4, s5)):
            m.d.sync += [dst[k].eq(src[k]) for k in ("v", "a", "lastblk", "last", "sel")]
        mask = Signal(LANES)
        m.d.comb += mask.eq(Mux(s5["lastblk"], self.lastmask, Const((1 << LANES) - 1, LANES)))
        m.d.sync += [s2["x"].eq(Mux(self.use_pixel, self.pixel, s1["x"])), s3["x"].eq(s2["x"])]
        # c + 2: the group's bytes (lane 0: the gather's byte of the row on port 0)
        raw = self.rdata
        wb = [Signal(signed(8), name=f"wb{i}", reset_less=True) for i in range(LANES)]
        m.d.sync += wb[0].eq(Mux(self.use_pixel, self.r0.word_select(s2["sel"], 8), raw[0:8]))
        m.d.sync += [wb[i].eq(raw[8 * i:8 * i + 8]) for i in range(1, LANES)]
        # c + 3: the products, registered; the lanes read
        prod = [Signal(signed(prod_bits), name=f"prod{i}", reset_less=True) for i in range(LANES)]
        m.d.sync += [prod[i].eq(wb[i] * s3["x"]) for i in range(LANES)]
        # c + 4: the sums (0 while an update pass clears the lanes); c + 5: the write
        sums = [Signal(acc_bits, name=f"sum{i}") for i in range(LANES)]
        for i in range(LANES):
            rd, wr = lane_rd[i], lane_wr[i]
            with m.If(self.in_upd):
                m.d.sync += sums[i].eq(0)
                m.d.comb += [rd.addr.eq(self.upd_ra), wr.addr.eq(self.upd_wa),
                             wr.en.eq(self.upd_we[i])]
            with m.Else():
                m.d.sync += sums[i].eq(rd.data.as_signed() + prod[i])
                m.d.comb += [rd.addr.eq(s3["a"]), wr.addr.eq(s5["a"]),
                             wr.en.eq(s5["v"] & mask[i] & ~self.use_pixel)]
            m.d.comb += wr.data.eq(sums[i])
        # the gather's product
        m.d.comb += [self.prod_valid.eq(s4["v"] & self.use_pixel), self.prod_last.eq(s4["last"]),
                     self.prod.eq(prod[0])]
        m.d.sync += self.drained.eq(~(iss.valid | s1["v"] | s2["v"] | s3["v"] | s4["v"]
                                      | s5["v"]))
        return m
