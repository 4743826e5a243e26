"""Zero-padded convolutions (Net5/Net6's 3x3 'same' convs): golden model, model file,
conversion, torch front end, the CIFAR10 nets, and CIFAR10 end to end on small files."""

import json
import pickle

import numpy as np
import pytest
import torch

from augsnn.cli import main
from augsnn.golden import ann
from augsnn.golden.convert import ann_forward, convert
from augsnn.golden.model import Conv2d, Dense, Flatten, Model, SumPool
from augsnn.golden.modelfile import ModelFileError, load, save
from augsnn.golden.network import simulate
from augsnn.golden.neuron import NeuronParams, step
from augsnn.repro.curves import cosine_per_step


def _padded_model(rng, pad1=1, pad2=1):
    w1 = rng.integers(-40, 41, (3, 2, 3, 3)).astype(np.int8)
    w2 = rng.integers(-40, 41, (4, 3, 3, 3)).astype(np.int8)
    side = (6 + 2 * pad1 - 2 + 2 * pad2 - 2) // 2
    w3 = rng.integers(-40, 41, (5, 4 * side * side)).astype(np.int8)
    return Model("pad", "aug", (2, 6, 6), [
        Conv2d(w1, NeuronParams(200, 1600, 4, 24), 8, pad1),
        Conv2d(w2, NeuronParams(30, 240, 4, 20), 8, pad2),
        SumPool(2), Flatten(),
        Dense(w3, NeuronParams(25, 25, 4, 20), 8)])


def _naive_conv(x, w, pad):
    """Integer cross-correlation of one image (C, H, W) with zero padding, by loops."""
    x = np.pad(x.astype(np.int64), ((0, 0), (pad, pad), (pad, pad)))
    oc, _, k, _ = w.shape
    h, wd = x.shape[1] - k + 1, x.shape[2] - k + 1
    out = np.zeros((oc, h, wd), dtype=np.int64)
    for o in range(oc):
        for y in range(h):
            for z in range(wd):
                out[o, y, z] = int((x[:, y:y + k, z:z + k] * w[o].astype(np.int64)).sum())
    return out


def test_padded_conv_matches_a_naive_integer_reference():
    rng = np.random.default_rng(1)
    model = _padded_model(rng)
    assert model.shapes()[1:3] == [(3, 6, 6), (4, 6, 6)]
    images = rng.integers(0, 256, (3, 2, 6, 6)).astype(np.uint8)
    T = 6
    res = simulate(model, images, T, trace=True)
    c1, c2, _, _, d = model.layers
    for b in range(3):
        v = [np.zeros(s, dtype=np.int64) for s in ((3, 6, 6), (4, 6, 6), (5,))]
        i1 = _naive_conv(images[b], c1.weight, 1)
        for t in range(T):
            o1, v[0] = step(v[0], i1, c1.neuron)
            o2, v[1] = step(v[1], _naive_conv(o1, c2.weight, 1), c2.neuron)
            pooled = o2.reshape(4, 3, 2, 3, 2).sum(axis=(2, 4)).reshape(-1)
            o3, v[2] = step(v[2], d.weight.astype(np.int64) @ pooled, d.neuron)
            np.testing.assert_array_equal(res.trace[0][t, b], o1)
            np.testing.assert_array_equal(res.trace[1][t, b], o2)
            np.testing.assert_array_equal(res.out[t, b], o3)
    assert np.abs(res.trace[1]).max() > 1 and (res.trace[1] < 0).any()  # a real test


def test_padded_fan_out_counts_every_covering_window():
    layer = Conv2d(np.ones((3, 2, 3, 3), dtype=np.int8), NeuronParams(1, 1, 2, 16), 8, 1)
    _, h, w = (2, 5, 7)
    ref = np.zeros((h, w), dtype=np.int64)
    for y in range(h):  # output positions (padding 1, kernel 3: same size)
        for z in range(w):
            for dy in range(3):
                for dz in range(3):
                    iy, iz = y + dy - 1, z + dz - 1
                    if 0 <= iy < h and 0 <= iz < w:
                        ref[iy, iz] += 3
    np.testing.assert_array_equal(layer.fan_out((2, h, w)), np.broadcast_to(ref, (2, h, w)))
    assert layer.fan_out((2, h, w))[0, 2, 3] == 27 and layer.fan_out((2, h, w))[0, 0, 0] == 12


def test_padding_defaults_to_valid_and_is_validated():
    w = np.ones((2, 1, 3, 3), dtype=np.int8)
    n = NeuronParams(1, 1, 2, 16)
    assert Conv2d(w, n, 8).padding == 0 and Conv2d(w, n, 8).out_shape((1, 5, 5)) == (2, 3, 3)
    assert Conv2d(w, n, 8, 2).out_shape((1, 1, 1)) == (2, 3, 3)
    for bad in (3, -1, True, 1.0):
        with pytest.raises(ValueError, match=r"^conv2d padding must be an integer in \[0, 2\]"):
            Conv2d(w, n, 8, bad)


def test_model_file_padding_field(tmp_path):
    rng = np.random.default_rng(2)
    model = _padded_model(rng, pad1=1, pad2=0)
    path = save(model, tmp_path / "p.npz")
    with np.load(path, allow_pickle=False) as npz:
        header = json.loads(str(npz["header"][()]))
        arrays = {k: npz[k] for k in npz.files if k != "header"}
    assert header["layers"][0]["padding"] == 1
    assert "padding" not in header["layers"][1]  # written only when non-zero: old readers agree
    back = load(path)
    assert [layer.padding for layer in back.layers[:2]] == [1, 0]
    x = rng.integers(0, 256, (2, 2, 6, 6)).astype(np.uint8)
    np.testing.assert_array_equal(simulate(back, x, 4).out, simulate(model, x, 4).out)

    def rewrite(mutate, name):
        h = json.loads(json.dumps(header))
        mutate(h)
        p = tmp_path / name
        np.savez(p, header=np.array(json.dumps(h)), **arrays)
        return p
    # files written before padding existed (no field) load with valid convolutions
    old = load("net2-aug")
    assert [layer.padding for layer in old.layers if isinstance(layer, Conv2d)] == [0, 0]
    assert old.shapes()[1] == (12, 24, 24)
    with pytest.raises(ModelFileError, match=r"layers: layers\[4\]: dense layer expects"):
        load(rewrite(lambda h: h["layers"][0].pop("padding"), "old.npz"))
    with pytest.raises(ModelFileError, match=r"layers\[0\]\.padding: must be in \[0, 2\], not 3$"):
        load(rewrite(lambda h: h["layers"][0].update(padding=3), "bad.npz"))
    with pytest.raises(ModelFileError, match=r"layers\[4\]\.padding: only conv2d layers have padding$"):
        load(rewrite(lambda h: h["layers"][4].update(padding=1), "dense.npz"))


def test_front_end_and_conversion_of_a_padded_net():
    torch.manual_seed(0)
    net = ann.build_net("6c3p1-6c3p1-p2-8c3p1-p2-10", (3, 16, 16))
    net.eval()
    assert [m.padding for m in net if isinstance(m, torch.nn.Conv2d)] == [(1, 1)] * 3
    images = np.random.default_rng(0).integers(0, 256, (6, 3, 16, 16), dtype=np.uint8)
    with torch.no_grad():
        # scale the output layer so that logits span many spike units (~20)
        net[-1].weight *= 20 / net(torch.from_numpy(images).float() / 255).abs().max()
        ref = net(torch.from_numpy(images).float() / 255).numpy()
    layers = ann.to_float_layers(net)
    assert [layer.get("padding") for layer in layers if layer["type"] == "conv2d"] == [1, 1, 1]
    logits = ann_forward(layers, images)
    np.testing.assert_allclose(logits, ref, rtol=1e-4, atol=1e-5)
    same = ann.to_float_layers(torch.nn.Sequential(torch.nn.Conv2d(3, 2, 3, padding="same",
                                                                   bias=False)))
    assert same[0]["padding"] == 1
    model = convert(layers, "aug", input_shape=(3, 16, 16), name="p")
    assert [layer.padding for layer in model.weighted[:3]] == [1, 1, 1]
    assert model.shapes()[-1] == (10,)
    res = simulate(model, images, 48)
    cos = cosine_per_step(res.out, logits)
    assert cos[-1] > 0.8 and cos[-1] > cos[7] + 0.1  # rates approach the ANN as T grows
    ter = convert(layers, "ter", input_shape=(3, 16, 16), name="t", calib_images=images)
    assert ter.weighted[1].padding == 1 and ter.weighted[1].neuron.coef_bits == 2


def test_cifar10_nets_build_and_convert():
    arch5, data5, _ = ann.NETS["net5"]
    arch6, data6, _ = ann.NETS["net6"]
    assert data5 == data6 == "cifar10"
    net5 = ann.build_net(arch5, (3, 32, 32), dropout=0.2, conv_dropout=0.2)
    convs = [m for m in net5 if isinstance(m, torch.nn.Conv2d)]
    assert [m.out_channels for m in convs] == [128, 128, 256, 256, 512, 512]
    assert all(m.kernel_size == (3, 3) and m.padding == (1, 1) for m in convs)
    # dropout after every activation not followed by pooling (paper, Section III-A)
    kinds = [type(m).__name__ for m in net5]
    assert kinds[:6] == ["Conv2d", "LeakyReLU", "Dropout", "Conv2d", "LeakyReLU", "AvgPool2d"]
    with torch.no_grad():
        assert net5(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    net6 = ann.build_net(arch6, (3, 32, 32))
    weighted = [m for m in net6 if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    assert len(weighted) == 16 and sum(isinstance(m, torch.nn.Conv2d) for m in weighted) == 13
    with torch.no_grad():
        assert net6(torch.zeros(1, 3, 32, 32)).shape == (1, 10)
    model = convert(ann.to_float_layers(net5), "aug", input_shape=(3, 32, 32), name="net5")
    assert model.shapes()[-1] == (10,) and len(model.weighted) == 8
    res = simulate(model, np.full((1, 3, 32, 32), 128, dtype=np.uint8), 2)
    assert res.out.shape == (2, 1, 10)


def _cifar_folder(folder, n_train=40, n_test=12):
    folder.mkdir(parents=True)
    rng = np.random.default_rng(5)
    for name, n in [(f"data_batch_{i}", n_train) for i in range(1, 6)] + [("test_batch", n_test)]:
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, n)]
        with open(folder / name, "wb") as f:
            pickle.dump({b"labels": labels, b"data": data}, f, protocol=2)


def test_cifar10_train_convert_eval_on_small_files(tmp_path, monkeypatch, capsys):
    _cifar_folder(tmp_path / "cifar")
    monkeypatch.setenv("AUGSNN_CIFAR10_DIR", str(tmp_path / "cifar"))
    ck = tmp_path / "c.pt"
    assert main(["train", "4c3p1-p2-8c3p1-p2-10", "--dataset", "cifar10", "--epochs", "1",
                 "--threads", "1", "-o", str(ck)]) == 0
    net, meta = ann.load_checkpoint(ck)
    assert meta["input_shape"] == [3, 32, 32] and meta["meta"]["dataset"] == "cifar10"
    for method in ("aug", "ter"):
        out = tmp_path / f"c-{method}.npz"
        assert main(["convert", str(ck), "--method", method, "-o", str(out)]) == 0
        model = load(out)
        assert model.input_shape == (3, 32, 32) and model.weighted[0].padding == 1
        assert model.meta["dataset"] == "cifar10" and model.meta["ann_test_images"] == 12
    capsys.readouterr()
    assert main(["eval", str(tmp_path / "c-aug.npz"), "--T", "8", "--no-progress"]) == 0
    assert "on 12 cifar10 images" in capsys.readouterr().out
