"""The compact engine's units in amaranth.sim (no Verilator), then the whole engine.

The bank is checked against its documented contract (a registered command, read data two
cycles later, held while the same row is read again); FirePipe against golden.neuron.step;
Scatter (the spike-map scan) against the list of groups a Python loop over the valid kernel
positions gives; MacLanes (the multipliers and accumulators) against a NumPy sum. The engine
on small models against the golden model: the weight frame's checksum, then per image the
answer words (class, counts, events per layer) and every trace beat (each layer's spikes at
every step).
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from amaranth.hdl import Signal, signed
from amaranth.sim import Simulator

from augsnn.golden.model import Conv2d, Dense, Flatten, Model, SumPool
from augsnn.golden import early_exit
from augsnn.golden.network import simulate
from augsnn.golden.neuron import NeuronParams
from augsnn.hw.compact.accelerator import CompactAccelerator
from augsnn.hw.compact.bank import Bank
from augsnn.boards.protocol import encode_image
from augsnn.hw.compact.plan import compact_plan, weight_checksum, weight_frame
from augsnn.sim.stream_sim import get_all, stream_get, stream_put, watch


def test_bank_contract():
    dut = Bank()
    rng = random.Random(3)
    ref = {}
    log = []

    async def bench(ctx):
        pending = []                       # (cycle the data is due, expected row)
        for cycle in range(400):
            addr = rng.randrange(16)
            we = rng.random() < 0.4
            data = rng.getrandbits(32)
            ctx.set(dut.addr, addr)
            ctx.set(dut.we, we)
            ctx.set(dut.wdata, data)
            await ctx.tick()
            got = ctx.get(dut.rdata)
            for due, want in list(pending):
                if due == cycle:
                    log.append((got, want))
                    pending.remove((due, want))
            if we:
                ref[addr] = data          # takes effect with the command, in order
            else:
                pending.append((cycle + 1, ref.get(addr, 0)))   # two clock edges

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert len(log) > 150
    assert all(got == want for got, want in log), [x for x in log if x[0] != x[1]][:5]


def _small_model() -> Model:
    rng = np.random.default_rng(21)

    def w(*shape):
        return rng.integers(-40, 41, size=shape).astype(np.int64)

    return Model(name="small", method="aug", input_shape=(1, 8, 8), layers=[
        Conv2d(w(3, 1, 3, 3), NeuronParams(theta_p=2500, theta_n=4000, coef_bits=3,
                                           pot_bits=20, v_init=0), 8),
        SumPool(2),
        Flatten(),
        Dense(w(4, 27), NeuronParams(theta_p=90, theta_n=150, coef_bits=3, pot_bits=16,
                                     v_init=-2), 8),
    ], meta={"dataset": "mnist"})


def _run_engine(model, requests, timeout=20_000):
    """Send the weight frame, then each ``(image, T, rule)`` request; return the checksum
    answer, the answer words per request and each layer's trace beats ``(index, coef, done)``."""
    plan = compact_plan(model)
    dut = CompactAccelerator(model, trace=True)
    answers, checksum, beats = [], [], {l: [] for l in range(len(plan.layers))}
    n_words = plan.result_words

    async def driver(ctx):
        for byte in weight_frame(plan):
            await stream_put(ctx, dut.i, byte)
        checksum.append((await stream_get(ctx, dut.o))["data"])
        for image, T, rule in requests:
            for byte in encode_image(T, image, rule):
                await stream_put(ctx, dut.i, byte)
            words = await get_all(ctx, dut.o, count=n_words, rng=random.Random(1), stall=0.3,
                                  timeout=timeout)
            assert words[-1]["last"] == 1 and not any(w["last"] for w in words[:-1])
            answers.append([w["data"] for w in words])

    async def tracer(ctx):
        await watch(ctx, [getattr(dut, f"trace{l}") for l in range(len(plan.layers))],
                    lambda l, b: beats[l].append((int(b.index), int(b.coef[0]), int(b.done))))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(driver)
    sim.add_testbench(tracer, background=True)
    sim.run()
    assert checksum == [weight_checksum(plan)]
    return answers, beats


def _check_answers(model, images, T, rule, answers, beats):
    """Answers and trace beats of ``images`` (one request each, same T and rule) against the
    golden model cut at each image's exit step (golden/early_exit.apply). Returns the steps."""
    plan = compact_plan(model)
    gold = simulate(model, images, T, trace=True)
    if rule is None:
        steps = np.full(len(images), T)
        pred, counts, events = gold.pred, gold.counts, gold.events.sum(axis=1)
    else:
        cut = early_exit.apply(gold, rule)
        steps, pred, counts, events = cut.steps, cut.pred, cut.counts, cut.events
    C, L = plan.n_classes, len(plan.layers)
    for b, words in enumerate(answers):
        got_counts = [w - (1 << 32) if w >= 1 << 31 else w for w in words[1:1 + C]]
        assert words[0] == int(pred[b]), (b, words)
        assert got_counts == counts[b].tolist(), b
        assert words[1 + C:1 + C + L] == events[:, b].tolist(), b
        assert words[1 + C + L] == int(steps[b]), b             # the steps run
    # every layer's spikes at every step run, from the trace beats
    for l, lp in enumerate(plan.layers):
        got = np.zeros((len(images), T, lp.neurons), dtype=np.int64)
        img, step = 0, 0
        for index, coef, done in beats[l]:
            if done:
                step += 1
                if step == steps[img]:
                    img, step = img + 1, 0
                continue
            got[img, step, index] = coef
        assert img == len(images), f"layer {l}: {img} images' steps traced"
        want = np.swapaxes(gold.trace[l], 0, 1).reshape(len(images), T, -1).copy()
        for b in range(len(images)):
            want[b, steps[b]:] = 0                       # steps after the exit never run
        assert np.array_equal(got[..., lp.neuron_index().reshape(-1)], want), l
        assert np.count_nonzero(want) > 0, f"layer {l} never spiked: not a real test"
    return steps


def _images(n, seed=5):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 1, 8, 8)).astype(np.uint8)
    images[images < 90] = 0
    return images


def test_engine_matches_golden_in_amaranth_sim():
    model = _small_model()
    images = _images(2)
    T = 3
    answers, beats = _run_engine(model, [(x, T, None) for x in images])
    _check_answers(model, images, T, None, answers, beats)


def test_early_exit_matches_golden():
    """The early-exit rule (docs/golden-model.md): an exit between 1 and T, an exit at
    exactly t_min (the margin was reached before), no exit before T (margin too large)."""
    model = _small_model()
    images = _images(2)
    T = 5
    rules = [early_exit.ExitRule(5, 1), early_exit.ExitRule(2, 4),
             early_exit.ExitRule(1000, 1)]
    answers, beats = _run_engine(model, [(x, T, r) for r in rules for x in images])
    n = len(images)
    got = [_check_answers(model, images, T, r, answers[k * n:(k + 1) * n],
                          _split_beats(beats, answers[:k * n], answers[k * n:(k + 1) * n],
                                       len(model.current_bounds()), 4))
           for k, r in enumerate(rules)]
    early = early_exit.exit_steps(simulate(model, images, T).out, early_exit.ExitRule(2, 1))
    assert ((1 < got[0]) & (got[0] < T)).any() and (got[0] < T).all(), got[0]  # inside 1..T
    assert (got[1] == 4).any() and (early < 4).any(), (got[1], early)   # held to t_min
    assert (got[2] == T).all(), got[2]                               # never decided


def test_early_exit_tie_never_stops():
    """Two output neurons with the same weights tie at the top at every step: margin 1 never
    stops the image, while the same rule stops the untied model early."""
    model = _small_model()
    dense = model.layers[3]
    w = dense.weight.copy()
    w[3] = w[0]                                  # class 3 always equals class 0 (the leader)
    model.layers[3] = Dense(w, dense.neuron, 8)
    images = _images(2)
    T = 4
    rule = early_exit.ExitRule(1, 1)
    answers, beats = _run_engine(model, [(x, T, rule) for x in images])
    steps = _check_answers(model, images, T, rule, answers, beats)
    counts = np.cumsum(simulate(model, images, T).out, axis=0)
    assert (counts[..., 0] == counts[..., 3]).all() and (counts[..., 0] > 0).any()
    assert (steps == T).all(), steps
    assert (early_exit.exit_steps(simulate(_small_model(), images, T).out, rule) < T).all()


def _split_beats(beats, before, answers, L, C):
    """The trace beats of the requests ``answers``, after those of ``before`` (each request
    has ``steps`` done beats per layer)."""
    steps = lambda words: words[1 + C + L]
    skip = sum(steps(w) for w in before)
    take = sum(steps(w) for w in answers)
    out = {}
    for l, seq in beats.items():
        done_seen, start, end = 0, None, len(seq)
        for i, (_, _, done) in enumerate(seq):
            if start is None and done_seen == skip:
                start = i
            if done:
                done_seen += 1
                if done_seen == skip + take:
                    end = i + 1
                    break
        out[l] = seq[start:end]
    return out


@pytest.mark.parametrize("slot", [2, 4])
def test_fire_pipe_matches_golden_neuron(slot):
    """FirePipe alone: random membranes and inputs of two layers (double and single
    threshold, different k) against golden.neuron.step, one neuron a slot."""
    from augsnn.golden.neuron import step
    from augsnn.hw.compact.fire import FirePipe
    layers = [NeuronParams(theta_p=527, theta_n=4214, coef_bits=8, pot_bits=24, v_init=0),
              NeuronParams(theta_p=60, theta_n=None, coef_bits=3, pot_bits=16, v_init=-3)]
    kmax = 7
    d_bits = max(max(p.theta_p, p.theta_n or 0) << (p.coef_bits - 2)
                 for p in layers).bit_length()
    dut = FirePipe(pot_bits=24, coef_bits=8, d_bits=d_bits, slot=slot)
    rng = np.random.default_rng(4)
    cases = []
    for p in layers:
        v = rng.integers(p.v_min, p.v_max + 1, size=60)
        x = rng.integers(-(1 << 22), 1 << 22, size=60) >> rng.integers(0, 22, size=60)
        v[:4] = [p.v_max, p.v_min, 0, p.theta_p]
        x[:4] = [1 << 20, -(1 << 20), 0, 0]
        cases.append((p, v, x))
    got = []

    async def bench(ctx):
        for p, v, x in cases:
            k = p.coef_bits - 1
            ctx.set(dut.c_hi, p.v_max)
            ctx.set(dut.c_dp, p.theta_p << (k - 1))
            ctx.set(dut.c_dn, (p.theta_n or 0) << (k - 1))
            ctx.set(dut.c_hasneg, p.theta_n is not None)
            ctx.set(dut.c_k, k)
            out = []
            for cycle in range(slot * len(v) + dut.LATENCY + slot):
                ph, n = cycle % slot, cycle // slot
                ctx.set(dut.cnt, ph)
                ctx.set(dut.i_valid, ph == 0 and n < len(v))
                if ph == 0 and n < len(v):
                    ctx.set(dut.i_v, int(v[n]))
                    ctx.set(dut.i_x, int(x[n]))
                if ph == dut.LATENCY % slot and ctx.get(dut.o_valid):
                    out.append((ctx.get(dut.o_coef), ctx.get(dut.o_v), ctx.get(dut.o_nz)))
                await ctx.tick()
            got.append(out)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert kmax == 7
    for (p, v, x), out in zip(cases, got):
        o, v_new = step(v.astype(np.int64), x.astype(np.int64), p)
        assert [c for c, _, _ in out] == o.tolist()
        assert [w for _, w, _ in out] == v_new.tolist()
        assert [nz for _, _, nz in out] == (o != 0).tolist()
        assert (o != 0).sum() > 10 and (o < 0).sum() > 3 or p.theta_n is None


def test_single_layer_in_amaranth_sim():
    """A one-layer net (its current and its counts on one bank port: a neuron every four
    cycles), with an early exit."""
    rng = np.random.default_rng(8)
    model = Model(name="one", method="aug", input_shape=(1, 8, 8), layers=[
        Flatten(), Dense(rng.integers(-60, 61, size=(4, 64)).astype(np.int64),
                         NeuronParams(theta_p=3000, theta_n=5000, coef_bits=3, pot_bits=20,
                                      v_init=1), 8)], meta={"dataset": "mnist"})
    images = _images(2)
    T = 4
    rule = early_exit.ExitRule(3, 2)
    answers, beats = _run_engine(model, [(x, T, rule) for x in images])
    steps = _check_answers(model, images, T, rule, answers, beats)
    gold = simulate(model, images, T)
    cycles = compact_plan(model).cycles(gold.synops, steps)     # (no scatter layer)
    assert [w[-1] for w in answers] == pytest.approx(cycles.tolist(), rel=0.03)


def _scatter_rig(spikes, **kw):
    """A Scatter with its spike map in a memory (``spikes``), the lanes always drained."""
    from amaranth.hdl import Module
    from amaranth.lib import data, memory, stream, wiring
    from augsnn.hw.compact.lanes import group_layout
    from augsnn.hw.compact.scatter import SCATTER_CONSTANTS, Scatter

    class Rig(wiring.Component):
        def __init__(self):
            layout = data.StructLayout({n: 16 for n in SCATTER_CONSTANTS})
            self.scat = Scatter(constants=layout, depth=len(spikes), spike_bits=6, x_bits=6,
                                sizes=kw)
            super().__init__({"start": wiring.In(1), "c": wiring.In(layout),
                              "issue": wiring.Out(stream.Signature(group_layout(6),
                                                                   always_ready=True)),
                              "done": wiring.Out(1)})

        def elaborate(self, platform):
            m = Module()
            m.submodules.scat = scat = self.scat
            m.submodules.map = mem = memory.Memory(shape=6, depth=len(spikes),
                                                   init=[v & 63 for v in spikes])
            rd, wr = mem.read_port(), mem.write_port()
            self.mem = mem
            m.d.comb += [rd.addr.eq(scat.sm_ra), scat.sm_rd.eq(rd.data.as_signed()),
                         wr.addr.eq(scat.sm_wa), wr.en.eq(scat.sm_we), wr.data.eq(0),
                         scat.drained.eq(1), scat.start.eq(self.start), scat.c.eq(self.c),
                         self.done.eq(scat.done)]
            m.d.comb += [self.issue.valid.eq(scat.issue.valid),
                         self.issue.payload.eq(scat.issue.payload)]
            return m
    return Rig()


@pytest.mark.parametrize("j0, nbk, last", [(0, 2, True), (1, 1, False)])
def test_scatter_issues_the_groups_of_every_entry(j0, nbk, last):
    """Scatter alone: a 2 x 5 x 5 spike map into a 3 x 3 kernel (3 x 3 outputs, 2 blocks of
    channels), one pass of ``nbk`` blocks from block ``j0``: every valid (entry, kernel
    position, block) once, in order, with its weight row, accumulator row, value and last-
    block flag; no accumulator row twice within 3 cycles; the last pass clears the map."""
    cin, hin, win, kh, kw, blocks, w_first = 2, 5, 5, 3, 3, 2, 100
    hout, wout = hin - kh + 1, win - kw + 1
    rng = np.random.default_rng(3)
    spikes = rng.integers(-9, 10, size=cin * hin * win) * (rng.random(cin * hin * win) < 0.3)
    spikes[-1] = 5                                   # a non-zero last entry
    rig = _scatter_rig(spikes.tolist(), kh=kh, kw=kw, cin=cin, hin=hin, win=win,
                       pass_blocks=blocks, blocks=blocks)
    consts = dict(S_last=cin * hin * win - 1, c_win1=win - 1, c_hin1=hin - 1, c_kw1=kw - 1,
                  c_kh1=kh - 1, c_wout1=wout - 1, c_hout1=hout - 1, c_wout=wout,
                  c_hw=hout * wout, c_nb=blocks, c_nb1=blocks - 1, c_kwnb=kw * blocks,
                  c_wstep=kh * kw * blocks, p_wrow=w_first + j0, p_j0=j0, p_nb1=nbk - 1,
                  p_last=int(last))
    want = []
    for j, v in enumerate(spikes.tolist()):
        ci, iy, ix = j // (hin * win), j // win % hin, j % win
        for ky in range(max(0, iy - hout + 1), min(kh - 1, iy) + 1):
            for kx in range(max(0, ix - wout + 1), min(kw - 1, ix) + 1):
                for jg in range(j0, j0 + nbk):
                    if v:
                        want.append((w_first + ((ci * kh + ky) * kw + kx) * blocks + jg,
                                     (jg - j0) * hout * wout + (iy - ky) * wout + ix - kx,
                                     v, int(jg == blocks - 1)))
    got, cycles, after = [], [], []

    async def bench(ctx):
        for name, value in consts.items():
            ctx.set(rig.c[name], value)
        ctx.set(rig.start, 1)
        await ctx.tick()
        ctx.set(rig.start, 0)
        for cycle in range(5000):
            _, _, valid, payload, done = await ctx.tick().sample(
                rig.issue.valid, rig.issue.payload, rig.done)
            if valid:
                got.append((payload.row, payload.a, payload.x, payload.lastblk))
                cycles.append(cycle)
            if done:
                break
        else:
            raise AssertionError("the scatter never finished")
        after.extend(ctx.get(rig.mem.data[k]) for k in range(len(spikes)))

    from augsnn.sim.stream_sim import simulate
    simulate(rig, bench)
    assert len(want) >= 40
    assert got == want
    for k, (c, (_, a, _, _)) in enumerate(zip(cycles, got)):
        assert all(a != a2 for c2, (_, a2, _, _) in zip(cycles[:k], got[:k]) if c - c2 < 3)
    assert after == ([0] * len(spikes) if last else [v & 63 for v in spikes.tolist()])


def test_mac_lanes_add_products_and_clear():
    """MacLanes alone: groups of 8 weight bytes (rows of a model bank, read two cycles after
    the issue) times a value added into the lanes (the last block masked), then read and
    cleared through the update port, against a NumPy sum."""
    from amaranth.hdl import Module
    from amaranth.lib import memory, wiring
    from augsnn.hw.compact.lanes import MacLanes
    from augsnn.hw.compact.plan import LANES

    rng = np.random.default_rng(6)
    weights = rng.integers(-128, 128, size=(16, LANES))
    rows = [int.from_bytes(bytes(int(b) & 255 for b in w), "little") for w in weights]
    mask = 0b00011111
    groups = []                         # back to back; no row twice within 3 groups
    for _ in range(40):
        a = int(rng.choice([a for a in range(6) if a not in [g[1] for g in groups[-2:]]]))
        groups.append((int(rng.integers(16)), a, int(rng.integers(-7, 8)),
                       bool(rng.random() < 0.3)))

    class Rig(wiring.Component):
        def __init__(self):
            self.lanes = MacLanes(x_bits=5, acc_bits=20)
            super().__init__({})

        def elaborate(self, platform):
            m = Module()
            m.submodules.lanes = lanes = self.lanes
            m.submodules.bank = bank = memory.Memory(shape=64, depth=16, init=rows)
            rd = bank.read_port()
            q = Signal(64)
            m.d.sync += q.eq(rd.data)                     # the registered bank command
            m.d.comb += [rd.addr.eq(lanes.issue.payload.row), lanes.rdata.eq(q),
                         lanes.lastmask.eq(mask)]
            return m
    rig = Rig()
    lanes = rig.lanes
    got = {}

    async def bench(ctx):
        for row, a, x, lastblk in groups:
            ctx.set(lanes.issue.valid, 1)
            ctx.set(lanes.issue.payload, {"row": row, "a": a, "x": x, "lastblk": lastblk})
            await ctx.tick()
        ctx.set(lanes.issue.valid, 0)
        while not ctx.get(lanes.drained):
            await ctx.tick()
        ctx.set(lanes.in_upd, 1)
        for a in range(6):
            ctx.set(lanes.upd_ra, a)
            await ctx.tick()
            got[a] = [ctx.get(lanes.lane_data[i]) for i in range(LANES)]
            ctx.set(lanes.upd_wa, a)
            ctx.set(lanes.upd_we, (1 << LANES) - 1)    # cleared the cycle after the read
            await ctx.tick()
            ctx.set(lanes.upd_we, 0)
        ctx.set(lanes.upd_ra, 0)
        await ctx.tick()
        await ctx.tick()
        got["cleared"] = [ctx.get(lanes.lane_data[i]) for i in range(LANES)]

    from augsnn.sim.stream_sim import simulate
    simulate(rig, bench)
    want = np.zeros((6, LANES), dtype=np.int64)
    for row, a, x, lastblk in groups:
        keep = [(mask >> i) & 1 if lastblk else 1 for i in range(LANES)]
        want[a] += weights[row] * x * np.array(keep)
    for a in range(6):
        assert [v - (1 << 20) if v >= 1 << 19 else v for v in got[a]] == want[a].tolist(), a
    assert got["cleared"] == [0] * LANES


def test_update_issue_walks_the_neurons_of_a_pass():
    """UpdateIssue alone: a pass of 20 neurons over 2 output positions (10 channels: lanes
    wrap after 8), then a second pass that goes on with the membrane rows: one issue a slot
    at its first cycle, the membrane/current rows in order, each neuron's lane and lane row,
    the delayed flags, and nothing after the pass's last neuron."""
    from augsnn.hw.compact.plan import LANES, UPDATE_CYCLES
    from augsnn.hw.compact.update import UpdateIssue
    from augsnn.sim.stream_sim import simulate
    dut = UpdateIssue(hw_max=4, x_base=500, n_shape=range(64))
    passes = [(1, 100, 19), (0, 0, 23)]              # (first, v_base, last neuron)
    got = []

    async def bench(ctx):
        ctx.set(dut.hw, 2)
        ctx.set(dut.hw1, 1)
        for first, v_base, nlast in passes:
            ctx.set(dut.nlast, nlast)
            ctx.set(dut.enable, 1)
            ctx.set(dut.start, 1)
            ctx.set(dut.first, first)
            ctx.set(dut.v_base, v_base)
            await ctx.tick()
            ctx.set(dut.start, 0)
            out, delayed = [], []
            for _ in range(UPDATE_CYCLES * 30):
                _, _, issue, slot, vr, xr, ra, v1, sel, wa = await ctx.tick().sample(
                    dut.issue, dut.slot, dut.vr, dut.xr, dut.lane_ra, dut.valid1,
                    dut.lane_sel, dut.lane_wa)
                if issue:
                    assert slot == 0
                    out.append((vr, xr, ra))
                if v1:
                    delayed.append((sel, wa))
            got.append((out, delayed))

    simulate(dut, bench)
    (out1, d1), (out2, d2) = got
    lanes = [(co % LANES, (co // LANES) * 2 + pos) for co in range(10) for pos in range(2)]
    assert out1 == [(100 + n, 500 + n, lanes[n][1]) for n in range(20)]
    assert d1 == lanes
    # the second pass continues the walk (membrane rows, neuron count) from the first
    assert [vr for vr, _, _ in out2] == [120 + n for n in range(4)]
    assert [ra for _, _, ra in out2] == [lanes[n][1] for n in range(4)]


def test_writeback_writes_membranes_maps_and_counts():
    """Writeback alone: one neuron a slot (FirePipe's outputs held for the slot), with a
    spike map and bank port 1 modelled as memories of the engine's latencies (map: one cycle;
    bank: two): the membranes written at the write cycle, the spikes summed per pooled entry
    (several neurons a window), and for the output layer the counts added instead."""
    from amaranth.hdl import Module
    from amaranth.lib import memory, wiring
    from augsnn.hw.compact.writeback import Writeback
    from augsnn.sim.stream_sim import simulate

    P, W_AT = 4, 2
    rng = np.random.default_rng(12)
    neurons = [(int(rng.integers(-3, 4)), int(rng.integers(-500, 500)), n // 3)
               for n in range(12)]                           # (coef, reset V, entry)

    class Rig(wiring.Component):
        def __init__(self):
            self.wb = Writeback(slot=P, write_at=W_AT, coef_bits=3, v_bits=12, spike_bits=6,
                                map_bits=3)
            super().__init__({})

        def elaborate(self, platform):
            m = Module()
            m.submodules.wb = wb = self.wb
            m.submodules.map = self.map = smap = memory.Memory(shape=signed(6), depth=8, init=[])
            m.submodules.bank = self.bank = bank = memory.Memory(shape=32, depth=8,
                                                                 init=[5, 6, 7, 8, 0, 0, 0, 0])
            rd, wr = smap.read_port(), smap.write_port()
            m.d.comb += [rd.addr.eq(wb.sm_ra), wb.sm_rd.eq(rd.data), wr.addr.eq(wb.sm_wa),
                         wr.data.eq(wb.sm_wd), wr.en.eq(wb.sm_we)]
            brd, bwr = bank.read_port(), bank.write_port()
            q = Signal(32)
            m.d.sync += q.eq(brd.data)                        # read data two cycles later
            m.d.comb += [brd.addr.eq(wb.c_addr), wb.r1.eq(q), bwr.addr.eq(wb.c_addr),
                         bwr.data.eq(wb.c_data), bwr.en.eq(wb.c_en & wb.c_we)]
            return m

    def run(is_last):
        rig = Rig()
        wb = rig.wb
        writes, out = [], {}

        async def bench(ctx):
            ctx.set(wb.enable, 1)
            ctx.set(wb.is_last, is_last)
            cycle = 0
            for n, (coef, v, entry) in enumerate(neurons + [(0, 0, 0)] * 2):
                for ph in range(P):
                    ctx.set(wb.cycle, ph)
                    real = n < len(neurons)
                    ctx.set(wb.f_valid, real)
                    ctx.set(wb.f_coef, coef)
                    ctx.set(wb.f_nz, coef != 0)
                    ctx.set(wb.f_v, v)
                    ctx.set(wb.vp, 40 + n)
                    ctx.set(wb.cp, n % 4)
                    ctx.set(wb.paddr, entry)
                    _, _, w, va, vd = await ctx.tick().sample(wb.write, wb.v_addr, wb.v_data)
                    if w:
                        writes.append((ph, va, vd))
                    cycle += 1
            out["map"] = [ctx.get(rig.map.data[k]) for k in range(8)]
            out["bank"] = [ctx.get(rig.bank.data[k]) for k in range(8)]

        simulate(rig, bench)
        return writes, out

    writes, out = run(0)
    assert writes == [(W_AT, 40 + n, v) for n, (_, v, _) in enumerate(neurons)]
    want = [0] * 8
    for coef, _, entry in neurons:
        want[entry] += coef
    assert out["map"] == want and out["bank"] == [5, 6, 7, 8, 0, 0, 0, 0]
    writes, out = run(1)                                  # the output layer: counts
    counts = [5, 6, 7, 8]
    for n, (coef, _, _) in enumerate(neurons):
        counts[n % 4] += coef
    assert out["bank"][:4] == [c & 0xFFFFFFFF for c in counts]
    assert out["map"] == [0] * 8
