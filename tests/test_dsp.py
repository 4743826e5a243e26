"""hw/dsp.registered_product: the portable form in Amaranth's simulator, and the ECP5 form (one
MULT18X18D with its own registers) against the portable form in Verilator, cycle by cycle,
with the cell's behaviour from sim/models/MULT18X18D.v."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

import pytest
from amaranth.back import verilog
from amaranth.hdl import Elaboratable, Module, Signal, signed
from amaranth.sim import Simulator

from augsnn.hw.dsp import registered_product
from augsnn.sim.toolchain import setup_verilator

MODEL = Path(__file__).resolve().parents[1] / "sim" / "models" / "MULT18X18D.v"
CASES = [(8, 9, 17), (8, 10, 18), (18, 18, 36), (3, 5, 6)]     # a bits, b bits, product bits


class _Pair(Elaboratable):
    """The portable and the ECP5 form on the same operands."""

    def __init__(self, abits, bbits, pbits):
        self.a = Signal(signed(abits), name="a")
        self.b = Signal(signed(bbits), name="b")
        self.portable = Signal(pbits, name="portable")
        self.hard = Signal(pbits, name="hard")

    def elaborate(self, platform):
        m = Module()
        registered_product(m, self.a, self.b, self.portable, name="mul_portable")
        registered_product(m, self.a, self.b, self.hard, hard="ecp5", name="mul_hard")
        return m


@pytest.mark.parametrize("abits, bbits, pbits", CASES)
def test_portable_form_is_the_product_two_cycles_later(abits, bbits, pbits):
    rng = random.Random(abits * 100 + bbits)
    m = Module()
    a, b, out = Signal(signed(abits)), Signal(signed(bbits)), Signal(pbits)
    registered_product(m, a, b, out)
    ops = [(rng.randrange(-2 ** (abits - 1), 2 ** (abits - 1)),
            rng.randrange(-2 ** (bbits - 1), 2 ** (bbits - 1))) for _ in range(60)]
    ops += [(-2 ** (abits - 1), -2 ** (bbits - 1)), (2 ** (abits - 1) - 1, -2 ** (bbits - 1))]
    seen = []

    async def bench(ctx):
        for x, y in ops + [(0, 0)] * 2:
            ctx.set(a, x)
            ctx.set(b, y)
            await ctx.tick()
            seen.append(ctx.get(out))

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    mask = (1 << pbits) - 1
    # Operands present at clock edge i are registered there; edge i + 1 registers their
    # product, which ``seen[i + 1]`` (read after edge i + 1) holds.
    assert seen[1:len(ops) + 1] == [(x * y) & mask for x, y in ops]


def test_hard_form_refuses_what_one_block_cannot_do():
    m = Module()
    with pytest.raises(ValueError, match=r"at most 18 bits into 36: not 19 x 8 -> 27"):
        registered_product(m, Signal(signed(19)), Signal(signed(8)), Signal(27), hard="ecp5")
    with pytest.raises(ValueError, match=r"hard multiplier must be one of ecp5 or None, not 'x'"):
        registered_product(m, Signal(signed(8)), Signal(signed(8)), Signal(16), hard="x")


@pytest.mark.slow
def test_hard_form_equals_portable_form_in_verilator(tmp_path):
    verilator = setup_verilator()
    tops = []
    for n, (abits, bbits, pbits) in enumerate(CASES):
        dut = _Pair(abits, bbits, pbits)
        text = verilog.convert(dut, name=f"pair{n}",
                               ports=[dut.a, dut.b, dut.portable, dut.hard])
        (tmp_path / f"pair{n}.v").write_text(text)
        tops.append((n, abits, bbits))
    insts, checks = [], []
    for n, abits, bbits in tops:
        insts.append(f"  wire [{CASES[n][2] - 1}:0] portable{n}, hard{n};\n"
                     f"  pair{n} u{n}(.clk(clk), .rst(1'b0), .a(r[{abits - 1}:0]), "
                     f".b(r[{32 + bbits - 1}:32]), .portable(portable{n}), .hard(hard{n}));")
        checks.append(f"    if (portable{n} !== hard{n}) $fatal(1, \"case {n} cycle %0d: %h vs %h\", "
                      f"cycle, portable{n}, hard{n});")
    nl = "\n"
    tb = f"""`timescale 1ns/1ps
module tb;
  reg clk = 0;
  reg [63:0] r = 64'h0;
  integer cycle = 0;
{nl.join(insts)}
  always #5 clk = ~clk;
  always @(posedge clk) begin
    r <= {{$urandom, $urandom}};
    cycle <= cycle + 1;
  end
  always @(negedge clk) begin
    if (cycle > 3) begin
{nl.join(checks)}
    end
    if (cycle == 4000) begin
      $display("PASS %0d cycles", cycle);
      $finish;
    end
  end
endmodule
"""
    (tmp_path / "tb.v").write_text(tb)
    files = [str(tmp_path / f"pair{n}.v") for n, _, _ in tops] + [str(MODEL), "tb.v"]
    proc = subprocess.run([str(verilator), "--binary", "--timing", "-Wno-fatal", "-Wno-lint",
                           "-CFLAGS", "-std=c++20 -fcoroutines", "--top-module", "tb", "-o", "tb", *files],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = subprocess.run([str(tmp_path / "obj_dir" / "tb")], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0 and "PASS 4000 cycles" in run.stdout, run.stdout + run.stderr
