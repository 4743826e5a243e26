"""The fast golden model against a plain step-by-step integer reference, to the bit.

``reference`` below is the golden model as it was before it was made fast: every step, every
layer in order, integer currents (int64 products, no float, no closed forms, no layouts),
``neuron.step``. The fast :func:`augsnn.golden.network.simulate` must report the same
arrays (per-step output, counts, decisions, events, synops, every layer's trace) on random
models that reach every corner (dense, conv, padding, pooling with odd edges, single and
double thresholds, coefficients capped at M, saturated membranes, v_init != 0, membrane
output, coef_bits 2..16) and on the shipped zoo models.
"""

from pathlib import Path

import numpy as np
import pytest

from augsnn.golden import network
from augsnn.golden.model import Conv2d, Dense, Flatten, Model, SumPool
from augsnn.golden.modelfile import load
from augsnn.golden.network import simulate
from augsnn.golden.neuron import NeuronParams, constant_current_spikes, run, step
from augsnn.golden.threads import _openblas, blas_single_thread

ZOO = sorted(p.stem for p in (Path(network.__file__).parent / "zoo").glob("*.npz"))


def _current(layer, x):
    """Exact int64 current of a weighted layer for int64 inputs (B, ...)."""
    w = layer.weight.astype(np.int64)
    if isinstance(layer, Dense):
        return np.einsum("bi,oi->bo", x, w)
    p = layer.padding
    x = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    k = w.shape[-1]
    win = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))  # B,C,H',W',k,k
    return np.einsum("bchwij,ocij->bohw", win, w)


def reference(model, images, T):
    """Plain step-by-step integer simulation; returns the arrays ``simulate`` reports."""
    B = len(images)
    layers = model.layers
    shapes = model.shapes()
    first = model.first_weighted
    weighted = [i for i, layer in enumerate(layers) if hasattr(layer, "weight")]
    L = len(weighted)
    membrane = model.output == "membrane"
    v = {i: np.full((B,) + shapes[i + 1], layers[i].neuron.v_init, dtype=np.int64)
         for i in weighted}
    trace = {i: np.zeros((T, B) + shapes[i + 1], dtype=np.int64) for i in weighted}
    events = np.zeros((L, T, B), dtype=np.int64)
    synops = np.zeros((L, T, B), dtype=np.int64)
    x0 = images.reshape((B,) + shapes[first]).astype(np.int64)
    i0 = _current(layers[first], x0)
    fan = {i: layers[i].fan_out(shapes[i]).reshape(-1) for i in weighted}
    synops[0, 0] = (x0 != 0).reshape(B, -1) @ fan[first]
    for t in range(T):
        x = None
        for li, i in enumerate(weighted):
            j = weighted[li - 1] + 1 if li else i
            for mid in range(j, i):  # pooling and flatten between weighted layers
                lay = layers[mid]
                if isinstance(lay, SumPool):
                    s = lay.size
                    _, c, h, w = x.shape
                    x = x[:, :, :h // s * s, :w // s * s].reshape(
                        B, c, h // s, s, w // s, s).sum(axis=(3, 5))
                else:
                    x = x.reshape(B, -1)
            if li == 0:
                cur = i0
            else:
                synops[li, t] = (x != 0).reshape(B, -1) @ fan[i]
                cur = _current(layers[i], x)
            n = layers[i].neuron
            if li == L - 1 and membrane:
                v[i] = np.clip(v[i] + cur, n.v_min, n.v_max)
                trace[i][t] = v[i]
                continue
            o, v[i] = step(v[i], cur, n)
            trace[i][t] = o
            events[li, t] = (o != 0).reshape(B, -1).sum(axis=1)
            x = o
    out = trace[weighted[-1]]
    acc = out if membrane else np.cumsum(out, axis=0)
    return {"out": out, "counts": acc[-1], "pred_per_step": np.argmax(acc, axis=2),
            "events": events, "synops": synops, "trace": [trace[i] for i in weighted]}


def assert_same(res, ref, what=""):
    for key in ("out", "counts", "pred_per_step", "events", "synops"):
        np.testing.assert_array_equal(getattr(res, key), ref[key], err_msg=f"{what} {key}")
    assert res.out.dtype == np.int64 and res.counts.dtype == np.int64
    assert res.pred_per_step.dtype == np.int16
    assert res.events.dtype == np.int64 and res.synops.dtype == np.int64
    if res.trace is not None:
        for li, (a, b) in enumerate(zip(res.trace, ref["trace"])):
            assert a.dtype == np.int64
            np.testing.assert_array_equal(a, b, err_msg=f"{what} trace of layer {li}")


def _neuron(rng, bound, coef_bits, double, narrow):
    """Thresholds a few times below the current bound (spikes, caps); narrow: saturation."""
    tp = int(max(1, bound // int(rng.integers(2, 300))))
    tn = int(tp * int(rng.choice([1, 2, 8]))) if double else None
    pot = max(int(tp * ((1 << (coef_bits - 1)))).bit_length(), (tn or 1).bit_length()) + 2
    if narrow:  # one step's current can pass the membrane range
        pot = max(min(pot, int(bound).bit_length() - 1), (max(tp, tn or 1)).bit_length() + 1)
    pot = min(pot, 60)
    lim = (1 << (pot - 1)) - 1
    v0 = int(rng.integers(-min(lim, 3 * tp), min(lim, 3 * tp) + 1)) if rng.random() < 0.3 else 0
    return NeuronParams(tp, tn, coef_bits, pot, v0)


def random_model(seed, kind):
    """A random integer model; ``kind``: dense, conv (padding, pools with odd edges)."""
    rng = np.random.default_rng(seed)
    double = bool(rng.random() < 0.7)
    narrow = bool(rng.random() < 0.4)
    coef = [int(rng.integers(2, 17)) for _ in range(4)]
    wb = int(rng.integers(2, 9))
    wmax = (1 << (wb - 1)) - 1

    def weight(shape):
        return rng.integers(-wmax, wmax + 1, shape).astype(np.int16)

    layers, in_bound = [], 255
    if kind == "dense":
        shape = (1, 6, 5)
        sizes = [30, int(rng.integers(8, 40)), int(rng.integers(4, 20)), 5]
        layers.append(Flatten())
        for li in range(3):
            w = weight((sizes[li + 1], sizes[li]))
            bound = int(np.abs(w.astype(np.int64)).sum(1).max()) * in_bound
            n = _neuron(rng, max(bound, 1), coef[li], double or li == 2, narrow)
            layers.append(Dense(w, n, wb))
            in_bound = n.M
    else:
        c_in = int(rng.integers(1, 3))
        hw = int(rng.integers(9, 13))
        shape = (c_in, hw, hw)
        pad = int(rng.integers(0, 2))
        pool = int(rng.choice([2, 3]))
        w1 = weight((3, c_in, 3, 3))
        b1 = int(np.abs(w1.astype(np.int64)).reshape(3, -1).sum(1).max()) * 255
        n1 = _neuron(rng, max(b1, 1), coef[0], double, narrow)
        layers += [Conv2d(w1, n1, wb, padding=pad), SumPool(pool)]
        h = (hw + 2 * pad - 2) // pool
        w2 = weight((4, 3, 2, 2))
        b2 = int(np.abs(w2.astype(np.int64)).reshape(4, -1).sum(1).max()) * n1.M * pool ** 2
        n2 = _neuron(rng, max(b2, 1), coef[1], double, narrow)
        pad2 = int(rng.integers(0, 2))
        layers += [Conv2d(w2, n2, wb, padding=pad2), Flatten()]
        h2 = h + 2 * pad2 - 1
        w3 = weight((5, 4 * h2 * h2))
        b3 = int(np.abs(w3.astype(np.int64)).sum(1).max()) * n2.M
        layers.append(Dense(w3, _neuron(rng, max(b3, 1), coef[2], True, narrow), wb))
        assert h >= 2
    output = "membrane" if rng.random() < 0.15 else "spiking"
    return Model(f"rnd{seed}", "aug", shape, layers, output=output)


def _images(rng, model, n):
    x = rng.integers(0, 256, (n,) + model.input_shape, dtype=np.uint8)
    x[0] = 0                                    # an image without input
    x[1, ..., : model.input_shape[-1] // 2] = 0  # zero pixels
    return x


@pytest.mark.parametrize("seed", range(24))
@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_random_models_match_the_reference(seed, kind):
    model = random_model(seed, kind)
    rng = np.random.default_rng(100 + seed)
    images = _images(rng, model, 5)
    T = int(rng.integers(1, 20))
    ref = reference(model, images, T)
    assert_same(simulate(model, images, T, trace=True), ref, f"{kind} {seed}")
    # other batch sizes give the same arrays (several batches: the worker threads)
    assert_same(simulate(model, images, T, trace=True, batch_size=2), ref, f"{kind} {seed} b2")


def test_random_models_reach_every_corner():
    """The random models above saturate, cap at M, fire negative and use v_init != 0."""
    seen = {"saturated": False, "capped": False, "negative": False, "v_init": False,
            "membrane": False, "single": False}
    coef_bits = set()
    for seed in range(24):
        for kind in ("dense", "conv"):
            model = random_model(seed, kind)
            rng = np.random.default_rng(100 + seed)
            images = _images(rng, model, 5)
            T = int(rng.integers(1, 20))
            ref = reference(model, images, T)
            seen["membrane"] |= model.output == "membrane"
            for layer, tr in zip(model.weighted, ref["trace"]):
                n = layer.neuron
                coef_bits.add(n.coef_bits)
                seen["capped"] |= bool((np.abs(tr) == n.M).any())
                seen["negative"] |= bool((tr < 0).any())
                seen["v_init"] |= n.v_init != 0
                seen["single"] |= n.theta_n is None
            # saturation: some neuron's V + I leaves the membrane range in the first step
            first = model.weighted[0]
            x0 = images.reshape((len(images),) + model.shapes()[model.first_weighted])
            cur = _current(first, x0.astype(np.int64)) + first.neuron.v_init
            seen["saturated"] |= bool((cur > first.neuron.v_max).any() or
                                      (cur < first.neuron.v_min).any())
    assert all(seen.values()), seen
    assert coef_bits == set(range(2, 17)), sorted(coef_bits)


def test_time_windows_and_many_batches(monkeypatch):
    """Runs split into time windows (state carried over) report the same arrays."""
    model = random_model(3, "conv")
    rng = np.random.default_rng(5)
    images = _images(rng, model, 7)
    ref = reference(model, images, 23)
    monkeypatch.setattr(network, "_WINDOW", 1)  # one step per window
    assert_same(simulate(model, images, 23, trace=True, batch_size=3), ref, "windows")


@pytest.mark.parametrize("name", ZOO)
def test_zoo_models_match_the_reference(name):
    from augsnn.golden.datasets import load_mnist
    model = load(name)
    if model.input_shape == (1, 28, 28):
        x, _ = load_mnist("test")
        images = x[:3]
    else:  # pragma: no cover - every zoo model is an MNIST-sized one today
        images = np.random.default_rng(0).integers(0, 256, (3,) + model.input_shape,
                                                    dtype=np.uint8)
    T = 6
    assert_same(simulate(model, images, T, trace=True), reference(model, images, T), name)


def test_run_kernel_equals_step():
    rng = np.random.default_rng(2)
    for trial in range(60):
        tn = None if trial % 3 == 0 else int(rng.integers(1, 400))
        n = NeuronParams(int(rng.integers(1, 300)), tn, int(rng.integers(2, 17)),
                         int(rng.integers(8, 30)))
        cur = rng.integers(-3000 * n.theta_p, 3000 * n.theta_p, (9, 40)).clip(-2 ** 30, 2 ** 30)
        for dt in (np.int32, np.int64):
            if dt == np.int32 and (1 << (n.pot_bits - 1)) + 2 ** 30 >= 2 ** 31:
                continue
            v = np.full(40, n.v_init, dtype=dt)
            out = np.empty((9, 40), dtype=np.int64)
            run(v, cur.astype(dt), n, out, block=16)
            rv = np.full(40, n.v_init, dtype=np.int64)
            for t in range(9):
                o, rv = step(rv, cur[t], n)
                np.testing.assert_array_equal(out[t], o)
            np.testing.assert_array_equal(v, rv)


def test_constant_current_closed_form_equals_step():
    """Where it claims the closed form, every coefficient equals the stepped neuron's."""
    rng = np.random.default_rng(4)
    claimed = 0
    for trial in range(300):
        tp = int(rng.integers(1, 300))
        tn = int(rng.integers(1, 2000)) if trial % 4 else None
        n0 = NeuronParams(tp, tn, int(rng.integers(2, 9)), int(rng.integers(8, 24)))
        v0 = int(rng.integers(n0.v_min, n0.v_max + 1)) if trial % 2 else 0
        n = NeuronParams(tp, tn, n0.coef_bits, n0.pot_bits, v0)
        current = rng.integers(-3 * tp * n.M, 3 * tp * n.M + 1, 64)
        T, t0 = int(rng.integers(1, 30)), int(rng.integers(0, 4))
        out = np.empty((T, 64), dtype=np.int64)
        bad = constant_current_spikes(current, n, t0, T, out, horizon=t0 + T)
        v = np.full(64, v0, dtype=np.int64)
        steps = []
        for _ in range(t0 + T):
            o, v = step(v, current, n)
            steps.append(o)
        ref = np.array(steps[t0:])
        np.testing.assert_array_equal(out[:, ~bad], ref[:, ~bad], err_msg=str((n, t0, T)))
        claimed += int((~bad).sum())
    assert claimed > 5000  # the closed form covers most neurons


def test_batch_size_is_checked_and_blas_threads_restored():
    model = random_model(1, "dense")
    x = np.zeros((2,) + model.input_shape, dtype=np.uint8)
    with pytest.raises(ValueError, match=r"^batch_size must be an integer >= 1 or None, not 0$"):
        simulate(model, x, 2, batch_size=0)
    before = [get() for _, get in _openblas()]
    simulate(model, x, 2, batch_size=1)  # two batches: worker threads, BLAS held to 1
    assert [get() for _, get in _openblas()] == before
    with blas_single_thread():
        assert all(get() == 1 for _, get in _openblas())
    assert [get() for _, get in _openblas()] == before


# --- the optional int8 back end (golden/intmm.py): same arrays, used where it may be --------

@pytest.fixture
def int8_on(monkeypatch):
    """int8 products wherever the operands allow; counts the products that used them."""
    from augsnn.golden import intmm
    if intmm._load() is None:
        pytest.fail("torch's exact int8 product is not usable here (torch missing, or its "
                    "self-test failed): the int8 back end cannot be checked")
    calls = {"int8": 0}
    real = intmm.matmul

    def counted(torch, a, w, out):
        calls["int8"] += 1
        return real(torch, a, w, out)

    monkeypatch.setattr(intmm, "MODE", "on")
    monkeypatch.setattr(intmm, "matmul", counted)
    return calls


def test_int8_products_match_the_reference(int8_on):
    """Random models (both kinds, every seed) and the zoo, int8 products on: same arrays."""
    fallback = 0
    for seed in range(24):
        for kind in ("dense", "conv"):
            model = random_model(seed, kind)
            rng = np.random.default_rng(100 + seed)
            images = _images(rng, model, 5)
            T = int(rng.integers(1, 20))
            ref = reference(model, images, T)
            before = int8_on["int8"]
            assert_same(simulate(model, images, T, trace=True, batch_size=2), ref,
                        f"int8 {kind} {seed}")
            fallback += int8_on["int8"] == before
    assert int8_on["int8"] > 100  # the int8 path ran ...
    assert fallback > 0           # ... and some runs had operands outside int8 (float path)


@pytest.mark.parametrize("name", ["net1-aug", "net2-aug"])
def test_int8_zoo_models_match_the_reference(int8_on, name):
    from augsnn.golden.datasets import load_mnist
    model = load(name)
    x, _ = load_mnist("test")
    ref = reference(model, x[:3], 5)
    int8_on["int8"] = 0
    assert_same(simulate(model, x[:3], 5, trace=True), ref, name)
    assert int8_on["int8"] > 0


def test_int8_operand_checks():
    from augsnn.golden import intmm
    assert intmm.fits(1000, -128, 127) and not intmm.fits(1000, -129, 5)
    assert not intmm.fits(1000, 0, 128) and not intmm.fits(2 ** 31 // 256, -1, 1)
    assert network._fits_int8(np.array([-128, 127], dtype=np.int16))
    assert not network._fits_int8(np.array([-129, 0], dtype=np.int16))
    assert not network._fits_int8(np.array([128], dtype=np.int32))
    assert network._fits_int8(np.array([127], dtype=np.uint8))
    assert not network._fits_int8(np.array([128], dtype=np.uint8))


def test_int8_back_end_off_and_refused(monkeypatch):
    """MODE off, or a product that fails the self-test: NumPy only, same results."""
    import torch
    from augsnn.golden import intmm
    model = load("net1-aug")
    x = np.random.default_rng(1).integers(0, 256, (4,) + model.input_shape, dtype=np.uint8)
    ref = reference(model, x, 3)
    monkeypatch.setattr(intmm, "MODE", "off")
    assert intmm.backend(1e15) is None
    monkeypatch.setattr(intmm, "MODE", "on")
    monkeypatch.setattr(intmm, "_torch", None)  # tried again, with a wrong kernel
    monkeypatch.setattr(torch, "_int_mm", lambda a, b, out=None: torch.zeros(
        a.shape[0], b.shape[1], dtype=torch.int32))
    assert intmm.backend(1e15) is None
    assert_same(simulate(model, x, 3), ref, "refused")
    monkeypatch.setattr(intmm, "_torch", None)  # forget the refusal for later tests


def test_int8_auto_mode_and_torch_threads_restored(monkeypatch):
    import torch
    from augsnn.golden import intmm
    monkeypatch.setattr(intmm, "MODE", "auto")
    assert intmm.backend(1.0) is not None  # torch is imported already: no import cost
    monkeypatch.delitem(__import__("sys").modules, "torch")
    assert intmm.backend(1.0) is None      # not imported, little work: NumPy
    assert intmm.backend(intmm.MIN_MACS) is not None
    monkeypatch.setitem(__import__("sys").modules, "torch", torch)
    before = torch.get_num_threads()
    model = random_model(1, "dense")
    simulate(model, np.zeros((3,) + model.input_shape, dtype=np.uint8), 2, batch_size=1)
    assert torch.get_num_threads() == before


def test_int8_product_with_numpy_size1_strides():
    """numpy may give a size-1 axis a stride of 0 (``[:, None]``); torch's int8 kernel reads
    that stride and then sums wrongly (seen with a (1728, 1) column): the wrapper fixes it."""
    from augsnn.golden import intmm
    torch = intmm._load()
    rng = np.random.default_rng(7)
    nz = rng.random((100, 1728)) < 0.3
    fan = rng.integers(1, 26, 1728)
    col = np.ascontiguousarray(fan.astype(np.int8)[:, None])
    out = np.empty((100, 1), dtype=np.int32)
    intmm.matmul(torch, nz.view(np.int8), intmm.weights(torch, col), out)
    np.testing.assert_array_equal(out[:, 0], nz.astype(np.int64) @ fan)
    row = np.ascontiguousarray(nz[:1].view(np.int8))
    out1 = np.empty((1, 1), dtype=np.int32)
    intmm.matmul(torch, row, intmm.weights(torch, col), out1)
    assert out1[0, 0] == int(nz[0].astype(np.int64) @ fan)
    with pytest.raises(ValueError, match="C-contiguous int8 and int32"):
        intmm.matmul(torch, nz, intmm.weights(torch, col), out)
