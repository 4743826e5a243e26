"""The compact engine's units in amaranth.sim (no Verilator): the bank and the whole engine.

The bank is checked against its documented contract (a registered command, read data two
cycles later, held while the same row is read again); the engine on a small model against the
golden model: the weight frame's checksum, then per image the answer words (class, counts,
events per layer) and every trace beat (each layer's spikes at every step).
"""

from __future__ import annotations

import random

import numpy as np
from amaranth.sim import Simulator

from augsnn.golden.model import Conv2d, Dense, Flatten, Model, SumPool
from augsnn.golden.network import simulate
from augsnn.golden.neuron import NeuronParams
from augsnn.hw.compact.accelerator import CompactAccelerator
from augsnn.hw.compact.bank import Bank
from augsnn.boards.protocol import encode_image
from augsnn.hw.compact.plan import compact_plan, weight_checksum, weight_frame
from augsnn.sim.stream_sim import get_all, stream_get, stream_put


def test_bank_contract():
    dut = Bank()
    rng = random.Random(3)
    ref = {}
    log = []

    async def bench(ctx):
        pending = []                       # (cycle the data is due, expected row)
        for cycle in range(400):
            addr = rng.randrange(16)
            we = rng.random() < 0.4
            data = rng.getrandbits(32)
            ctx.set(dut.addr, addr)
            ctx.set(dut.we, we)
            ctx.set(dut.wdata, data)
            await ctx.tick()
            got = ctx.get(dut.rdata)
            for due, want in list(pending):
                if due == cycle:
                    log.append((got, want))
                    pending.remove((due, want))
            if we:
                ref[addr] = data          # takes effect with the command, in order
            else:
                pending.append((cycle + 1, ref.get(addr, 0)))   # two clock edges

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert len(log) > 150
    assert all(got == want for got, want in log), [x for x in log if x[0] != x[1]][:5]


def _small_model() -> Model:
    rng = np.random.default_rng(21)

    def w(*shape):
        return rng.integers(-40, 41, size=shape).astype(np.int64)

    return Model(name="small", method="aug", input_shape=(1, 8, 8), layers=[
        Conv2d(w(3, 1, 3, 3), NeuronParams(theta_p=2500, theta_n=4000, coef_bits=3,
                                           pot_bits=20, v_init=0), 8),
        SumPool(2),
        Flatten(),
        Dense(w(4, 27), NeuronParams(theta_p=90, theta_n=150, coef_bits=3, pot_bits=16,
                                     v_init=-2), 8),
    ], meta={"dataset": "mnist"})


def test_engine_matches_golden_in_amaranth_sim():
    model = _small_model()
    plan = compact_plan(model)
    rng = np.random.default_rng(5)
    images = rng.integers(0, 256, size=(2, 1, 8, 8)).astype(np.uint8)
    images[images < 90] = 0
    T = 3
    gold = simulate(model, images, T, trace=True)
    dut = CompactAccelerator(model, trace=True)
    answers, checksum, beats = [], [], {l: [] for l in range(len(plan.layers))}
    n_words = plan.result_words

    async def driver(ctx):
        for byte in weight_frame(plan):
            await stream_put(ctx, dut.i, byte)
        checksum.append((await stream_get(ctx, dut.o))["data"])
        for image in images:
            for byte in encode_image(T, image):
                await stream_put(ctx, dut.i, byte)
            words = await get_all(ctx, dut.o, count=n_words, rng=random.Random(1), stall=0.3)
            assert words[-1]["last"] == 1 and not any(w["last"] for w in words[:-1])
            answers.append([w["data"] for w in words])

    async def tracer(ctx):
        ports = [getattr(dut, f"trace{l}") for l in range(len(plan.layers))]
        async for _, _, *values in ctx.tick().sample(*(p.valid for p in ports),
                                                      *(p.payload for p in ports)):
            valid, payload = values[:len(ports)], values[len(ports):]
            for l, (v, beat) in enumerate(zip(valid, payload)):
                if v:
                    beats[l].append((int(beat.index), int(beat.coef[0]), int(beat.done)))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(driver)
    sim.add_testbench(tracer, background=True)
    sim.run()

    assert checksum == [weight_checksum(plan)]
    C, L = plan.n_classes, len(plan.layers)
    for b, words in enumerate(answers):
        counts = [w - (1 << 32) if w >= 1 << 31 else w for w in words[1:1 + C]]
        assert words[0] == int(gold.pred[b])
        assert counts == gold.counts[b].tolist()
        assert words[1 + C:1 + C + L] == gold.events[:, :, b].sum(axis=1).tolist()
        assert words[1 + C + L] == T                           # the steps run
    # every layer's spikes at every step, from the trace beats
    for l, lp in enumerate(plan.layers):
        got = np.zeros((len(images), T, lp.neurons), dtype=np.int64)
        img, step = 0, 0
        for index, coef, done in beats[l]:
            if done:
                step += 1
                if step == T:
                    img, step = img + 1, 0
                continue
            got[img, step, index] = coef
        want = np.swapaxes(gold.trace[l], 0, 1).reshape(len(images), T, -1)   # raster order
        assert np.array_equal(got[..., lp.neuron_index().reshape(-1)], want), l
        assert np.count_nonzero(want) > 0, f"layer {l} never spiked: not a real test"
