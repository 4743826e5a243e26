"""cocotb testbench: the board design on a hostile serial line (run by :mod:`augsnn.sim.board_robust`).

Layer: ``sim``. One run of :class:`augsnn.boards.top.UartAccelerator` through these
scenarios, each checked by the caller against the golden model:

1. ``fast``/``slow``: a request sent 3 % fast, another 3 % slow (every bit, back to back).
2. ``early``: a request, then the first ``early_bytes`` bytes of the next one sent at once,
   while the first image is being processed; the rest of it after the answer.
3. ``glitch``: low glitches shorter than half a bit on the idle line before a request.
4. ``break``: the line held low for three frames (``lost`` must then be set: a framing
   error), then, as the protocol says for a host that lost bytes, a reset and the request.
5. ``flood`` (after a reset): a request of ``flood_T`` steps (long enough that the line
   delivers more than the rest meanwhile), then a whole frame of zeros (the lane
   accelerator takes it while it computes: two images in flight) and ``flood_bytes`` more
   at once; ``lost`` (the receive FIFO overflows).

Config keys: ``images`` (.npy, one row per image, at least 6), ``T``, ``divisor``,
``answer_bytes``, ``max_cycles_per_image``, ``early_bytes``, ``flood_bytes``, ``flood_T``,
``out``.
Saved: ``lost_after`` (the ``lost`` flag after each scenario) and the answers in ``out``.
"""

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge, Timer, with_timeout

from augsnn.boards.protocol import encode_image
from augsnn.sim.board_tb import PERIOD_NS, receive_byte
from augsnn.sim.runner import load_config, save_results


async def send(dut, data: bytes, divisor: int, scale: float = 1.0) -> None:
    """Send ``data`` back to back; every bit lasts ``scale * divisor`` clock periods."""
    step = round(divisor * PERIOD_NS * scale * 1000)          # picoseconds
    for byte in data:
        for bit in [0] + [(byte >> i) & 1 for i in range(8)] + [1]:
            dut.rx.value = bit
            await Timer(step, unit="ps")


async def receive(dut, n: int, divisor: int) -> bytes:
    return bytes([await receive_byte(dut, divisor) for _ in range(n)])


@cocotb.test()
async def hostile_line(dut):
    cfg = load_config()
    images = np.load(cfg["images"])
    T, d, n = int(cfg["T"]), int(cfg["divisor"]), int(cfg["answer_bytes"])
    limit = int(cfg["max_cycles_per_image"]) * PERIOD_NS
    Clock(dut.clk, PERIOD_NS, unit="ns").start()
    dut.rx.value = 1
    dut.rst.value = 1
    await ClockCycles(dut.clk, 4)
    dut.rst.value = 0
    await ClockCycles(dut.clk, 4)
    answers, lost = [], {}
    requests = [encode_image(T, image) for image in images]

    async def one(request, scale=1.0):
        task = cocotb.start_soon(receive(dut, n, d))
        await send(dut, request, d, scale)
        answers.append(await with_timeout(task, limit, "ns"))

    await one(requests[0], 1.03)
    await one(requests[1], 0.97)
    lost["fast_slow"] = int(dut.lost.value)

    # Early bytes of the next request while an image is being processed.
    k = int(cfg["early_bytes"])
    task = cocotb.start_soon(receive(dut, n, d))
    await send(dut, requests[2], d)
    await send(dut, requests[3][:k], d)
    answers.append(await with_timeout(task, limit, "ns"))
    task = cocotb.start_soon(receive(dut, n, d))
    await send(dut, requests[3][k:], d)
    answers.append(await with_timeout(task, limit, "ns"))
    lost["early"] = int(dut.lost.value)

    # Glitches on the idle line (each shorter than half a bit, a bit time apart).
    for width in range(1, d // 2 - 1):
        dut.rx.value = 0
        await ClockCycles(dut.clk, width)
        dut.rx.value = 1
        await ClockCycles(dut.clk, d)
    await one(requests[4])
    lost["glitch"] = int(dut.lost.value)

    # A break: the line low for three frames, then idle for a bit; the host sees ``lost`` and
    # resets the board (docs/boards.md), then sends the request.
    dut.rx.value = 0
    await ClockCycles(dut.clk, 30 * d)
    dut.rx.value = 1
    await ClockCycles(dut.clk, 3 * 10 * d)
    lost["break"] = int(dut.lost.value)
    dut.rst.value = 1
    await ClockCycles(dut.clk, 4)
    dut.rst.value = 0
    await ClockCycles(dut.clk, 4)
    await one(requests[5])

    # After a reset: a request, then a flood of bytes while the image is processed.
    dut.rst.value = 1
    await ClockCycles(dut.clk, 4)
    dut.rst.value = 0
    await ClockCycles(dut.clk, 4)
    lost["reset"] = int(dut.lost.value)
    task = cocotb.start_soon(receive(dut, n, d))
    await send(dut, encode_image(int(cfg["flood_T"]), images[0]), d)
    await send(dut, bytes(len(requests[0]) + int(cfg["flood_bytes"])), d)
    answers.append(await with_timeout(task, limit * int(cfg["flood_T"]) // T, "ns"))
    await ClockCycles(dut.clk, 20 * d)
    lost["flood"] = int(dut.lost.value)
    await RisingEdge(dut.clk)
    np.savez(cfg["out"], answers=np.array([np.frombuffer(a, dtype=np.uint8) for a in answers]))
    save_results({"lost_after": lost})
