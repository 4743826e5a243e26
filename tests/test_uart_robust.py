"""The UART receiver on a hostile line: baud-rate error, glitches, breaks, a slow consumer.

Amaranth simulator. The line is a waveform in continuous time (bit lengths need not be a
whole number of clock cycles), sampled once per clock cycle at a random phase. What the
receiver must do is documented in docs/formal.md ("UART robustness") and proven for an
exact line by ``augsnn prove`` (uart-rx-free, uart-rx-frames).
"""

import random

import numpy as np
import pytest
from amaranth.sim import Simulator

from augsnn.hw.uart import UARTRx


def frame(byte, bit, stop=1):
    """Segments ``(level, length)`` of one 8N1 frame with ``bit`` cycles per bit."""
    return [(0, bit)] + [((byte >> i) & 1, bit) for i in range(8)] + [(stop, bit)]


def sample(segments, phase=0.0):
    """The level at each clock cycle ``n`` (time ``n + phase``) of a waveform."""
    levels, t, edge = [], phase, 0.0
    for level, length in segments:
        edge += length
        while t < edge:
            levels.append(level)
            t += 1.0
    return levels


def receive(divisor, levels, *, ready=None, tail=0):
    """Drive ``levels`` on ``rx``; return (bytes taken, framing errors, overruns)."""
    rx = UARTRx(divisor)
    got, errors, overruns = [], [], []
    levels = list(levels) + [1] * (tail or 3 * divisor * 10)

    async def bench(ctx):
        for n, level in enumerate(levels):
            ctx.set(rx.rx, level)
            r = 1 if ready is None else ready(n)
            ctx.set(rx.o.ready, r)
            if ctx.get(rx.o.valid) and r:
                got.append(ctx.get(rx.o.payload))
            if ctx.get(rx.framing_error):
                errors.append(n)
            if ctx.get(rx.overrun):
                overruns.append(n)
            await ctx.tick()

    sim = Simulator(rx)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return got, errors, overruns


@pytest.mark.parametrize("divisor", [16, 30, 75])
@pytest.mark.parametrize("error", [-0.03, 0.03])
def test_baud_rate_error_of_3_percent(divisor, error):
    # Back to back (no idle bit between frames): the worst case, the error accumulates over
    # a whole frame; 0x00 and 0xFF put the last edge at the start and at the stop bit.
    rng = random.Random(divisor)
    data = [0x00, 0xFF, 0x55, 0xAA, 0x01, 0x80] + [rng.randrange(256) for _ in range(26)]
    bit = divisor * (1 + error)
    for phase in (0.0, 0.5, 0.99):
        segments = [(1, 3 * divisor)] + [s for b in data for s in frame(b, bit)]
        got, errors, overruns = receive(divisor, sample(segments, phase))
        assert (got, errors, overruns) == (data, [], []), (divisor, error, phase)


@pytest.mark.parametrize("divisor", [8, 16, 30])
def test_glitches_on_the_idle_line_are_ignored(divisor):
    # Low pulses shorter than half a bit, each at least a bit time apart, between frames
    # (and before the first) give no byte and no error; the bytes around them arrive intact.
    # (Two glitches closer than that can look like a start bit sampled at its middle: this
    # receiver has no majority vote; docs/formal.md.)
    rng = random.Random(7)
    data = [rng.randrange(256) for _ in range(12)]
    segments = []
    for byte in data:
        for _ in range(3):
            segments += [(1, rng.randrange(divisor, 2 * divisor)),
                         (0, rng.randrange(1, divisor // 2 - 2 + 1))]
        segments += [(1, divisor)] + frame(byte, divisor) + [(1, rng.randrange(divisor))]
    got, errors, overruns = receive(divisor, sample(segments))
    assert (got, errors, overruns) == (data, [], [])


@pytest.mark.parametrize("divisor", [8, 30])
@pytest.mark.parametrize("break_bits", [10, 23.5, 37.25, 100])
def test_a_break_gives_one_framing_error_and_no_byte(divisor, break_bits):
    # The line held low (a break, or a cable pulled) for any length, then idle for one bit:
    # no byte at all comes out of it (no 0x00, no garbage byte when the line rises in the
    # middle of what the receiver took for a frame), exactly one framing error, and the
    # frames after it arrive intact.
    after = [0x3C, 0xA5, 0x00, 0xFF]
    segments = ([(1, 2 * divisor)] + frame(0x42, divisor) + [(0, break_bits * divisor)]
                + [(1, divisor)] + [s for b in after for s in frame(b, divisor)])
    got, errors, overruns = receive(divisor, sample(segments))
    assert got == [0x42] + after
    assert len(errors) == 1 and overruns == []


@pytest.mark.parametrize("divisor", [8, 30])
def test_noise_on_a_stop_bit_drops_that_byte_only(divisor):
    data = [0x11, 0x22, 0x33, 0x44]
    segments = [(1, divisor)]
    for n, byte in enumerate(data):
        segments += frame(byte, divisor, stop=0 if n == 1 else 1) + [(1, divisor)]
    got, errors, overruns = receive(divisor, sample(segments))
    assert got == [0x11, 0x33, 0x44] and len(errors) == 1 and overruns == []


def test_slow_consumer_overrun_is_flagged():
    # A consumer that takes nothing for three frames: the held byte is overwritten twice,
    # overrun pulses twice, and the last byte is the one delivered.
    divisor = 8
    data = [0x10, 0x20, 0x30]
    segments = [(1, divisor)] + [s for b in data for s in frame(b, divisor)]
    end = len(sample(segments)) + divisor
    got, errors, overruns = receive(divisor, sample(segments), ready=lambda n: n > end)
    assert got == [0x30] and errors == [] and len(overruns) == 2


@pytest.mark.slow
def test_board_design_on_a_hostile_line():
    # The whole board design (UART -> FIFO -> lane accelerator -> UART) in Verilator: requests
    # 3 % fast and 3 % slow, 16 bytes of the next request sent while an image is processed,
    # glitches on the idle line, a break (then a reset, as the protocol says), and (after a
    # reset) a flood of bytes behind a long request (T = 4000: the design takes one whole
    # frame ahead, then its receive FIFO fills). Every answer must be the golden model's;
    # ``lost`` (LED 1) must stay clear until the break, be set by it (a framing error), and
    # be set by the flood (receive FIFO full).
    from augsnn.boards.protocol import differing_fields
    from augsnn.golden.modelfile import load, resolve
    from augsnn.sim.board_robust import run_hostile_line

    model = load(resolve("tiny-aug"))
    images = np.random.default_rng(0).integers(0, 256, size=(6, 784), dtype=np.uint8)
    r = run_hostile_line(model, images, int(model.meta["T"]), lanes=1, divisor=8,
                         early_bytes=16, flood_bytes=64)
    assert len(r["answers"]) == len(r["golden"]) == 7
    for n, (answer, golden) in enumerate(zip(r["answers"], r["golden"])):
        assert differing_fields(answer, golden) == [], n
    assert r["lost_after"] == {"fast_slow": 0, "early": 0, "glitch": 0, "break": 1,
                               "reset": 0, "flood": 1}
