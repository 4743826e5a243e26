# amaranth: UnusedElaboratable=no
"""Tap parallelism of the lane accelerator (``taps=``): plan, layout, refusals and the units.

A conv layer with ``taps = P`` updates ``P`` output columns per beat (docs/accelerator.md,
"Folding"). The plan's layout and refusals are checked against the formulas; ``FanOut``,
``Walk``, ``PoolWalk`` and ``EventSerializer`` with taps alone in ``amaranth.sim`` against
plain references (random idle cycles and back-pressure, as tests/test_lanes_units.py). The
whole network with taps is checked against the golden model in
tests/test_lanes_taps_network.py.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from augsnn.golden.modelfile import load
from augsnn.hw.lanes.fanout import FanOut
from augsnn.hw.lanes.plan import PlanError, plan
from augsnn.hw.neuron_core import Op
from augsnn.sim.stream_sim import get_all, put_all, simulate

from test_lanes_units import IDLE, STALL, _conv_model, _events, _settle_busy


def _taps_layers(lanes=4, taps=(2, 2, 1)):
    return plan(_conv_model(), lanes=lanes, taps=taps).layers


# -- plan ---------------------------------------------------------------------------------

def test_taps_layout():
    """Neuron (oc, oy, ox) in row ((oy*OWb + ox//P)*G + oc//Lc), lane (ox%P)*Lc + oc%Lc."""
    layers = _taps_layers(lanes=4, taps=(2, 2, 1))
    l0 = layers[0]                       # 6 channels x 7 x 7 at 4 lanes x 2 taps
    assert (l0.lanes, l0.taps, l0.core_lanes, l0.groups, l0.blocks) == (4, 2, 8, 2, 4)
    assert l0.rows == 7 * 4 * 2 and l0.neurons == l0.rows * 8 and l0.padded
    idx = l0.neuron_index()
    for oc, oy, ox in [(0, 0, 0), (5, 6, 6), (3, 2, 5), (4, 1, 1)]:
        row = (oy * 4 + ox // 2) * 2 + oc // 4
        assert idx[oc, oy, ox] == row * 8 + (ox % 2) * 4 + oc % 4
    assert len(set(idx.ravel().tolist())) == idx.size          # one neuron each
    # taps 1: the layout of docs/accelerator.md, unchanged
    p1 = plan(_conv_model(), lanes=4)
    q1 = plan(_conv_model(), lanes=4, taps=1)
    assert p1.memory == q1.memory and p1.taps == 1 == q1.taps
    lp = p1.layers[0]
    assert lp.core_lanes == 4 and lp.blocks == 7
    oc, oy, ox = np.meshgrid(range(6), range(7), range(7), indexing="ij")
    assert np.array_equal(lp.neuron_index(), (oy * 7 + ox) * 8 + oc)


def test_taps_plan_figures():
    net2 = load("net2-aug")
    p = plan(net2, lanes=(8, 32, 8), taps=(1, 2, 1))
    assert p.taps == (1, 2, 1) and p.lanes == (8, 32, 8)
    assert [lp.core_lanes for lp in p.layers] == [8, 64, 8] and p.multipliers == 80
    base = plan(net2, lanes=(8, 32, 8))
    # the second layer's weights twice, the rest unchanged
    l1 = base.layers[1]
    assert p.memory["weights"] == base.memory["weights"] + l1.rom_depth * l1.rom_width
    assert p.memory["membranes"] == base.memory["membranes"]     # 8 x 8 x 64 neurons either way
    assert p.memory["pooling"] == base.memory["pooling"]
    names = [m[0] for m in p.memories()]
    assert "weights1.0" in names and "weights1.1" in names and "weights0" in names
    assert "taps 1,2,1" in p.describe() and "64 lanes = 32 x 2 taps" in p.describe()
    # one count: every conv layer (dense layers 1)
    assert plan(net2, lanes=8, taps=2).taps == (2, 2, 1)
    assert plan(net2, lanes=8, taps=(1, 1, 1)).taps == 1


@pytest.mark.parametrize("kwargs, message", [
    ({"taps": 3}, r"^Taps must be a power of two, not 3$"),
    ({"taps": (1, 2, 2)}, r"^Taps of weighted layer 2 must be 1 on a dense layer, not 2 "
                          r"\(taps are output columns of a convolution\)$"),
    ({"taps": (1, 8, 1)}, r"^layers\[2\] \(conv2d\): taps 8 exceed its 5x5 kernel "
                          r"\(taps <= 5\)$"),
    ({"lanes": 64, "taps": (1, 2, 1)}, r"^layers\[2\] \(conv2d\): 64 lanes x 2 taps = 128 "
                                       r"NeuronCore lanes, more than 64$"),
    ({"taps": (4, 1, 1)}, r"^layers\[0\] \(conv2d\): taps 4 do not divide its sum-pooling "
                          r"size 2 \(a column block must lie in one pooling window\)$"),
    ({"taps": (2, 2)}, r"^taps 2,2 name 2 layers; the model has 3 weighted layers$"),
    ({"taps": 0}, r"^Taps must be an integer between 1 and 64, not 0$"),
])
def test_taps_refusals(kwargs, message):
    with pytest.raises(ValueError, match=message):      # PlanError is a ValueError
        plan(load("net2-aug"), **kwargs)


def test_taps_refuse_column_padding_without_padding():
    # 7 output columns, taps 2: the last block has a padding column
    with pytest.raises(PlanError, match=r"^layers\[0\] \(conv2d\): taps 2 do not divide its 7 "
                                        r"output columns \(padding=False\)$"):
        plan(_conv_model(), lanes=2, taps=(2, 1, 1), padding=False)


def test_taps_type():
    with pytest.raises(TypeError):
        plan(load("net2-aug"), taps="2")


# -- FanOut -------------------------------------------------------------------------------

def ref_fanout_taps(lp, ev):
    """The INTEGRATE beats of one event with taps: one per (valid dy, block touched, group)."""
    L, G, P, k, p = lp.lanes, lp.groups, lp.taps, lp.k, lp.padding
    c, y, x, coef = ev["c"], ev["y"], ev["x"], ev["coef"]
    w = lp.weight.astype(np.int64)
    beats = []
    for dy in range(k):
        oy = y + p - dy
        if not 0 <= oy < lp.out_h:
            continue
        blocks = sorted({(x + p - dx) // P for dx in range(k) if 0 <= x + p - dx < lp.out_w})
        for b in blocks:
            for g in range(G):
                cur = []
                for j in range(P):
                    ox = b * P + j
                    dx = x + p - ox
                    for kk in range(L):
                        ok = 0 <= dx < k and 0 <= ox < lp.out_w and g * L + kk < lp.out_channels
                        cur.append(int(w[g * L + kk, c, dy, dx]) * coef if ok else 0)
                beats.append(((oy * lp.blocks + b) * G + g, tuple(cur)))
    return beats


@pytest.mark.parametrize("layer, lanes, taps", [(0, 4, (2, 1, 1)), (1, 2, (1, 2, 1)),
                                                (0, 1, (2, 2, 1))])
def test_fanout_taps(layer, lanes, taps):
    """Layer 0: k3, zero padding 1, 7 columns (a padding column); layer 1: k2, 2 columns."""
    lp = _taps_layers(lanes, taps)[layer]
    assert lp.taps == 2
    dut = FanOut(lp, rom_backend="memory")
    events = _events(np.random.default_rng(70 + layer + lanes), lp, 30)
    want = [ref_fanout_taps(lp, ev) if not ev["done"] else "FIRE" for ev in events]
    total = 1 + sum(len(w) if w != "FIRE" else 1 for w in want)
    got = []
    prng = random.Random(layer + 10 * lanes)

    async def put(ctx):
        ctx.set(dut.clear, 1)
        await ctx.tick()
        ctx.set(dut.clear, 0)
        await put_all(ctx, dut.i, events, rng=prng, idle=IDLE)

    async def get(ctx):
        got.extend(await get_all(ctx, dut.o, count=total, rng=prng, stall=STALL))
        await _settle_busy(ctx, dut)

    simulate(dut, put, get)
    assert got[0]["op"] == Op.CLEAR
    pos = 1
    for ev, w in zip(events, want):
        if w == "FIRE":
            assert got[pos]["op"] == Op.FIRE, f"event {ev}"
            pos += 1
            continue
        chunk = got[pos:pos + len(w)]
        assert all(b["op"] == Op.INTEGRATE for b in chunk), f"event {ev}"
        assert sorted((b["row"], tuple(b["current"])) for b in chunk) == sorted(w), f"event {ev}"
        pos += len(w)
    assert pos == len(got)
