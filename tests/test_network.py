"""Whole-network golden model against a naive integer reference, and its reports."""

import numpy as np
import pytest

from augsnn.golden.convert import ann_forward, convert
from augsnn.golden.model import Dense, Flatten, Model, SumPool
from augsnn.golden.network import simulate
from augsnn.golden.neuron import NeuronParams, step


def naive_current(layer, x):
    """Event-driven integer current of a weighted layer."""
    w = layer.weight.astype(np.int64)
    if isinstance(layer, Dense):
        return np.array([sum(int(w[o, j]) * int(x[j]) for j in np.nonzero(x)[0])
                         for o in range(w.shape[0])], dtype=np.int64)
    oc, ic, k, _ = w.shape
    _, h, wd = x.shape
    out = np.zeros((oc, h - k + 1, wd - k + 1), dtype=np.int64)
    for c, y, xx in zip(*np.nonzero(x)):  # event-driven: scatter each non-zero input
        for dy in range(k):
            for dx in range(k):
                oy, ox = y - dy, xx - dx
                if 0 <= oy < h - k + 1 and 0 <= ox < wd - k + 1:
                    out[:, oy, ox] += w[:, c, dy, dx] * x[c, y, xx]
    return out


def naive_run(model, image, T):
    """Straight integer loops (no BLAS, no vectorisation over neurons): per-step spikes."""
    layers = model.layers
    shapes = model.shapes()
    first = model.first_weighted
    w_idx = [i for i, l in enumerate(layers) if hasattr(l, "weight")]
    v = {i: np.full(shapes[i + 1], layers[i].neuron.v_init, dtype=np.int64) for i in w_idx}
    x0 = image.reshape(shapes[first]).astype(np.int64)

    i0 = naive_current(layers[first], x0)
    trace = {i: [] for i in w_idx}
    for _ in range(T):
        x = None
        for i in range(first, len(layers)):
            layer = layers[i]
            if isinstance(layer, SumPool):
                c, h, wd = x.shape
                s = layer.size
                x = x[:, :h // s * s, :wd // s * s].reshape(c, h // s, s, wd // s, s).sum((2, 4))
                continue
            if isinstance(layer, Flatten):
                x = x.reshape(-1)
                continue
            cur = i0 if i == first else naive_current(layer, x)
            o, v[i] = step(v[i], cur, layer.neuron)
            trace[i].append(o)
            x = o
    return [np.array(trace[i]) for i in w_idx]


def random_model(rng, method="aug", coef_bits=None, pot_bits=None, double=True):
    layers = [
        {"type": "conv2d", "weight": rng.normal(0, 0.3, (3, 1, 3, 3))},
        {"type": "leaky_relu", "alpha": 0.125} if double else {"type": "relu"},
        {"type": "avgpool", "size": 2},
        {"type": "conv2d", "weight": rng.normal(0, 0.3, (4, 3, 2, 2))},
        {"type": "leaky_relu", "alpha": 0.25} if double else {"type": "relu"},
        {"type": "flatten"},
        {"type": "dense", "weight": rng.normal(0, 0.3, (5, 4 * 3 * 3))},
    ]
    calib = rng.integers(0, 256, (20, 1, 10, 10), dtype=np.uint8)
    return convert(layers, method, input_shape=(1, 10, 10), coef_bits=coef_bits,
                   pot_bits=pot_bits, calib_images=calib, name="rnd"), layers


@pytest.mark.parametrize("seed, method, coef_bits, pot_bits", [
    (0, "aug", 8, None), (1, "aug", 3, None), (2, "ter", 2, None), (3, "datanorm", 2, None),
    (4, "aug", 4, 12),  # narrow membrane: saturation happens
])
def test_matches_naive_integer_reference(seed, method, coef_bits, pot_bits):
    rng = np.random.default_rng(seed)
    model, _ = random_model(rng, method, coef_bits, pot_bits, double=method != "datanorm")
    images = rng.integers(0, 256, (3, 1, 10, 10), dtype=np.uint8)
    images[0, 0, :5] = 0  # some zero pixels
    T = 12
    res = simulate(model, images, T, trace=True, batch_size=2)
    for b in range(len(images)):
        ref = naive_run(model, images[b], T)
        for li, layer_trace in enumerate(ref):
            np.testing.assert_array_equal(res.trace[li][:, b], layer_trace,
                                          err_msg=f"image {b} layer {li}")
        np.testing.assert_array_equal(res.out[:, b], ref[-1])
        np.testing.assert_array_equal(res.counts[b], ref[-1].sum(0))
        for li, layer_trace in enumerate(ref):
            np.testing.assert_array_equal(
                res.events[li, :, b], (layer_trace != 0).reshape(T, -1).sum(1))


def test_saturation_really_happens_in_narrow_model():
    rng = np.random.default_rng(4)
    model, _ = random_model(rng, "aug", 4, 12)
    images = rng.integers(0, 256, (3, 1, 10, 10), dtype=np.uint8)  # as in the test above
    images[0, 0, :5] = 0
    first = model.weighted[0]
    assert model.current_bounds()[0] > first.neuron.v_max  # one step can exceed the range
    currents = [naive_current(first, im.astype(np.int64)) for im in images]
    assert max(int(np.abs(c).max()) for c in currents) > first.neuron.v_max  # it saturates


def test_decision_ties_go_to_lowest_index_and_accuracy_per_step():
    w = np.zeros((3, 2), dtype=np.int8)
    w[1, 0] = w[2, 0] = 1  # classes 1 and 2 tie every step
    model = Model("tie", "aug", (2,), [Dense(w, NeuronParams(1, 1, 8, 16), 8)])
    res = simulate(model, np.array([[5, 0]], dtype=np.uint8), 3)
    assert res.out[:, 0].tolist() == [[0, 5, 5]] * 3
    assert res.pred.tolist() == [1]
    empty = simulate(model, np.array([[0, 0]], dtype=np.uint8), 2)
    assert empty.pred.tolist() == [0]  # all zero: lowest index
    assert res.accuracy_per_step([1]).tolist() == [1.0, 1.0, 1.0]


def test_membrane_output_mode():
    w = np.array([[2, 0], [0, 1]], dtype=np.int8)
    model = Model("m", "aug", (2,), [Dense(w, NeuronParams(1, 1, 8, 8), 8)], output="membrane")
    res = simulate(model, np.array([[3, 100]], dtype=np.uint8), 2)
    assert res.out[:, 0].tolist() == [[6, 100], [12, 127]]  # V integrates and saturates
    assert res.pred.tolist() == [1]
    assert res.events[0].sum() == 0


def test_synops_count_fan_out():
    rng = np.random.default_rng(7)
    model, _ = random_model(rng)
    images = np.zeros((1, 1, 10, 10), dtype=np.uint8)
    images[0, 0, 0, 0] = 9    # corner pixel feeds one 3x3 output position
    images[0, 0, 5, 5] = 9    # centre pixel feeds nine
    res = simulate(model, images, 4, trace=True)
    assert res.synops[0, 0, 0] == 3 * (1 + 9)
    assert res.synops[0, 1:, 0].sum() == 0  # the image current is counted once
    # dense layer: non-zero inputs times 5 outputs
    nz = (res.trace[1][:, 0] != 0).reshape(4, -1).sum(1)
    assert res.synops[2, :, 0].tolist() == (nz * 5).tolist()


def test_aug_snn_converges_to_ann_decision():
    rng = np.random.default_rng(11)
    model, layers = random_model(rng)
    images = rng.integers(0, 256, (40, 1, 10, 10), dtype=np.uint8)
    ann = ann_forward(layers, images).argmax(1)
    res = simulate(model, images, 200)
    agree = (res.pred_per_step == ann[None]).mean(1)
    assert agree[-1] >= 0.9 and agree[-1] > agree[0]


def test_bad_inputs():
    rng = np.random.default_rng(0)
    model, _ = random_model(rng)
    with pytest.raises(TypeError, match=r"^images must be uint8 pixels, not float64$"):
        simulate(model, np.zeros((1, 1, 10, 10)), 4)
    with pytest.raises(ValueError, match=r"do not match the model's input \(1, 10, 10\)$"):
        simulate(model, np.zeros((1, 1, 9, 10), dtype=np.uint8), 4)
    with pytest.raises(ValueError, match=r"^T must be an integer >= 1, not 0$"):
        simulate(model, np.zeros((1, 1, 10, 10), dtype=np.uint8), 0)


def test_refuses_inexact_model(monkeypatch):
    rng = np.random.default_rng(0)
    model, _ = random_model(rng)
    images = np.zeros((1, 1, 10, 10), dtype=np.uint8)
    simulate(model, images, 1)
    monkeypatch.setattr(Model, "current_bounds", lambda self: [1, 2 ** 53, 1])
    with pytest.raises(ValueError, match=r"^weighted layer 1: current bound 9007199254740992 "
                                         r"reaches 2\*\*53"):
        simulate(model, images, 1)
