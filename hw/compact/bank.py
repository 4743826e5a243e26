"""Bank: one single-port 32-bit memory bank of the compact engine (an iCE40 SPRAM pair)."""

from amaranth.hdl import ClockSignal, Const, Instance, Module, Signal
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

from ..plan import WORD_BITS
from .plan import BANK_ROWS

__all__ = ["Bank", "ADDR_BITS"]

#: Width of a row address.
ADDR_BITS = (BANK_ROWS - 1).bit_length()


class Bank(wiring.Component):
    """A single-port 32-bit memory of ``BANK_ROWS`` rows: one read *or* one write a cycle.

    The command (``addr``, ``wdata``, ``we``) is registered first, so that the long routes to
    the SPRAM blocks start at flip-flops: ``we`` high writes ``wdata`` at ``addr`` on the
    next cycle; otherwise ``addr`` is read and ``rdata`` holds the row two cycles later (and
    keeps it while the same row is read again). Commands take effect in the order given.

    Parameters
    ----------
    spram : bool
        ``True``: two iCE40 ``SB_SPRAM256KA`` blocks (16 k x 16 bit each); ``False``: an
        Amaranth memory with the same behaviour (simulation, other devices).
    """

    addr: In(ADDR_BITS)
    wdata: In(WORD_BITS)
    we: In(1)
    rdata: Out(WORD_BITS)

    def __init__(self, *, spram: bool = False):
        if not isinstance(spram, bool):
            raise TypeError(f"spram must be a bool, not {spram!r}")
        self._spram = spram
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        addr, wdata, we = Signal(ADDR_BITS), Signal(WORD_BITS), Signal()
        m.d.sync += [addr.eq(self.addr), wdata.eq(self.wdata), we.eq(self.we)]
        if self._spram:
            for half in range(2):
                m.submodules[f"spram{half}"] = Instance(
                    "SB_SPRAM256KA",
                    i_ADDRESS=addr, i_DATAIN=wdata[16 * half:16 * half + 16],
                    i_MASKWREN=Const(0b1111, 4), i_WREN=we, i_CHIPSELECT=Const(1),
                    i_CLOCK=ClockSignal("sync"), i_STANDBY=Const(0),
                    i_SLEEP=Const(0), i_POWEROFF=Const(1),
                    o_DATAOUT=self.rdata[16 * half:16 * half + 16])
        else:
            m.submodules.mem = mem = memory.Memory(shape=WORD_BITS, depth=BANK_ROWS, init=[])
            rd = mem.read_port()
            wr = mem.write_port()
            m.d.comb += [rd.addr.eq(addr), rd.en.eq(~we), self.rdata.eq(rd.data),
                         wr.addr.eq(addr), wr.data.eq(wdata), wr.en.eq(we)]
        return m
