"""Memories of the accelerator as explicit, swappable modules.

Layer: ``hw`` (Amaranth). The weight memories of a large model (Net1: 2.4 M weights) must
not become millions of Verilog statements, so by default a :class:`Rom` is an instance of a
small hand-written Verilog module (:data:`ROM_VERILOG`, ``augsnn_rom``) that loads a
``$readmemh`` file (:mod:`augsnn.hw.emit` writes it). :func:`banked_rom`'s ``backend="memory"``
makes Amaranth memories with the contents inline instead (small models, the board builds,
or Amaranth's own simulator, which cannot run a Verilog instance). A board flow (iCE40
SPRAM, ECP5 EBR) swaps the module without touching the datapath: the port contract is
``addr`` in, ``data`` out one cycle later (every cycle a read; the datapath never stalls).
:func:`banked_rom` is what the lane accelerator uses: a read in two cycles, the block RAM's
data registered before anything else (with inline contents, one register per bank).
"""

from __future__ import annotations

from types import SimpleNamespace

from amaranth.hdl import ClockSignal, Const, Instance, Module, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .banked import bank_depth, banked_memory

__all__ = ["Rom", "banked_rom", "check_rom_backend", "ROM_MODULE", "ROM_VERILOG"]

#: Name of the Verilog ROM module.
ROM_MODULE = "augsnn_rom"

#: The Verilog ROM module: synchronous read with enable, contents from a ``$readmemh`` file.
ROM_VERILOG = f"""\
// Read-only memory of the augsnn accelerator: synchronous read with enable, contents from
// the $readmemh file INIT_FILE (one hexadecimal word per line, word 0 first).
module {ROM_MODULE} #(
    parameter integer WIDTH = 8,
    parameter integer DEPTH = 2,
    parameter integer ABITS = 1,
    parameter INIT_FILE = "rom.hex"
) (
    input wire clk,
    input wire en,
    input wire [ABITS-1:0] addr,
    output reg [WIDTH-1:0] data
);
    reg [WIDTH-1:0] mem [0:(1 << ABITS) - 1];
    initial begin
        $readmemh(INIT_FILE, mem, 0, DEPTH - 1);
    end
    always @(posedge clk) begin
        if (en) begin
            data <= mem[addr];
        end
    end
endmodule
"""


class Rom(wiring.Component):
    """A read-only memory read from a ``$readmemh`` file: ``data`` is the word at ``addr``
    one cycle later (an instance of :data:`ROM_MODULE`; inline contents go through
    :func:`~augsnn.hw.banked.banked_memory` instead, see :func:`banked_rom`).

    Parameters
    ----------
    width, depth : int
        Word width and number of words.
    init_file : str
        Path of the hex file written in the Verilog.

    Members
    -------
    addr : In(addr_bits)
    data : Out(width)
    """

    def __init__(self, *, width: int, depth: int, init_file: str = "rom.hex"):
        self._width, self._depth = int(width), int(depth)
        self._init_file = str(init_file)
        self._addr_bits = max(1, (self._depth - 1).bit_length())
        super().__init__({"addr": In(self._addr_bits), "data": Out(self._width)})

    width = property(lambda self: self._width)
    depth = property(lambda self: self._depth)
    addr_bits = property(lambda self: self._addr_bits)
    init_file = property(lambda self: self._init_file)

    def elaborate(self, platform):
        m = Module()
        m.submodules.rom = Instance(
            ROM_MODULE,
            p_WIDTH=self._width, p_DEPTH=self._depth, p_ABITS=self._addr_bits,
            p_INIT_FILE=self._init_file,
            i_clk=ClockSignal("sync"), i_en=Const(1), i_addr=self.addr, o_data=self.data)
        return m


def check_rom_backend(backend) -> str:
    """``backend`` if it is ``"readmemh"`` or ``"memory"``; else a ``ValueError`` naming it."""
    if backend not in ("readmemh", "memory"):
        raise ValueError(f"ROM backend must be 'readmemh' or 'memory', not {backend!r}")
    return backend


def banked_rom(m: Module, name: str, *, width: int, depth: int, words,
               backend: str = "readmemh", init_file: str = "rom.hex",
               bank_words: int | None = None) -> SimpleNamespace:
    """Add to ``m`` a read-only memory read in two cycles, and return its ports: ``data`` is
    the word at ``addr`` two cycles later (a pipeline: a new address every cycle).

    Cycle 1 reads the block RAMs, cycle 2 registers each bank's word; ``data`` is the bank
    multiplexer after those registers. An ECP5 block RAM's clock-to-output is about 6 ns
    without its output register (which Yosys does not use), so a multiplexer between a block
    RAM and the next register was a critical path; with the ``memory`` backend the banks are
    explicit (:func:`~augsnn.hw.banked.banked_memory`: one Amaranth ``Memory`` per bank of
    :func:`~augsnn.hw.banked.bank_depth` words, or ``bank_words``) and each bank's word is
    registered beside it. The ``readmemh`` backend (simulation, large models) is one
    :class:`Rom` (submodule ``name``) with a register after it: the same timing of ``data``.

    Returns
    -------
    SimpleNamespace
        ``addr`` (a signal to drive), ``data`` (a value), ``banks`` (int; 1 for ``readmemh``).
    """
    if check_rom_backend(backend) == "memory":
        bank = bank_depth(int(depth), int(width)) if bank_words is None else bank_words
        banks = banked_memory(m, name, shape=unsigned(width), depth=depth, init=words,
                              bank_words=bank)
        return SimpleNamespace(addr=banks.r_addr, data=banks.q, banks=banks.banks)
    m.submodules[name] = rom = Rom(width=width, depth=depth, init_file=init_file)
    q = Signal(width, name=f"{name}_q", reset_less=True)
    m.d.sync += q.eq(rom.data)
    return SimpleNamespace(addr=rom.addr, data=q, banks=1)
