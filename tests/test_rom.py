"""The weight memories: :class:`~augsnn.hw.rom.BankedRom` reads the word at ``addr`` two
enabled cycles later, whatever its banks (Amaranth simulator), and :func:`bank_depth` splits a
memory as the ECP5 block RAM's shapes make cheapest."""

from __future__ import annotations

import random

import pytest
from amaranth.sim import Simulator

from augsnn.hw.banked import bank_depth
from augsnn.hw.rom import BankedRom


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
    dut = BankedRom(width=width, depth=depth, words=words, backend=backend,
                    bank_words=bank_words)
    if bank_words not in (None, 1):
        assert dut.banks == -(-depth // (1 << (bank_words - 1).bit_length()))
    seen, issued = [], []

    async def bench(ctx):
        pipe = []          # addresses in flight: [stage1, stage2]
        for _ in range(300):
            en = rng.random() < 0.7
            addr = rng.randrange(depth)
            ctx.set(dut.en, en)
            ctx.set(dut.addr, addr)
            await ctx.tick()
            if en:
                pipe.append(addr)
                if len(pipe) > 2:
                    pipe.pop(0)
                if len(pipe) == 2:
                    # data now shows the word read two enabled cycles ago
                    seen.append(ctx.get(dut.data))
                    issued.append(pipe[0])
            else:
                # held while en is low
                if len(pipe) == 2:
                    assert ctx.get(dut.data) == words[pipe[0]]

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert len(seen) > 100
    assert seen == [words[a] for a in issued]


def test_banked_rom_refuses_bad_bank():
    with pytest.raises(ValueError, match="bank_words must be an integer >= 1, not 0"):
        BankedRom(width=8, depth=4, words=[0] * 4, backend="memory", bank_words=0)


@pytest.mark.parametrize("depth, bank_words, transparent", [
    (37, 8, False), (37, 8, True), (20, 3, True), (64, 16, False), (37, 64, True)])
def test_banked_memory_matches_one_memory(depth, bank_words, transparent):
    """BankedMemory's ``q`` equals a register loaded from one ``Memory``'s read port, cycle by
    cycle, under random reads, writes and enables (a write and a read of one word in the
    same cycle included)."""
    from amaranth.hdl import Module, Signal, signed
    from amaranth.lib import memory

    from augsnn.hw.banked import BankedMemory

    rng = random.Random(depth + bank_words)
    init = [rng.randrange(-500, 500) for _ in range(depth)]
    m = Module()
    m.submodules.dut = dut = BankedMemory(shape=signed(11), depth=depth, init=init,
                                          transparent=transparent, bank_words=bank_words)
    m.submodules.ref = ref = memory.Memory(shape=signed(11), depth=depth, init=init)
    wr = ref.write_port()
    rd = ref.read_port(transparent_for=(wr,) if transparent else ())
    q = Signal(signed(11))
    m.d.comb += [rd.addr.eq(dut.r_addr), rd.en.eq(dut.r_en), wr.addr.eq(dut.w_addr),
                 wr.en.eq(dut.w_en), wr.data.eq(dut.w_data)]
    with m.If(dut.q_en):
        m.d.sync += q.eq(rd.data)
    checked = []

    async def bench(ctx):
        for n in range(400):
            a = rng.randrange(depth)
            ctx.set(dut.r_addr, a)
            ctx.set(dut.r_en, rng.random() < 0.8)
            ctx.set(dut.q_en, rng.random() < 0.8)
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
    from amaranth.hdl import signed

    from augsnn.hw.banked import BankedMemory
    with pytest.raises(ValueError, match=f"bank_words must be an integer >= 1, not {bad!r}"):
        BankedMemory(shape=signed(4), depth=10, bank_words=bad)
