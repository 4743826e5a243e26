"""Drive and read ``amaranth.lib.stream`` ports from an ``amaranth.sim`` testbench.

Layer: ``sim`` (used by the unit tests of the hardware blocks, e.g.
``tests/test_lanes_units.py``). In the style of Glasgow's ``gateware/stream.py``:
:func:`stream_put` offers one payload and returns once it is taken, :func:`stream_get` takes
one payload; :func:`put_all` and :func:`get_all` move many, with random idle cycles on the
input side and random back-pressure (``ready`` low) on the output side, drawn from a seeded
``random.Random`` so a failure repeats. Payloads are plain Python values: a ``dict`` for a
struct layout, a ``list`` for an array layout, an ``int`` (or enum member) for a field
(:func:`plain`). Every wait is bounded: a stream that never moves raises ``TimeoutError``
naming the stream, instead of hanging the test.
"""

from __future__ import annotations

import random

from amaranth.lib import data

__all__ = ["plain", "stream_put", "stream_get", "put_all", "get_all", "watch", "simulate"]

#: Cycles a single transfer may wait before :class:`TimeoutError` (a hung design).
TIMEOUT = 20_000


def plain(value):
    """A sampled payload (``data.Const``, enum, int) as nested ``dict`` / ``list`` / ``int``."""
    if isinstance(value, data.Const):
        layout = value.shape()
        if isinstance(layout, data.ArrayLayout):
            return [plain(value[n]) for n in range(layout.length)]
        return {name: plain(value[name]) for name, _ in layout}
    return value


def _name(stream) -> str:
    return getattr(stream.valid, "name", repr(stream))


async def _idle(ctx, rng: random.Random | None, p: float):
    """Wait a random number of cycles: each further cycle with probability ``p``."""
    while rng is not None and p > 0 and rng.random() < p:
        await ctx.tick()


async def stream_put(ctx, stream, payload, *, timeout: int = TIMEOUT):
    """Offer ``payload`` on ``stream`` (an ``In`` stream of the design) until it is taken.

    Returns after the clock edge at which ``valid`` and ``ready`` were both high; ``valid`` is
    low again then.
    """
    ctx.set(stream.payload, payload)
    ctx.set(stream.valid, 1)
    for _ in range(timeout):
        _, _, ready = await ctx.tick().sample(stream.ready)
        if ready:
            ctx.set(stream.valid, 0)
            return
    raise TimeoutError(f"stream {_name(stream)}: payload not taken in {timeout} cycles")


async def stream_get(ctx, stream, *, timeout: int = TIMEOUT):
    """Take one payload from ``stream`` (an ``Out`` stream of the design) and return it.

    Raises ``ready`` until a clock edge at which ``valid`` is high (the transfer), then lowers
    it; returns the payload as :func:`plain` values.
    """
    ctx.set(stream.ready, 1)
    for _ in range(timeout):
        _, _, valid, payload = await ctx.tick().sample(stream.valid, stream.payload)
        if valid:
            ctx.set(stream.ready, 0)
            return plain(payload)
    raise TimeoutError(f"stream {_name(stream)}: no payload in {timeout} cycles")


async def put_all(ctx, stream, payloads, *, rng: random.Random | None = None,
                  idle: float = 0.0, timeout: int = TIMEOUT):
    """Put every payload in order; before each, idle cycles with probability ``idle`` each."""
    for payload in payloads:
        await _idle(ctx, rng, idle)
        await stream_put(ctx, stream, payload, timeout=timeout)


async def get_all(ctx, stream, *, count: int | None = None, until=None,
                  rng: random.Random | None = None, stall: float = 0.0,
                  timeout: int = TIMEOUT) -> list:
    """Take payloads until ``count`` are taken or ``until(payload)`` is true for one; return them.

    Before each transfer ``ready`` stays low for random cycles (probability ``stall`` each):
    random back-pressure.
    """
    if (count is None) == (until is None):
        raise ValueError("get_all needs exactly one of count and until")
    out = []
    while True:
        if count is not None and len(out) >= count:
            return out
        await _idle(ctx, rng, stall)
        out.append(await stream_get(ctx, stream, timeout=timeout))
        if until is not None and until(out[-1]):
            return out


async def watch(ctx, ports, sink) -> None:
    """Call ``sink(n, payload)`` for every beat on the ports (``valid`` high at a clock edge),
    ``n`` the port's index: a background testbench for ports without ``ready`` (the
    accelerators' ``trace<l>``). ``payload`` is the sampled value (fields readable as
    ``payload.index``, ``payload.coef[k]``)."""
    async for _, _, *values in ctx.tick().sample(*(p.valid for p in ports),
                                                  *(p.payload for p in ports)):
        for n, (valid, payload) in enumerate(zip(values[:len(ports)], values[len(ports):])):
            if valid:
                sink(n, payload)


def simulate(dut, *benches, background=()) -> None:
    """Run ``dut`` with a clock and the testbenches ``benches`` (async functions of ``ctx``)
    until they return; ``background`` ones run beside them (e.g. :func:`watch`)."""
    from amaranth.sim import Simulator
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    for bench in benches:
        sim.add_testbench(bench)
    for bench in background:
        sim.add_testbench(bench, background=True)
    sim.run()
