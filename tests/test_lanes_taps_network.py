"""Tap parallelism in the whole lane accelerator, in amaranth.sim, against the golden model.

A small network with ``taps`` > 1 on both conv layers (docs/accelerator.md, "Folding"): the
first conv (3 channels at 2 lanes: a padding channel; 7 output columns at taps 2: a padding
column; no pooling: Walk and EventSerializer with taps; FirstLayer with 4 core lanes), the
second conv at taps 2 followed by sum-pooling (5 channels at 4 lanes: PoolWalk adding the
columns of a block), a dense output layer. Every answer (class, counts, events per layer,
steps) and every layer's spikes at every step must equal the golden model's. (Cycles with
and without taps: docs/accelerator.md, "Measured".)
"""

from __future__ import annotations

import numpy as np
import pytest

from augsnn.golden.model import Conv2d, Dense, Flatten, Model, SumPool
from augsnn.golden.network import simulate
from augsnn.golden.neuron import NeuronParams
from augsnn.hw.lanes.accelerator import Accelerator

from accel_amaranth import run_requests   # tests/accel_amaranth.py

T = 4
LANES = (2, 4, 2)
TAPS = (2, 2, 1)


def _model() -> Model:
    rng = np.random.default_rng(11)

    def w(*shape, r=40):
        return rng.integers(-r, r + 1, size=shape).astype(np.int64)

    def neuron(theta_p, theta_n):
        return NeuronParams(theta_p=theta_p, theta_n=theta_n, coef_bits=3, pot_bits=20,
                            v_init=0)

    return Model(name="taps", method="aug", input_shape=(1, 9, 9), layers=[
        Conv2d(w(3, 1, 3, 3), neuron(2000, 3000), 8),
        Conv2d(w(5, 3, 2, 2), neuron(60, 90), 8),
        SumPool(2),
        Flatten(),
        Dense(w(4, 45, r=20), neuron(60, 90), 8),
    ], meta={"dataset": "mnist"})


def _images(n: int) -> np.ndarray:
    rng = np.random.default_rng(4)
    x = rng.integers(0, 256, size=(n, 1, 9, 9)).astype(np.uint8)
    x[x < 90] = 0
    return x


def _run(model, images, taps):
    """The answer words and every layer's beats ``(image, index, coef, done)``."""
    dut = Accelerator(model, lanes=LANES, taps=taps, trace=True, rom_backend="memory")
    answers, beats = run_requests(dut, [(image, None) for image in images], T)
    return dut.plan, answers, beats


def _spikes(lp, beats, image: int) -> np.ndarray:
    """One image's spikes of layer ``lp`` per step, in the core's neuron layout."""
    L = lp.core_lanes
    out = np.zeros((T + 1, lp.neurons), dtype=np.int64)
    step = 0
    for n, index, coef, done in beats:
        if n != image:
            continue
        if done:
            step += 1
            continue
        out[step, index:index + L] = coef
    assert step == T
    return out[:T]


@pytest.mark.slow
def test_taps_network_matches_golden():
    model = _model()
    x = _images(3)
    g = simulate(model, x, T, trace=True)
    plan, answers, beats = _run(model, x, TAPS)
    assert [lp.taps for lp in plan.layers] == [2, 2, 1]
    l0, l1 = plan.layers[0], plan.layers[1]
    assert l0.out_w % 2 and l0.out_channels % l0.lanes and l1.out_channels % l1.lanes
    assert l1.pool == 2 and l0.pool == 1
    C, L = plan.n_classes, len(plan.layers)
    for b, words in enumerate(answers):
        counts = [w - (1 << 32) if w >= 1 << 31 else w for w in words[1:1 + C]]
        assert (words[0], counts, words[1 + C:1 + C + L], words[1 + C + L]) == (
            int(g.pred[b]), g.counts[b].tolist(), g.events[:, :, b].sum(axis=1).tolist(), T)
        for l, lp in enumerate(plan.layers):
            got = _spikes(lp, beats[l], b)[:, lp.neuron_index()]
            np.testing.assert_array_equal(got, g.trace[l][:, b], err_msg=f"image {b}, layer {l}")
    # every layer spiked (so the comparison means something), both signs somewhere
    for l in range(L):
        assert np.count_nonzero(g.trace[l]) > 0, f"layer {l} never spiked"
    assert any((g.trace[l] < 0).any() for l in range(L))
