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

from augsnn.golden.model import Conv2d, Dense, Flatten, Model, SumPool
from augsnn.golden.modelfile import load
from augsnn.hw.lanes.layouts import beat_layout, event_layout
from augsnn.hw.lanes.plan import PlanError, plan
from augsnn.hw.lanes.pool_walk import PoolWalk
from augsnn.hw.lanes.serializer import EventSerializer
from augsnn.hw.lanes.walk import Walk, beat_shape, producer_walk
from augsnn.sim.stream_sim import get_all, put_all, simulate

from test_lanes_units import (IDLE, STALL, _conv_model, _events, _neuron, _settle_busy,
                              check_fanout, ref_pool_walk)


def _taps_layers(lanes=4, taps=(2, 2, 1)):
    return plan(_conv_model(), lanes=lanes, taps=taps).layers


def _walk_model(seed=2) -> Model:
    """Conv 3ch k3 on 1x7x7 (5 columns: taps 2 leave a padding column) -> conv 5ch k2 (4x4)
    -> sum-pool 2 -> flatten -> dense 3."""
    rng = np.random.default_rng(seed)

    def w(*shape):
        return rng.integers(-100, 101, size=shape).astype(np.int64)

    return Model(name="units-taps", method="aug", input_shape=(1, 7, 7), layers=[
        Conv2d(w(3, 1, 3, 3), _neuron(3), 8), Conv2d(w(5, 3, 2, 2), _neuron(3), 8),
        SumPool(2), Flatten(), Dense(w(3, 20), _neuron(3), 8),
    ], meta={"dataset": "mnist"})


def _beat(prod, cons):
    _, h, w = cons.grid
    lanes, _ = beat_shape(prod)
    return beat_layout(prod.groups, h, w, cons.in_bits, lanes)


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
    events = _events(np.random.default_rng(70 + layer + lanes), lp, 30)
    check_fanout(lp, events,
                 [ref_fanout_taps(lp, ev) if not ev["done"] else "FIRE" for ev in events],
                 random.Random(layer + 10 * lanes))


# -- Walk, PoolWalk, EventSerializer -----------------------------------------------------

def _real(prod, s):
    """Spikes by (channel, oy, ox) from core rows (layout: docs/accelerator.md)."""
    L, P, G = prod.lanes, prod.taps, prod.groups
    out = np.zeros((prod.out_channels, prod.out_h, prod.out_w), np.int64)
    for oc in range(prod.out_channels):
        for oy in range(prod.out_h):
            for ox in range(prod.out_w):
                out[oc, oy, ox] = s[(oy * prod.blocks + ox // P) * G + oc // L,
                                    (ox % P) * L + oc % L]
    return out


def ref_walk_taps(prod, sweeps):
    """Per sweep, a beat ``(g, oy, block, coef[(j, k)])`` per row with a real spike, done."""
    L, P, G = prod.lanes, prod.taps, prod.groups
    out = []
    for s in sweeps:
        real = _real(prod, s)
        for oy in range(prod.out_h):
            for b in range(prod.blocks):
                for g in range(G):
                    coef = [int(real[g * L + k, oy, b * P + j])
                            if g * L + k < prod.out_channels and b * P + j < prod.out_w else 0
                            for j in range(P) for k in range(L)]
                    if any(coef):
                        out.append({"g": g, "y": oy, "x": b, "coef": coef, "done": 0})
        out.append({"coef": [0] * (L * P), "done": 1})
    return out


def ref_pool_walk_taps(prod, sweeps):
    """Per sweep, the non-zero pooled values by band, then ``(px, g)``; ``lanes`` lanes."""
    return ref_pool_walk(prod, sweeps, spikes=_real)


def _sweeps(rng, prod, n, density=0.3):
    m = prod.neuron.M
    out = []
    for _ in range(n):
        s = rng.integers(-m, m + 1, size=(prod.rows, prod.core_lanes))
        s[rng.random(s.shape) >= density] = 0
        out.append(s)
    out.append(np.zeros_like(out[0]))                                    # no spike
    out.append(rng.integers(-m, m + 1, size=(prod.rows, prod.core_lanes)))  # every row
    return out


def _run_walk(dut, prod, sweeps, want, seed):
    L = prod.core_lanes
    beats = []
    for s in sweeps:
        beats += [{"index": row * L, "coef": [int(v) for v in s[row]], "done": 0}
                  for row in range(prod.rows) if s[row].any()]
        beats.append({"index": 0, "coef": [0] * L, "done": 1})
    n_events = sum(int(np.count_nonzero(_real(prod, s))) for s in sweeps)
    got, events = [], [0]
    prng = random.Random(seed)

    async def put(ctx):
        await put_all(ctx, dut.i, beats, rng=prng, idle=IDLE)

    async def get(ctx):
        got.extend(await get_all(ctx, dut.o, count=len(want), rng=prng, stall=STALL))
        await _settle_busy(ctx, dut)

    async def count(ctx):
        async for _, _, ev in ctx.tick().sample(dut.events):
            events[0] += ev

    simulate(dut, put, get, background=[count])
    for g in got:
        if g["done"]:
            del g["g"], g["y"], g["x"]
    assert got == want
    assert events[0] == n_events


@pytest.mark.parametrize("lanes", [2, 1])
def test_walk_taps(lanes):
    """5 columns at taps 2 (a padding column), 3 channels (a padding channel at 2 lanes)."""
    layers = plan(_walk_model(), lanes=lanes, taps=(2, 2, 1)).layers
    prod, cons = layers[0], layers[1]
    dut = producer_walk(prod, _beat(prod, cons))
    assert isinstance(dut, Walk) and prod.blocks == 3 and prod.padded
    sweeps = _sweeps(np.random.default_rng(80 + lanes), prod, 4)
    _run_walk(dut, prod, sweeps, ref_walk_taps(prod, sweeps), seed=lanes)


@pytest.mark.parametrize("model, lanes", [("walk", 4), ("walk", 8), ("conv", 2)])
def test_pool_walk_taps(model, lanes):
    """walk: 4x4 -> 2x2, 5 channels; conv: 7x7 at taps 2 (a padding column, a pooling
    remainder row and block) -> 3x3, 6 channels."""
    m = _walk_model() if model == "walk" else _conv_model()
    layers = plan(m, lanes=lanes, taps=(1, 2, 1) if model == "walk" else (2, 1, 1)).layers
    prod = layers[1] if model == "walk" else layers[0]
    cons = layers[prod.number + 1]
    dut = producer_walk(prod, _beat(prod, cons))
    assert isinstance(dut, PoolWalk) and prod.taps == 2 and prod.pool == 2
    sweeps = _sweeps(np.random.default_rng(90 + lanes), prod, 3)
    _run_walk(dut, prod, sweeps, ref_pool_walk_taps(prod, sweeps), seed=lanes)


def test_event_serializer_taps():
    """Lane ``j*lanes + k`` of a beat of group g, block b: channel g*lanes + k, column b*P + j."""
    layers = plan(_walk_model(), lanes=2, taps=(2, 2, 1)).layers
    prod, cons = layers[0], layers[1]
    L, P = prod.lanes, prod.taps
    dut = EventSerializer(beat=_beat(prod, cons), event=event_layout(cons.grid, cons.in_bits),
                          lanes=L, taps=P)
    rng = np.random.default_rng(7)
    sweeps = _sweeps(rng, prod, 3)
    beats = [b for b in ref_walk_taps(prod, sweeps)]
    for b in beats:
        if b["done"]:
            b.update(g=0, y=0, x=0)
    want = []
    for b in beats:
        if b["done"]:
            want.append({"done": 1, "coef": 0})
            continue
        for lane, v in enumerate(b["coef"]):
            j, k = divmod(lane, L)
            if v:
                want.append({"c": b["g"] * L + k, "y": b["y"], "x": b["x"] * P + j, "coef": v,
                             "done": 0})
    got = []
    prng = random.Random(3)

    async def put(ctx):
        await put_all(ctx, dut.i, beats, rng=prng, idle=IDLE)

    async def get(ctx):
        got.extend(await get_all(ctx, dut.o, count=len(want), rng=prng, stall=STALL))

    simulate(dut, put, get)
    for g in got:
        if g["done"]:
            del g["c"], g["y"], g["x"]
    assert got == want


# -- the CLI and Python options -----------------------------------------------------------

@pytest.mark.parametrize("argv, message", [
    (["sim", "net2-aug", "--taps", "1,2,2"],
     "augsnn sim: error: Taps of weighted layer 2 must be 1 on a dense layer, not 2 (taps are "
     "output columns of a convolution)"),
    (["sim", "net2-aug", "--lanes", "8,64,8", "--taps", "1,2,1"],
     "augsnn sim: error: layers[2] (conv2d): 64 lanes x 2 taps = 128 NeuronCore lanes, more "
     "than 64"),
    (["sim", "net2-aug", "--engine", "compact", "--taps", "2"],
     "augsnn sim: error: --taps does not apply to the compact engine"),
])
def test_cli_refuses_bad_taps(argv, message, capsys):
    from augsnn.cli import main as cli_main
    assert cli_main(argv) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == message


def test_parse_taps():
    from augsnn.hw.lanes.folding import parse_taps
    assert parse_taps("2") == 2 and parse_taps("1,2,1") == (1, 2, 1)
    with pytest.raises(ValueError, match=r"^taps must be a count or a comma-separated count "
                                         r"per weighted layer, not 'x'$"):
        parse_taps("x")


def test_write_verilog_with_taps(tmp_path):
    """Two ROM copies of the tapped layer read the same hex file; nothing else changes."""
    from augsnn.hw.lanes.accelerator import write_verilog
    out = write_verilog(_walk_model(), tmp_path / "t.v", lanes=2, taps=(2, 2, 1))
    text = (tmp_path / "t.v").read_text()
    assert out["plan"].taps == (2, 2, 1) and len(out["hex"]) == 3
    assert text.count('"t_weights0.hex"') == 2 and text.count('"t_weights1.hex"') == 2
    assert text.count('"t_weights2.hex"') == 1
