"""Run image requests through a lane accelerator in ``amaranth.sim`` (shared by the
whole-network tests that avoid a Verilator build: tests/test_lanes_early_exit.py,
tests/test_lanes_taps_network.py)."""

from __future__ import annotations

from amaranth.sim import Simulator

from augsnn.boards.protocol import encode_image
from augsnn.sim.stream_sim import get_all, stream_put, watch


def run_requests(dut, requests, T: int):
    """Each ``(image, rule)`` of ``requests`` through ``dut`` (an ``Accelerator`` built with
    ``trace=True``), one after the other at ``T`` steps.

    Returns the answer words per request and, per layer, every trace beat as
    ``(request, index, coef list, done)``. Asserts that ``last`` marks exactly the final word.
    """
    plan = dut.plan
    answers, beats, current = [], {l: [] for l in range(len(plan.layers))}, [0]

    async def driver(ctx):
        for n, (image, rule) in enumerate(requests):
            current[0] = n
            for byte in encode_image(T, image, rule):
                await stream_put(ctx, dut.i, byte)
            words = await get_all(ctx, dut.o, count=plan.result_words)
            assert words[-1]["last"] == 1 and not any(w["last"] for w in words[:-1])
            answers.append([w["data"] for w in words])

    async def tracer(ctx):
        await watch(ctx, [getattr(dut, f"trace{l}") for l in range(len(plan.layers))],
                    lambda l, b: beats[l].append((current[0], int(b.index),
                                                  [int(c) for c in b.coef], int(b.done))))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(driver)
    sim.add_testbench(tracer, background=True)
    sim.run()
    return answers, beats
