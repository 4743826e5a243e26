# amaranth: UnusedElaboratable=no
"""The skid buffer (hw/skid.py) in ``amaranth.sim``: order, no loss, full rate, registered ready."""

from __future__ import annotations

import random

import pytest
from amaranth.hdl import unsigned
from amaranth.sim import Simulator

from augsnn.hw.skid import Skid
from augsnn.sim.stream_sim import get_all, put_all


@pytest.mark.parametrize("idle,stall,seed", [(0.0, 0.0, 0), (0.4, 0.0, 1), (0.0, 0.5, 2),
                                             (0.3, 0.3, 3)])
def test_skid_keeps_every_beat_in_order(idle, stall, seed):
    dut = Skid(unsigned(12))
    want = [random.Random(seed).randrange(4096) for _ in range(300)]
    got = []

    async def put(ctx):
        await put_all(ctx, dut.i, want, rng=random.Random(seed + 10), idle=idle)

    async def get(ctx):
        got.extend(await get_all(ctx, dut.o, count=len(want), rng=random.Random(seed + 20),
                                 stall=stall))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(put)
    sim.add_testbench(get)
    sim.run()
    assert got == want


def test_skid_passes_a_beat_per_cycle_and_ready_is_a_register():
    dut = Skid(unsigned(8))
    seen = []

    async def bench(ctx):
        ctx.set(dut.o.ready, 1)
        ctx.set(dut.i.valid, 1)
        for n in range(20):
            ctx.set(dut.i.payload, n)
            await ctx.tick()
            if ctx.get(dut.o.valid):
                seen.append(ctx.get(dut.o.payload))
        # ``ready`` low on the output: ``i.ready`` falls only after the skid register fills,
        # and does not follow ``o.ready`` within the cycle.
        ctx.set(dut.o.ready, 0)
        assert ctx.get(dut.i.ready) == 1
        await ctx.tick()
        assert ctx.get(dut.i.ready) == 0
        ctx.set(dut.o.ready, 1)
        assert ctx.get(dut.i.ready) == 0

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert seen == list(range(20))      # latency 1, one beat per cycle
