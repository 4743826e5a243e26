"""The memories of hw/banked.py and hw/rom.py: :func:`~augsnn.hw.rom.banked_rom` reads the word
at ``addr`` two cycles later, :func:`~augsnn.hw.banked.banked_memory` equals a register after
one memory's read port, whatever their banks (Amaranth simulator); :func:`bank_depth` splits a
memory as the ECP5 block RAM's shapes make cheapest."""

from __future__ import annotations

import random

import pytest
from amaranth.hdl import Module, Signal, signed
from amaranth.lib import memory
from amaranth.sim import Simulator

from augsnn.hw.banked import bank_depth, banked_memory
from augsnn.hw.rom import banked_rom


@pytest.mark.parametrize("depth, width, expected", [
    (600, 256, 600),      # 1024 x 18: 15 blocks, one bank (512 x 36 would take 16)
    (2400, 64, 512),      # 512 x 36: 5 x 2 = 10 blocks (2048 x 9: 2 x 8 = 16)
    (2048, 64, 2048),     # 512 x 36: 4 x 2 = 8 blocks; 2048 x 9: 1 x 8 = 8; a tie: one bank
    (50, 64, 50),         # one block deep
    (1152, 160, 512),     # 512 x 36: 3 x 5 = 15 (1024 x 18: 2 x 9 = 18)
])
def test_bank_depth(depth, width, expected):
    assert bank_depth(depth, width) == expected


@pytest.mark.parametrize("depth, bank_words, backend", [
    (37, 8, "memory"), (64, 16, "memory"), (37, None, "memory"), (5, 1, "memory"),
    (20, 3, "memory")])
def test_banked_rom_reads(depth, bank_words, backend):
    rng = random.Random(depth * 7 + (bank_words or 0))
    width = 12
    words = [rng.randrange(1 << width) for _ in range(depth)]
    m = Module()
    rom = banked_rom(m, "rom", width=width, depth=depth, words=words, backend=backend,
                     bank_words=bank_words)
    if bank_words not in (None, 1):
        assert rom.banks == -(-depth // (1 << (bank_words - 1).bit_length()))
    seen, issued = [], []

    async def bench(ctx):
        for n in range(300):
            addr = rng.randrange(depth)
            ctx.set(rom.addr, addr)
            issued.append(addr)
            await ctx.tick()
            if n >= 1:
                seen.append(ctx.get(rom.data))   # the word asked for the cycle before last

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert len(seen) > 100
    assert seen == [words[a] for a in issued[:len(seen)]]


def test_banked_rom_refuses_bad_bank():
    with pytest.raises(ValueError, match="bank_words must be an integer >= 1, not 0"):
        banked_rom(Module(), "rom", width=8, depth=4, words=[0] * 4, backend="memory",
                   bank_words=0)


def test_banked_rom_refuses_unknown_backend():
    with pytest.raises(ValueError, match="ROM backend must be 'readmemh' or 'memory', not 'spram'"):
        banked_rom(Module(), "rom", width=8, depth=4, words=[0] * 4, backend="spram")


@pytest.mark.parametrize("depth, bank_words, transparent", [
    (37, 8, False), (37, 8, True), (20, 3, True), (64, 16, False), (37, 64, True)])
def test_banked_memory_matches_one_memory(depth, bank_words, transparent):
    """banked_memory's ``q`` equals a register loaded from one ``Memory``'s read port, cycle by
    cycle, under random reads, writes and enables (a write and a read of one word in the
    same cycle included)."""
    rng = random.Random(depth + bank_words)
    init = [rng.randrange(-500, 500) for _ in range(depth)]
    m = Module()
    r_en, q_en = Signal(), Signal()
    dut = banked_memory(m, "dut", shape=signed(11), depth=depth, init=init,
                        transparent=transparent, bank_words=bank_words, r_en=r_en, q_en=q_en)
    m.submodules.ref = ref = memory.Memory(shape=signed(11), depth=depth, init=init)
    wr = ref.write_port()
    rd = ref.read_port(transparent_for=(wr,) if transparent else ())
    q = Signal(signed(11))
    m.d.comb += [rd.addr.eq(dut.r_addr), rd.en.eq(r_en), wr.addr.eq(dut.w_addr),
                 wr.en.eq(dut.w_en), wr.data.eq(dut.w_data)]
    with m.If(q_en):
        m.d.sync += q.eq(rd.data)
    checked = []

    async def bench(ctx):
        for n in range(400):
            a = rng.randrange(depth)
            ctx.set(dut.r_addr, a)
            ctx.set(r_en, rng.random() < 0.8)
            ctx.set(q_en, rng.random() < 0.8)
            ctx.set(dut.w_en, rng.random() < 0.5)
            ctx.set(dut.w_addr, a if rng.random() < 0.3 else rng.randrange(depth))
            ctx.set(dut.w_data, rng.randrange(-1000, 1000))
            await ctx.tick()
            if n >= 2:
                assert ctx.get(dut.q) == ctx.get(q), f"cycle {n}"
                checked.append(ctx.get(q))

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert len(set(checked)) > 50      # the comparison saw many different words


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_banked_memory_refuses_bad_bank(bad):
    with pytest.raises(ValueError, match=f"bank_words must be an integer >= 1, not {bad!r}"):
        banked_memory(Module(), "mem", shape=signed(4), depth=10, bank_words=bad)
