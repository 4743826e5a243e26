"""UART transmitter and receiver (Amaranth simulator): loopback, framing errors, bad divisors."""

import random

import pytest
from amaranth.hdl import Module
from amaranth.sim import Simulator

from augsnn.hw.uart import UARTRx, UARTTx


def loopback(divisor, data):
    m = Module()
    m.submodules.tx = tx = UARTTx(divisor)
    m.submodules.rx = rx = UARTRx(divisor)
    m.d.comb += rx.rx.eq(tx.tx)
    got = []

    async def send(ctx):
        for byte in data:
            ctx.set(tx.i.payload, byte)
            ctx.set(tx.i.valid, 1)
            await ctx.tick().until(tx.i.ready)
            ctx.set(tx.i.valid, 0)
            await ctx.tick()

    async def receive(ctx):
        ctx.set(rx.o.ready, 1)
        while len(got) < len(data):
            _, _, valid, payload = await ctx.tick().sample(rx.o.valid, rx.o.payload)
            if valid:
                got.append(payload)

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(send)
    sim.add_testbench(receive)
    sim.run_until(1e-6 * divisor * 11 * (len(data) + 4))
    return got


@pytest.mark.parametrize("divisor", [4, 5, 13, 104])
def test_loopback(divisor):
    rng = random.Random(divisor)
    data = [0x00, 0xFF, 0x55, 0xAA] + [rng.randrange(256) for _ in range(12)]
    assert loopback(divisor, data) == data


def test_framing_error_drops_the_byte():
    divisor = 8
    rx = UARTRx(divisor)
    errors, got = [], []

    async def drive(ctx):
        ctx.set(rx.o.ready, 1)
        for byte, stop in ((0x3C, 0), (0xA7, 1)):
            for bit in [0] + [(byte >> i) & 1 for i in range(8)] + [stop]:
                ctx.set(rx.rx, bit)
                await ctx.tick().repeat(divisor)
            ctx.set(rx.rx, 1)
            await ctx.tick().repeat(3 * divisor)

    async def watch(ctx):
        async for _, _, valid, payload, err in ctx.tick().sample(rx.o.valid, rx.o.payload,
                                                                 rx.framing_error):
            if err:
                errors.append(1)
            if valid:
                got.append(payload)

    sim = Simulator(rx)
    sim.add_clock(1e-6)
    sim.add_testbench(drive)
    sim.add_testbench(watch, background=True)
    sim.run()
    assert errors == [1] and got == [0xA7]


@pytest.mark.parametrize("cls", [UARTRx, UARTTx])
def test_bad_divisor(cls):
    with pytest.raises(ValueError, match=r"^UART divisor must be an integer >= 4, not 3$"):
        cls(3)
    with pytest.raises(TypeError, match=r"^UART divisor must be an integer, not 4\.5$"):
        cls(4.5)
