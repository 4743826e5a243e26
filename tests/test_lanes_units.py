# amaranth: UnusedElaboratable=no
"""Every unit of the lane accelerator alone in ``amaranth.sim``, against a plain reference.

Each unit (:mod:`augsnn.hw.lanes`: ``EventSerializer``, ``Walk``, ``PoolWalk``, ``FanOut``,
``FirstLayer``; and the ``NeuronCore`` each layer uses) is built from a layer plan of a small model (channel counts that the lanes
do not divide, so padding lanes occur; a conv with zero padding; a pooling remainder), fed
with random inputs with random idle cycles, read with random back-pressure
(:mod:`augsnn.sim.stream_sim`), and its output compared with a reference computed in plain
Python from the unit's documented contract and the neuron layout of
:mod:`augsnn.hw.lanes.plan` (weights from the model's weight arrays, not the ROM image).
The whole network is checked against the golden model in tests/test_accelerator.py.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from augsnn.golden.model import Conv2d, Dense, Flatten, Model, SumPool
from augsnn.golden.neuron import NeuronParams, fire, integrate
from augsnn.hw.lanes.fanout import FanOut
from augsnn.hw.lanes.first_layer import FirstLayer
from augsnn.hw.lanes.layouts import beat_layout, event_layout
from augsnn.hw.lanes.plan import plan
from augsnn.hw.lanes.pool_walk import PoolWalk
from augsnn.hw.lanes.serializer import EventSerializer
from augsnn.hw.lanes.walk import Walk, producer_walk
from augsnn.hw.neuron_core import NeuronCore, Op
from augsnn.sim.stream_sim import get_all, put_all, simulate

IDLE = 0.3      # probability of a further idle cycle before each input
STALL = 0.3     # probability of a further cycle with ``ready`` low before each output


# -- small models -------------------------------------------------------------------------

def _neuron(coef_bits=3):
    return NeuronParams(theta_p=900, theta_n=1500, coef_bits=coef_bits, pot_bits=20, v_init=0)


def _conv_model(seed=0) -> Model:
    """Conv 6ch k3 pad1 on 2x7x7 -> sum-pool 2 (7 -> 3: a remainder row and column) -> conv
    5ch k2 (no pooling) -> flatten -> dense 3. At 4 lanes every layer has padding lanes."""
    rng = np.random.default_rng(seed)

    def w(*shape):
        return rng.integers(-100, 101, size=shape).astype(np.int64)

    return Model(name="units-conv", method="aug", input_shape=(2, 7, 7), layers=[
        Conv2d(w(6, 2, 3, 3), _neuron(3), 8, padding=1), SumPool(2),
        Conv2d(w(5, 6, 2, 2), _neuron(4), 8), Flatten(),
        Dense(w(3, 20), _neuron(3), 8),
    ], meta={"dataset": "mnist"})


def _dense_model(seed=1) -> Model:
    """Flatten 1x4x6 -> dense 6 -> dense 3."""
    rng = np.random.default_rng(seed)

    def w(*shape):
        return rng.integers(-100, 101, size=shape).astype(np.int64)

    return Model(name="units-dense", method="aug", input_shape=(1, 4, 6), layers=[
        Flatten(), Dense(w(6, 24), _neuron(3), 8), Dense(w(3, 6), _neuron(3), 8),
    ], meta={"dataset": "mnist"})


MODELS = {"conv": _conv_model, "dense": _dense_model}


def _layers(model: str, lanes: int):
    return plan(MODELS[model](), lanes=lanes).layers


def _beat(prod, cons):
    """The beat layout between producer ``prod`` and consumer ``cons`` (as the accelerator)."""
    _, h, w = cons.grid
    return beat_layout(prod.groups, h, w, cons.in_bits, cons.lanes)


async def _settle_busy(ctx, dut, cycles=4):
    """``busy`` is low within a few cycles of the last output (the accelerator waits on it)."""
    for _ in range(cycles):
        await ctx.tick()
    assert ctx.get(dut.busy) == 0


# -- EventSerializer ----------------------------------------------------------------------

def ref_serialize(beats, lanes):
    """Events of beats: the non-zero lanes in lane order, channel ``g*lanes + k``; done."""
    out = []
    for b in beats:
        if b["done"]:
            out.append({"done": 1, "coef": 0})
            continue
        for k, v in enumerate(b["coef"]):
            if v:
                out.append({"c": b["g"] * lanes + k, "y": b["y"], "x": b["x"], "coef": v,
                            "done": 0})
    return out


def _random_beats(rng, lp_cons, groups, channels, n, *, zero_rows=0.2, done_every=7):
    """Random beats into consumer ``lp_cons``: real lanes only, some all-zero, some done."""
    _, h, w = lp_cons.grid
    L, m = lp_cons.lanes, lp_cons.in_max
    beats = []
    for i in range(n):
        if i % done_every == done_every - 1:
            beats.append({"g": 0, "y": 0, "x": 0, "coef": [0] * L, "done": 1})
            continue
        g = int(rng.integers(groups))
        coef = [int(rng.integers(-m, m + 1)) if g * L + k < channels and rng.random() < 0.5
                else 0 for k in range(L)]
        if rng.random() < zero_rows:
            coef = [0] * L
        beats.append({"g": g, "y": int(rng.integers(h)), "x": int(rng.integers(w)),
                      "coef": coef, "done": 0})
    return beats


@pytest.mark.parametrize("model, layer, lanes", [("conv", 1, 4), ("conv", 1, 1),
                                                 ("dense", 1, 8)])
def test_event_serializer(model, layer, lanes):
    layers = _layers(model, lanes)
    prod, cons = layers[layer - 1], layers[layer]
    beat = _beat(prod, cons)
    dut = EventSerializer(beat=beat, event=event_layout(cons.grid, cons.in_bits), lanes=lanes)
    rng = np.random.default_rng(10 + lanes)
    beats = _random_beats(rng, cons, prod.groups, prod.out_channels, 60)
    want = ref_serialize(beats, lanes)
    got = []
    prng = random.Random(1)

    async def put(ctx):
        await put_all(ctx, dut.i, beats, rng=prng, idle=IDLE)

    async def get(ctx):
        got.extend(await get_all(ctx, dut.o, count=len(want), rng=prng, stall=STALL))

    simulate(dut, put, get)
    for g in got:      # a done event's coordinates are don't-cares
        if g["done"]:
            del g["c"], g["y"], g["x"]
    assert got == want


def test_event_serializer_rate():
    """One event per cycle: a beat of n non-zero lanes takes n + 1 cycles (the next beat is
    taken once the last event has left; an empty beat one cycle)."""
    layers = _layers("conv", 4)
    prod, cons = layers[0], layers[1]
    dut = EventSerializer(beat=_beat(prod, cons), event=event_layout(cons.grid, cons.in_bits),
                          lanes=4)
    beats = _random_beats(np.random.default_rng(3), cons, prod.groups, prod.out_channels, 40,
                          done_every=1000)
    want = ref_serialize(beats, 4)
    cycles = sum(1 + sum(1 for v in b["coef"] if v) for b in beats)
    took = []

    async def put(ctx):
        await put_all(ctx, dut.i, beats)

    async def get(ctx):
        start = None
        got = []
        ctx.set(dut.o.ready, 1)
        for n in range(cycles + 10):
            _, _, valid, payload = await ctx.tick().sample(dut.o.valid, dut.o.payload)
            if valid:
                start = n if start is None else start
                got.append(payload)
                if len(got) == len(want):
                    took.append(n - start + 1)
                    return

    simulate(dut, put, get)
    assert took and took[0] <= cycles


# -- Walk and PoolWalk --------------------------------------------------------------------

def _sweeps(rng, prod, n_sweeps, density=0.25):
    """Random spike rows of a producer (``rows x lanes`` coefficients, padding lanes too)."""
    m = prod.neuron.M
    out = []
    for _ in range(n_sweeps):
        s = rng.integers(-m, m + 1, size=(prod.rows, prod.lanes))
        s[rng.random(s.shape) >= density] = 0
        out.append(s)
    return out


def _core_beats(prod, sweeps):
    """The NeuronCore output of the sweeps: rows with a spike in row order, then done."""
    beats = []
    for s in sweeps:
        for row in range(prod.rows):
            if s[row].any():
                beats.append({"index": row * prod.lanes, "coef": [int(v) for v in s[row]],
                              "done": 0})
        beats.append({"index": 0, "coef": [0] * prod.lanes, "done": 1})
    return beats


def _real(prod, s):
    """Spikes by (channel, oy, ox), padding neurons dropped (layout of hw/lanes/plan.py)."""
    L, G = prod.lanes, prod.groups
    out = np.zeros((prod.out_channels, prod.out_h, prod.out_w), np.int64)
    for oc in range(prod.out_channels):
        for oy in range(prod.out_h):
            for ox in range(prod.out_w):
                n = (oy * prod.out_w + ox) * G * L + oc
                out[oc, oy, ox] = s[n // L, n % L]
    return out


def ref_walk(prod, sweeps):
    """Walk: per sweep, a beat ``(g, oy, ox, coef)`` per row with a real spike, then done."""
    L, G = prod.lanes, prod.groups
    out = []
    for s in sweeps:
        real = _real(prod, s)
        for oy in range(prod.out_h):
            for ox in range(prod.out_w):
                for g in range(G):
                    coef = [int(real[g * L + k, oy, ox]) if g * L + k < prod.out_channels
                            else 0 for k in range(L)]
                    if any(coef):
                        out.append({"g": g, "y": oy, "x": ox, "coef": coef, "done": 0})
        out.append({"coef": [0] * L, "done": 1})
    return out


def ref_pool_walk(prod, sweeps, spikes=None):
    """PoolWalk: per sweep, the non-zero pooled values by band ``py``, then ``(px, g)``.
    ``spikes(prod, sweep)``: the sweep's spikes by (channel, oy, ox) (default: the layout
    without taps)."""
    L, G, s = prod.lanes, prod.groups, prod.pool
    out = []
    for sw in sweeps:
        real = (spikes or _real)(prod, sw)
        ph, pw = prod.pooled_h, prod.pooled_w
        pooled = real[:, :ph * s, :pw * s].reshape(-1, ph, s, pw, s).sum(axis=(2, 4))
        for py in range(ph):
            for px in range(pw):
                for g in range(G):
                    coef = [int(pooled[g * L + k, py, px]) if g * L + k < prod.out_channels
                            else 0 for k in range(L)]
                    if any(coef):
                        out.append({"g": g, "y": py, "x": px, "coef": coef, "done": 0})
        out.append({"coef": [0] * L, "done": 1})
    return out


def _run_walk(dut, prod, sweeps, want, seed, stall=STALL):
    beats = _core_beats(prod, sweeps)
    n_events = sum(int(np.count_nonzero(_real(prod, s))) for s in sweeps)
    got, events = [], [0]
    prng = random.Random(seed)

    async def put(ctx):
        await put_all(ctx, dut.i, beats, rng=prng, idle=IDLE)

    async def get(ctx):
        got.extend(await get_all(ctx, dut.o, count=len(want), rng=prng, stall=stall))
        await _settle_busy(ctx, dut)

    async def count(ctx):
        """Sum ``events``; ``busy`` must be high from a sweep's first beat to its done."""
        in_sweep = False
        i = dut.i
        async for _, _, ev, busy, take, done in ctx.tick().sample(
                dut.events, dut.busy, i.valid & i.ready, i.payload.done):
            events[0] += ev
            assert busy or not in_sweep, "busy low during a sweep"
            if take:
                in_sweep = not done

    simulate(dut, put, get, background=[count])
    for g in got:      # a done beat's coordinates are don't-cares
        if g["done"]:
            del g["g"], g["y"], g["x"]
    assert got == want
    assert events[0] == n_events


@pytest.mark.parametrize("model, layer, lanes", [("conv", 2, 4), ("conv", 2, 1),
                                                 ("dense", 1, 4)])
def test_walk(model, layer, lanes):
    layers = _layers(model, lanes)
    prod, cons = layers[layer - 1], layers[layer]
    assert prod.pool == 1
    dut = producer_walk(prod, _beat(prod, cons))
    assert isinstance(dut, Walk)
    sweeps = _sweeps(np.random.default_rng(20 + lanes), prod, 8)
    sweeps.append(np.zeros_like(sweeps[0]))                 # a step without spikes
    _run_walk(dut, prod, sweeps, ref_walk(prod, sweeps), seed=lanes)


@pytest.mark.parametrize("lanes, stall", [(4, STALL), (1, STALL), (8, STALL), (4, 0.95)])
def test_pool_walk(lanes, stall):
    """At 8 lanes one row per position: a window's rows update one entry back to back. Heavy
    back-pressure: the walk reaches a buffer the flusher has not emptied yet and waits."""
    layers = _layers("conv", lanes)
    prod, cons = layers[0], layers[1]
    assert prod.pool == 2 and prod.out_h % 2 == 1            # a remainder row and column
    dut = producer_walk(prod, _beat(prod, cons))
    assert isinstance(dut, PoolWalk)
    rng = np.random.default_rng(30 + lanes)
    sweeps = _sweeps(rng, prod, 2) + [np.zeros((prod.rows, lanes), np.int64)]
    dense = rng.integers(-prod.neuron.M, prod.neuron.M + 1, size=(prod.rows, lanes))
    sweeps.append(dense)                                     # every row spikes: full sums
    _run_walk(dut, prod, sweeps, ref_pool_walk(prod, sweeps), seed=lanes, stall=stall)


def test_walk_refuses_the_other_kind():
    conv = _layers("conv", 4)
    with pytest.raises(ValueError, match=r"^Walk takes a layer without pooling, not pool 2 "
                                         r"\(use PoolWalk\)$"):
        Walk(conv[0], _beat(conv[0], conv[1]))
    with pytest.raises(ValueError, match=r"^PoolWalk takes a layer with pooling, not pool 1 "
                                         r"\(use Walk\)$"):
        PoolWalk(conv[1], _beat(conv[1], conv[2]))


# -- FanOut -------------------------------------------------------------------------------

def ref_fanout(lp, ev):
    """The INTEGRATE beats ``(row, currents)`` of one event (order free), from the weights."""
    L, G = lp.lanes, lp.groups
    c, y, x, coef = ev["c"], ev["y"], ev["x"], ev["coef"]
    w = lp.weight.astype(np.int64)
    _, H, W = lp.grid

    def currents(taps):
        return tuple(int(w[(g * L + k,) + taps]) * coef if g * L + k < lp.out_channels else 0
                     for k in range(L))

    beats = []
    if lp.kind == "dense":
        j = (c * H + y) * W + x
        for g in range(G):
            beats.append((g, tuple(int(w[g * L + k, j]) * coef if g * L + k < lp.out_channels
                                   else 0 for k in range(L))))
        return beats
    p = lp.padding
    for dy in range(lp.k):
        for dx in range(lp.k):
            oy, ox = y + p - dy, x + p - dx
            if 0 <= oy < lp.out_h and 0 <= ox < lp.out_w:
                for g in range(G):
                    row = (oy * lp.out_w + ox) * G + g
                    beats.append((row, tuple(
                        int(w[g * L + k, c, dy, dx]) * coef if g * L + k < lp.out_channels
                        else 0 for k in range(L))))
    return beats


def _events(rng, lp, n, *, done_every=9):
    C, H, W = lp.grid
    lo, hi = (1, 255) if lp.number == 0 else (-lp.in_max, lp.in_max)
    out = []
    for i in range(n):
        if i % done_every == done_every - 1:
            out.append({"c": 0, "y": 0, "x": 0, "coef": 0, "done": 1})
        else:
            coef = 0
            while coef == 0:
                coef = int(rng.integers(lo, hi + 1))
            out.append({"c": int(rng.integers(C)), "y": int(rng.integers(H)),
                        "x": int(rng.integers(W)), "coef": coef, "done": 0})
    # Corners and edges (the tap ranges' bounds).
    out += [{"c": C - 1, "y": H - 1, "x": W - 1, "coef": hi, "done": 0},
            {"c": 0, "y": 0, "x": 0, "coef": lo, "done": 0},
            {"c": 0, "y": 0, "x": W - 1, "coef": hi, "done": 0},
            {"c": 0, "y": 0, "x": 0, "coef": 0, "done": 1}]
    return out


@pytest.mark.parametrize("model, layer, lanes", [
    ("conv", 0, 4), ("conv", 1, 4), ("conv", 2, 4), ("conv", 1, 1), ("dense", 0, 8)])
def test_fanout(model, layer, lanes):
    lp = _layers(model, lanes)[layer]
    events = _events(np.random.default_rng(40 + layer + lanes), lp, 30)
    check_fanout(lp, events, [ref_fanout(lp, ev) if not ev["done"] else "FIRE" for ev in events],
                 random.Random(layer))


def check_fanout(lp, events, want, prng):
    """Run ``events`` (after a ``clear``) through a FanOut of ``lp`` with random gaps and
    back-pressure; each event's beats must be ``want`` (its ``(row, current)`` pairs in any
    order, or ``"FIRE"``), in event order after the ``CLEAR`` beat."""
    dut = FanOut(lp, rom_backend="memory")
    total = 1 + sum(len(w) if w != "FIRE" else 1 for w in want)
    got = []

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
    for ev, w in zip(events, want):     # each event's beats, in event order
        if w == "FIRE":
            assert got[pos]["op"] == Op.FIRE, f"event {ev}"
            pos += 1
            continue
        chunk = got[pos:pos + len(w)]
        assert all(b["op"] == Op.INTEGRATE for b in chunk), f"event {ev}"
        assert sorted((b["row"], tuple(b["current"])) for b in chunk) == sorted(w), f"event {ev}"
        pos += len(w)
    assert pos == len(got)


# -- FirstLayer ---------------------------------------------------------------------------

def _image_beats(rng, lp, density=0.5):
    """FanOut 0's INTEGRATE beats of a random image (the reference FanOut), and stray beats."""
    C, H, W = lp.grid
    img = rng.integers(1, 256, size=(C, H, W))
    img[rng.random(img.shape) >= density] = 0
    beats = []
    for c, y, x in zip(*np.nonzero(img)):
        ev = {"c": int(c), "y": int(y), "x": int(x), "coef": int(img[c, y, x])}
        beats += [{"op": Op.INTEGRATE, "row": row, "current": list(cur)}
                  for row, cur in ref_fanout(lp, ev)]
    return beats


def ref_first_layer(lp, beats, T):
    """CLEAR, then T x (INTEGRATE(row, summed current) for every row, FIRE)."""
    cur = np.zeros((lp.rows, lp.lanes), np.int64)
    for b in beats:
        if b["op"] == Op.INTEGRATE:
            cur[b["row"]] += b["current"]
    assert np.abs(cur).max() < 1 << (lp.acc_bits - 1)
    sweep = [{"op": Op.INTEGRATE, "row": r, "current": [int(v) for v in cur[r]]}
             for r in range(lp.rows)]
    return [{"op": Op.CLEAR}] + (sweep + [{"op": Op.FIRE}]) * T


@pytest.mark.parametrize("model, lanes", [("dense", 8), ("dense", 4), ("conv", 4)])
def test_first_layer(model, lanes):
    """Four images through the two banks, each loaded while the one before runs: every image
    sees only its own current (the last sweep zeroes a bank; the second image is aborted
    after a few beats and its bank is zeroed on its own write port while the third runs; the
    fourth is loaded into it, waiting for the zeroing). Dense at 8 / 4 lanes: back-to-back
    updates of one row one / two beats apart."""
    lp = _layers(model, lanes)[0]
    dut = FirstLayer(lp, t_bits=16)
    rng = np.random.default_rng(50 + lanes)
    density = 0.9 if model == "dense" else 0.5
    images = [(_image_beats(rng, lp, density), 2), (_image_beats(rng, lp, density / 2), 3),
              (_image_beats(rng, lp, density), 1), (_image_beats(rng, lp, density / 3), 2)]
    images[1][0].insert(3, {"op": Op.FIRE, "row": 0, "current": [5] * lanes})    # ignored
    wants = [ref_first_layer(lp, beats, T) for beats, T in images]
    aborted, kept = 1, 3            # image 1 stops after its CLEAR and two INTEGRATE beats
    wants[aborted] = wants[aborted][:kept]
    got = [[] for _ in images]
    prng = random.Random(lanes)

    async def put(ctx):
        for beats, T in images:
            await put_all(ctx, dut.acc, beats, rng=prng, idle=IDLE / 2)   # the loading bank
            while ctx.get(dut.acc_busy) or ctx.get(dut.running):
                await ctx.tick()
            ctx.set(dut.steps, T)
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)

    async def get(ctx):
        for n in range(len(images)):
            got[n] = await get_all(ctx, dut.o, count=len(wants[n]), rng=prng, stall=STALL)
            if n == aborted:
                ctx.set(dut.abort, 1)
                await ctx.tick()
                ctx.set(dut.abort, 0)

    simulate(dut, put, get)
    for g, w in zip(got, wants):
        for b in g:
            if b["op"] != Op.INTEGRATE:
                del b["row"], b["current"]
        assert g == w


# -- NeuronCore (the cores of the lane engine; its Verilator suite: tests/test_neuron_core.py)

@pytest.mark.parametrize("theta_p, theta_n, lanes", [(20, 30, 4), (16, None, 1), (8, 32, 2)])
def test_neuron_core(theta_p, theta_n, lanes):
    """CLEAR, then steps of random INTEGRATE beats (one row several times, back to back) and
    FIRE, against the golden neuron (integrate the step's sum, saturate once, fire)."""
    params = NeuronParams(theta_p=theta_p, theta_n=theta_n, coef_bits=3, pot_bits=10,
                          v_init=-3)
    neurons = 8
    dut = NeuronCore(coef_bits=3, current_bits=9, pot_bits=10, theta_p=theta_p,
                     theta_n=theta_n, neurons=neurons, lanes=lanes, v_init=-3, acc_bits=12)
    rng = np.random.default_rng(60 + lanes)
    rows = neurons // lanes
    beats, want = [{"op": Op.CLEAR, "row": 0, "current": [0] * lanes}], []
    v = np.full(neurons, -3, np.int64)
    for step in range(5):
        total = np.zeros(neurons, np.int64)
        for _ in range(12):
            row = int(rng.integers(rows))
            for _ in range(int(rng.integers(1, 3))):
                cur = [int(c) for c in rng.integers(-255, 256, size=lanes)]
                beats.append({"op": Op.INTEGRATE, "row": row, "current": cur})
                total[row * lanes:(row + 1) * lanes] += cur
        beats.append({"op": Op.FIRE, "row": 0, "current": [0] * lanes})
        o, v = fire(integrate(v, total, params), params)
        want += [{"index": r * lanes, "coef": [int(c) for c in o[r * lanes:(r + 1) * lanes]],
                  "done": 0} for r in range(rows) if o[r * lanes:(r + 1) * lanes].any()]
        want.append({"index": 0, "coef": [0] * lanes, "done": 1})
    got = []
    prng = random.Random(lanes)

    async def put(ctx):
        await put_all(ctx, dut.i, beats, rng=prng, idle=IDLE)

    async def get(ctx):
        got.extend(await get_all(ctx, dut.o, count=len(want), rng=prng, stall=STALL))

    simulate(dut, put, get)
    assert got == want
