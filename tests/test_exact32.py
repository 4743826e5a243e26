"""The golden model's float32 fast path: exact on both sides of the 2**24 boundary."""

import numpy as np
import pytest

from augsnn.golden import network
from augsnn.golden.model import Dense, Model
from augsnn.golden.network import simulate
from augsnn.golden.neuron import NeuronParams


@pytest.mark.parametrize("weights, pixels", [
    ([32767, 32767, 1], [255, 255, 1]),                # bound 16,711,425 < 2**24: float32
    ([32767, 32767, 32767, 1], [255, 255, 255, 2]),    # bound > 2**24: float64
    ([-32767, 32767, 32767, 1], [255, 255, 255, 2]),
])
def test_first_current_is_exact_around_2_24(weights, pixels):
    w = np.array([weights, [1] * len(weights)], dtype=np.int16)
    model = Model("x", "aug", (len(weights),),
                  [Dense(w, NeuronParams(1, 1, 2, 40), 16)], output="membrane")
    bound = model.current_bounds()[0]
    assert (bound < network._EXACT32) == (len(weights) == 3)
    x = np.array([pixels], dtype=np.uint8)
    exact = [sum(int(a) * int(b) for a, b in zip(row, pixels)) for row in w.tolist()]
    assert exact[0] % 2 == 1 or abs(exact[0]) < 2 ** 24  # float32 cannot hold odd > 2**24
    res = simulate(model, x, 3)
    assert res.out[:, 0, :].tolist() == [[exact[0] * t, exact[1] * t] for t in (1, 2, 3)]


def test_float32_path_matches_float64_on_a_random_net(monkeypatch):
    rng = np.random.default_rng(3)
    w1 = rng.integers(-127, 128, (64, 100)).astype(np.int8)
    w2 = rng.integers(-127, 128, (10, 64)).astype(np.int8)
    model = Model("r", "aug", (100,), [Dense(w1, NeuronParams(900, 7200, 8, 40), 8),
                                       Dense(w2, NeuronParams(40, 40, 8, 40), 8)])
    assert max(model.current_bounds()) < network._EXACT32
    x = rng.integers(0, 256, (40, 100)).astype(np.uint8)
    fast = simulate(model, x, 20)
    monkeypatch.setattr(network, "_EXACT32", 0)  # force float64 everywhere
    slow = simulate(model, x, 20)
    np.testing.assert_array_equal(fast.out, slow.out)
    np.testing.assert_array_equal(fast.events, slow.events)
    np.testing.assert_array_equal(fast.synops, slow.synops)
    assert fast.events.sum() > 0
