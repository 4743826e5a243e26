"""The compact engine (hw/compact/): its plan, and its RTL against the golden model.

The RTL runs in Verilator through the same testbench as the lane accelerator
(sim/accelerator_tb.py), with the weight frame sent first over the byte stream; every
layer's spikes at every step, the output counts, the events and the cycles are compared.
"""

import re

import numpy as np
import pytest

from augsnn.golden.datasets import load_dataset
from augsnn.golden.model import Conv2d, Dense, Flatten, Model, SumPool
from augsnn.golden.modelfile import load, resolve
from augsnn.golden.neuron import NeuronParams
from augsnn.hw.compact.plan import (BANK_ROWS, NotCompact, compact_plan, weight_checksum,
                                    weight_frame)


def _mixed_model(seed: int = 0) -> Model:
    """A small net that uses what Net2 does not: a single threshold, v_init != 0, a ternary
    layer, a conv feeding a conv without pooling, a dense layer after a flatten."""
    rng = np.random.default_rng(seed)

    def w(*shape):
        return rng.integers(-100, 101, size=shape).astype(np.int64)

    layers = [
        Conv2d(w(6, 1, 3, 3), NeuronParams(theta_p=9000, theta_n=15000, coef_bits=4,
                                           pot_bits=22, v_init=0), 8),
        SumPool(2),
        Conv2d(w(4, 6, 2, 2), NeuronParams(theta_p=700, theta_n=None, coef_bits=2,
                                           pot_bits=18, v_init=5), 8),
        Flatten(),
        Dense(w(5, 64), NeuronParams(theta_p=60, theta_n=90, coef_bits=3, pot_bits=16,
                                     v_init=-3), 8),
    ]
    return Model(name="mixed", method="aug", input_shape=(1, 12, 12), layers=layers,
                 meta={"dataset": "mnist"})


def _regions_apart(plan):
    spans = {}
    for name, (bank, first, rows) in plan.regions.items():
        spans.setdefault(bank, []).append((first, first + rows, name))
    for bank, items in spans.items():
        items.sort()
        for (a0, a1, n0), (b0, b1, n1) in zip(items, items[1:]):
            assert a1 <= b0, f"bank {bank}: {n0} and {n1} overlap"
        assert items[-1][1] <= BANK_ROWS


def test_net2_plan():
    plan = compact_plan(load(resolve("net2-aug")))
    assert [(lp.cin, lp.hin, lp.cout, lp.hout, lp.kh, lp.pool) for lp in plan.layers] == [
        (1, 28, 12, 24, 5, 2), (12, 12, 64, 8, 5, 2), (1024, 1, 10, 1, 1, 1)]
    _regions_apart(plan)
    reg = plan.regions
    # the rows used in the same cycle are in different banks: V0 and W0 | X0 (layer 0's
    # current and update), the last layer's V | the counts; a scatter layer's weights are
    # in both banks at the same rows (one 8-byte group a row)
    assert reg["V0"][0] == reg["W0"][0] == plan.swap[0] != reg["X0"][0]
    assert reg["counts"][0] != reg["V2"][0] == plan.swap[2] and reg["V1"][0] == plan.swap[1]
    for n in (1, 2):
        assert reg[f"W{n}"][1:] == reg[f"W{n}h"][1:] and (reg[f"W{n}"][0], reg[f"W{n}h"][0]) == (0, 1)
    assert plan.banks() == (11445, 15466)
    assert [(lp.blocks, lp.pass_ranges()) for lp in plan.layers[1:]] == [
        (8, [(0, 4), (4, 4)]), (2, [(0, 2)])]
    assert plan.load_bytes == 35884 and plan.spike_depths == (1024, 1728)
    assert plan.spike_bits == 10
    frame = weight_frame(plan)
    assert frame[:2] == b"\x00\x00" and len(frame) == 2 + 35884
    # the payload is each layer's weights in the engine's order: gather, then scatter order
    w1 = plan.layers[1].weight_bytes
    ref = load(resolve("net2-aug")).layers[2].weight          # (64, 12, 5, 5)
    assert np.frombuffer(w1, dtype=np.int8)[:64].tolist() == ref[:, 0, 0, 0].tolist()
    assert weight_checksum(plan) == sum(frame[2:]) % 2 ** 32
    # layer 2 (10 channels): groups of 8, the second one padded with 6 zero weights
    w2 = np.frombuffer(plan.layers[2].weight_bytes, dtype=np.int8).reshape(1024, 16)
    ref2 = load(resolve("net2-aug")).layers[5].weight                # (10, 1024)
    assert (w2[:, :10] == ref2.T).all() and not w2[:, 10:].any()


def test_refusals():
    with pytest.raises(NotCompact, match=re.escape(
            "net1-aug: its compact engine needs 603620 rows of 32 bits in SPRAM (19315840 bits; "
            "the 19142400-bit weights alone take 600000 rows), at best 418810 + 184810 over "
            "the two banks of 16384 rows, which hold 1048576 bits (4 SPRAM blocks)")):
        compact_plan(load(resolve("net1-aug")))
    m = _mixed_model()
    m.layers[0].padding = 1
    with pytest.raises(NotCompact, match=r"^mixed: weighted layer 0: the compact engine runs "
                                         r"valid convolutions only, not padding 1$"):
        compact_plan(Model(name="mixed", method="aug", input_shape=(1, 12, 12),
                           layers=[m.layers[0], SumPool(2), Flatten(),
                                   Dense(np.ones((5, 216), np.int64), m.layers[4].neuron, 8)]))
    small = _mixed_model()
    small.layers[4] = Dense(np.ones((2, 64), np.int64), small.layers[4].neuron, 8)
    with pytest.raises(NotCompact, match=r"^mixed: weighted layer 2: the compact engine needs "
                                         r"at least 3 output channels in a layer after the "
                                         r"first, not 2$"):
        compact_plan(small)
    wide = Model(name="wide", method="aug", input_shape=(1, 20, 20), layers=[
        Conv2d(np.ones((3, 1, 2, 2), np.int64), m.layers[0].neuron, 8),
        Conv2d(np.ones((3, 3, 2, 2), np.int64), m.layers[2].neuron, 8), Flatten(),
        Dense(np.ones((4, 3 * 18 * 18), np.int64), m.layers[4].neuron, 8)])
    with pytest.raises(NotCompact, match=r"^wide: weighted layer 1: its output map of 18x18 "
                                         r"positions is more than the 256 rows"):
        compact_plan(wide)
    mem = _mixed_model()
    mem.output = "membrane"
    with pytest.raises(NotCompact, match="spiking output layers only"):
        compact_plan(mem)


def _images(model, n, seed=1):
    if tuple(model.input_shape) == (1, 28, 28):
        x, _ = load_dataset("mnist", "test")
        return x[:n].reshape((n, 1, 28, 28))
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n,) + tuple(model.input_shape)).astype(np.uint8)


def _check(report, model, T, n):
    assert report["full_state_compared"]
    assert report["mismatches"] == 0, report["first_mismatches"][:5]
    assert report["images"] == n and report["T"] == T
    # the cycle model of docs/compact-engine.md holds within 3 %
    assert 0.97 < report["efficiency"] < 1.03, report["efficiency"]


@pytest.mark.slow
def test_mixed_net_matches_golden_full_state(tmp_path):
    """Every spike of every layer at every step, with idle input cycles and back-pressure."""
    from augsnn.golden.network import simulate
    from augsnn.sim import accelerator as accel
    model = _mixed_model()
    x = _images(model, 4)
    T = 6
    g = simulate(model, x, T)
    assert (g.events.sum(axis=(1, 2)) > 0).all(), "every layer must spike for a real test"
    bld = accel.build(model, engine="compact", cache_dir=tmp_path, quiet=True)
    runs = accel.run_parts(bld, {"accel": (x, T, {"stall_in": 0.3, "stall_out": 0.3,
                                                  "seed": 2})}, quiet=True, progress=0)
    report = accel.compare(model, x, runs["accel"])
    _check(report, model, T, len(x))
    # T = 1 (the last step is the first) on the same build
    run1 = accel.run_images(model, x[:2], 1, build=bld, quiet=True, progress=0)
    _check(accel.compare(model, x[:2], run1), model, 1, 2)


@pytest.mark.slow
def test_net2_matches_golden_full_state(tmp_path):
    from augsnn.sim import accelerator as accel
    model = load(resolve("net2-aug"))
    x = _images(model, 2)
    T = int(model.meta["T"])
    bld = accel.build(model, engine="compact", cache_dir=tmp_path, quiet=True)
    run = accel.run_images(model, x, T, build=bld, quiet=True, progress=0)
    _check(accel.compare(model, x, run), model, T, 2)
