"""The frame receiver and the result sender (hw/frames.py) alone, in amaranth.sim.

The receiver gets image frames with random idle cycles between bytes while its pixel stream
is read with random back-pressure: the header must come out whole in one cycle, the pixels
in order with their positions and the last one marked, and the next frame must wait for
``done``; a weight frame (``T = 0``) must leave as bytes. The sender gets the words of two
answers and a one-word answer (``end``) under back-pressure: ``last`` on the right words,
``index`` and ``done`` as documented.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from augsnn.boards.protocol import encode_image
from augsnn.golden.early_exit import ExitRule
from augsnn.hw.frames import FrameReceiver, ResultSender
from augsnn.sim.stream_sim import get_all, put_all, simulate


def _watch_header(dut, seen):
    async def bench(ctx):
        async for _, _, valid, payload, start in ctx.tick().sample(
                dut.header.valid, dut.header.payload, dut.start):
            if start:
                seen.append("start")
            if valid:
                seen.append({k: int(getattr(payload, k)) for k in ("t", "margin", "t_min")})
    return bench


@pytest.mark.parametrize("position", ["cyx", "index"])
def test_receiver_takes_image_frames_apart(position):
    grid = (2, 3, 4)
    rng = np.random.default_rng(1)
    images = [rng.integers(0, 256, size=grid).astype(np.uint8) for _ in range(2)]
    rules = [ExitRule(7, 3), None]
    dut = FrameReceiver(grid, position=position)
    seen, pixels = [], []

    async def sender(ctx):
        r = random.Random(2)
        for n, (image, rule) in enumerate(zip(images, rules)):
            await put_all(ctx, dut.i, list(encode_image(300 + n, image, rule)), rng=r, idle=0.3)
            # The frame is in; the next one waits for ``done``.
            for _ in range(5):
                assert not ctx.get(dut.i.ready)
                await ctx.tick()
            assert ctx.get(dut.fields.t) == 300 + n
            ctx.set(dut.done, 1)
            await ctx.tick()
            ctx.set(dut.done, 0)
            assert ctx.get(dut.i.ready)

    async def reader(ctx):
        for _ in images:
            pixels.append(await get_all(ctx, dut.pixels, until=lambda p: p["last"],
                                        rng=random.Random(3), stall=0.4))

    simulate(dut, sender, reader, background=[_watch_header(dut, seen)])
    assert seen == ["start", {"t": 300, "margin": 7, "t_min": 3},
                    "start", {"t": 301, "margin": 0, "t_min": 0}]
    C, H, W = grid
    for image, got in zip(images, pixels):
        assert [p["value"] for p in got] == image.reshape(-1).tolist()
        assert [p["last"] for p in got] == [0] * (C * H * W - 1) + [1]
        if position == "cyx":
            assert [(p["c"], p["y"], p["x"]) for p in got] == [
                (c, y, x) for c in range(C) for y in range(H) for x in range(W)]
        else:
            assert [p["index"] for p in got] == list(range(C * H * W))


def test_receiver_passes_weight_frames_on():
    dut = FrameReceiver((1, 2, 2), weight_frames=True, position="index")
    payload = [5, 0, 255, 7, 1, 2, 3]
    seen, got = [], []

    async def sender(ctx):
        await put_all(ctx, dut.i, [0, 0] + payload, rng=random.Random(4), idle=0.3)
        assert not ctx.get(dut.pixels.valid)
        ctx.set(dut.done, 1)
        await ctx.tick()
        ctx.set(dut.done, 0)
        # then an image frame: T = 0 only starts a weight frame
        await put_all(ctx, dut.i, list(encode_image(2, np.arange(4, dtype=np.uint8)
                                                    .reshape(1, 2, 2))))

    async def reader(ctx):
        got.extend(await get_all(ctx, dut.weights, count=len(payload), rng=random.Random(5),
                                 stall=0.4))
        got.append(await get_all(ctx, dut.pixels, until=lambda p: p["last"]))

    simulate(dut, sender, reader, background=[_watch_header(dut, seen)])
    assert got[:-1] == payload
    assert [p["value"] for p in got[-1]] == [0, 1, 2, 3]
    assert seen == ["start", "start", {"t": 2, "margin": 0, "t_min": 0}]


def test_sender_frames_answers():
    dut = ResultSender(4, short_answers=True)
    frames = [[10, 11, 12, 13], [99], [20, 21, 22, 23]]
    got, dones = [], []

    async def producer(ctx):
        for words in frames:
            for n, word in enumerate(words):
                assert ctx.get(dut.index) == n
                ctx.set(dut.i.payload, word)
                ctx.set(dut.i.valid, 1)
                ctx.set(dut.end, int(len(words) == 1))
                while True:
                    _, _, ready, done = await ctx.tick().sample(dut.i.ready, dut.done)
                    if ready:
                        break
                dones.append(done)
                ctx.set(dut.i.valid, 0)
                ctx.set(dut.end, 0)
                if random.Random(n).random() < 0.5:
                    await ctx.tick()

    async def consumer(ctx):
        got.extend(await get_all(ctx, dut.o, count=9, rng=random.Random(6), stall=0.5))

    simulate(dut, producer, consumer)
    assert [w["data"] for w in got] == [w for f in frames for w in f]
    assert [w["last"] for w in got] == [0, 0, 0, 1, 1, 0, 0, 0, 1]
    assert dones == [0, 0, 0, 1, 1, 0, 0, 0, 1]


def test_refusals():
    with pytest.raises(ValueError, match=r"^grid must be three positive sizes \(C, H, W\), "
                                         r"not \(1, 0, 2\)$"):
        FrameReceiver((1, 0, 2))
    with pytest.raises(ValueError, match=r"^position must be 'cyx' or 'index', not 'xy'$"):
        FrameReceiver((1, 2, 2), position="xy")
    with pytest.raises(TypeError, match=r"^weight_frames must be a bool, not 1$"):
        FrameReceiver((1, 2, 2), weight_frames=1)
    with pytest.raises(ValueError, match=r"^words must be a positive integer, not 0$"):
        ResultSender(0)
