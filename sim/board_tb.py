"""cocotb testbench of the board design :class:`augsnn.boards.top.UartAccelerator`.

Layer: ``sim`` (cocotb test module; run through :func:`augsnn.sim.board.run_uart`). A UART
model drives the request bytes of :func:`augsnn.boards.protocol.encode_image` bit by bit on
``rx`` (8N1, ``divisor`` clock cycles per bit), samples ``tx`` in the middle of every bit
and saves the raw answer bytes; :mod:`augsnn.sim.board` decodes and compares them with the
golden model. One request at a time, as the host command does.

Config keys: ``images`` (``.npy`` uint8, one row per image), ``T``, ``divisor``,
``answer_bytes``, ``max_cycles_per_image``, ``out`` (``.npz`` to write), ``preamble``
(``.npy`` of bytes sent first, e.g. the compact engine's weight frame; empty for none) and
``preamble_answer_bytes``.
Saved: ``answers`` (images x answer_bytes, uint8), ``preamble_answer`` (bytes), ``lost``
(the sticky error flag at the end), ``sim_seconds``.
"""

import time

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, RisingEdge, Timer, with_timeout

from augsnn.boards.protocol import encode_image
from augsnn.sim.runner import load_config, save_results

PERIOD_NS = 10


async def send_byte(dut, byte: int, divisor: int) -> None:
    # One timer per bit (not one wake-up per clock): the weight frame is ~30 k bytes.
    for bit in [0] + [(byte >> i) & 1 for i in range(8)] + [1]:
        dut.rx.value = bit
        await Timer(divisor * PERIOD_NS, unit="ns")


async def receive_byte(dut, divisor: int) -> int:
    await FallingEdge(dut.tx)                      # start bit
    await ClockCycles(dut.clk, divisor + divisor // 2)
    value = 0
    for i in range(8):
        value |= int(dut.tx.value) << i
        await ClockCycles(dut.clk, divisor)
    if int(dut.tx.value) != 1:
        raise AssertionError("the answer had a byte with a bad stop bit")
    return value


@cocotb.test()
async def classify_over_uart(dut):
    cfg = load_config()
    images = np.load(cfg["images"])
    T, divisor, n_bytes = int(cfg["T"]), int(cfg["divisor"]), int(cfg["answer_bytes"])
    limit = int(cfg["max_cycles_per_image"])
    Clock(dut.clk, PERIOD_NS, unit="ns").start()
    dut.rx.value = 1
    dut.rst.value = 1
    await ClockCycles(dut.clk, 4)
    dut.rst.value = 0
    await ClockCycles(dut.clk, 4)
    answers = []
    t0 = time.time()
    preamble = b""
    if cfg.get("preamble"):
        async def receive_pre():
            return bytes([await receive_byte(dut, divisor)
                          for _ in range(int(cfg["preamble_answer_bytes"]))])

        frame = np.load(cfg["preamble"]).tobytes()
        rx_task = cocotb.start_soon(receive_pre())
        for byte in frame:
            await send_byte(dut, byte, divisor)
        preamble = await with_timeout(rx_task, limit * PERIOD_NS, "ns")
    for image in images:
        request = encode_image(T, image)

        async def receive():
            return bytes([await receive_byte(dut, divisor) for _ in range(n_bytes)])

        rx_task = cocotb.start_soon(receive())
        for byte in request:
            await send_byte(dut, byte, divisor)
        answer = await with_timeout(rx_task, limit * PERIOD_NS, "ns")
        answers.append(np.frombuffer(answer, dtype=np.uint8))
        await RisingEdge(dut.clk)
    np.savez(cfg["out"], answers=np.array(answers, dtype=np.uint8),
             preamble_answer=np.frombuffer(preamble, dtype=np.uint8))
    save_results({"lost": int(dut.lost.value), "sim_seconds": time.time() - t0})
