"""Conversion rules (docs/golden-model.md, "Conversion decisions"); torch front-end refusals."""

import numpy as np
import pytest
import torch
from torch import nn

from augsnn.golden import ann
from augsnn.golden.convert import ann_forward, calibrate, check_float_net, convert


def mlp(rng, act="leaky_relu"):
    a = {"type": act, "alpha": 0.125} if act == "leaky_relu" else {"type": act}
    return [{"type": "flatten"}, {"type": "dense", "weight": rng.normal(0, 0.1, (20, 64))}, a,
            {"type": "dense", "weight": rng.normal(0, 0.3, (5, 20))}]


def test_aug_thresholds_follow_the_simple_rule():
    rng = np.random.default_rng(0)
    layers = mlp(rng)
    m = convert(layers, "aug", input_shape=(1, 8, 8))
    l1, l2 = m.weighted
    # layer 1: W_int = round(w * k), k = 127 / max|w|; theta_p = k * 255 (1/255 absorbed)
    k1 = 127 / np.abs(layers[1]["weight"]).max()
    assert np.abs(l1.weight).max() == 127
    assert l1.neuron.theta_p == round(k1 * 255)
    assert l1.neuron.theta_n == round(k1 * 255 / 0.125)  # theta_n = theta_p / alpha_n
    k2 = 127 / np.abs(layers[3]["weight"]).max()
    assert l2.neuron.theta_p == round(k2) and l2.neuron.theta_n == round(k2)  # no activation
    assert l1.neuron.coef_bits == 8 and l1.weight.dtype == np.int8


def test_ter_uses_algorithm_1():
    rng = np.random.default_rng(1)
    layers = mlp(rng)
    calib = rng.integers(0, 256, (50, 1, 8, 8), dtype=np.uint8)
    post = calibrate(layers, calib)
    # post_factor = max(max|w|, max|z|) per layer
    x = calib.reshape(50, -1) / 255
    z1 = x @ layers[1]["weight"].T
    z1 = np.where(z1 >= 0, z1, z1 * 0.125)
    z2 = z1 @ layers[3]["weight"].T
    assert post[0] == pytest.approx(max(np.abs(layers[1]["weight"]).max(), np.abs(z1).max()), rel=1e-5)
    assert post[1] == pytest.approx(max(np.abs(layers[3]["weight"]).max(), np.abs(z2).max()), rel=1e-5)
    m = convert(layers, "ter", input_shape=(1, 8, 8), calib_images=calib)
    l1, l2 = m.weighted
    k1 = 127 / np.abs(layers[1]["weight"]).max()
    k2 = 127 / np.abs(layers[3]["weight"]).max()
    assert l1.neuron.theta_p == round(k1 * 255 * post[0])          # lambda_1 = post_1 / 1
    assert l2.neuron.theta_p == round(k2 * post[1] / post[0])      # lambda_2 = post_2 / post_1
    assert l1.neuron.theta_n == round(k1 * 255 * post[0] / 0.125)
    assert l1.neuron.coef_bits == 2


def test_datanorm_single_threshold_and_relu_only():
    rng = np.random.default_rng(2)
    calib = rng.integers(0, 256, (10, 1, 8, 8), dtype=np.uint8)
    m = convert(mlp(rng, "relu"), "datanorm", input_shape=(1, 8, 8), calib_images=calib)
    assert all(l.neuron.theta_n is None and l.neuron.M == 1 for l in m.weighted)
    with pytest.raises(ValueError, match=r"^layer 2 \(leaky_relu\): DataNorm needs a ReLU ANN"):
        convert(mlp(rng), "datanorm", input_shape=(1, 8, 8), calib_images=calib)


def test_pow2_thresholds():
    rng = np.random.default_rng(3)
    for method in ("aug", "ter"):
        m = convert(mlp(rng), method, input_shape=(1, 8, 8), pow2_theta=True,
                    calib_images=rng.integers(0, 256, (10, 1, 8, 8), dtype=np.uint8))
        for layer in m.weighted:
            tp, tn = layer.neuron.theta_p, layer.neuron.theta_n
            assert tp & (tp - 1) == 0 and tn & (tn - 1) == 0  # alpha = 1/8: both powers of 2
            assert np.abs(layer.weight).max() <= 127


@pytest.mark.parametrize("wb", [4, 8, 12])
def test_weights_fit_weight_bits(wb):
    rng = np.random.default_rng(4)
    m = convert(mlp(rng), "aug", input_shape=(1, 8, 8), weight_bits=wb)
    for layer in m.weighted:
        assert np.abs(layer.weight.astype(int)).max() == 2 ** (wb - 1) - 1


def test_pooling_folds_quarter_into_next_layer():
    rng = np.random.default_rng(5)
    w2 = rng.normal(0, 0.3, (3, 2, 2, 2))
    layers = [{"type": "conv2d", "weight": rng.normal(0, 0.3, (2, 1, 3, 3))}, {"type": "relu"},
              {"type": "avgpool", "size": 2}, {"type": "conv2d", "weight": w2}]
    m = convert(layers, "aug", input_shape=(1, 10, 10))
    k = 127 / np.abs(w2 / 4).max()
    np.testing.assert_array_equal(m.weighted[1].weight, np.rint(w2 / 4 * k))
    assert m.weighted[1].neuron.theta_p == round(k)
    assert m.weighted[0].neuron.theta_n is None  # ReLU layer: nothing negative to carry


@pytest.mark.parametrize("kwargs, msg", [
    (dict(method="magic"), r"^method must be one of \('aug', 'ter', 'datanorm'\), not 'magic'$"),
    (dict(method="aug", weight_bits=1), r"^weight_bits must be an integer in 2\.\.16, not 1$"),
    (dict(method="aug", coef_bits=17), r"^coef_bits must be an integer in 2\.\.16, not 17$"),
    (dict(method="ter", coef_bits=4), r"^ter uses binary spikes: coef_bits must be 2, not 4$"),
    (dict(method="ter"), r"^ter needs calib_images \(the training set\) for Algorithm 1$"),
])
def test_bad_conversion_options(kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        convert(mlp(np.random.default_rng(0)), input_shape=(1, 8, 8), **kwargs)


@pytest.mark.parametrize("layers, msg", [
    ([{"type": "dense", "weight": np.ones((2, 2))}, {"type": "relu"}, {"type": "relu"}],
     r"^layer 2 \(relu\): an activation must directly follow a weighted layer$"),
    ([{"type": "dense", "weight": np.ones((2, 2)), "bias": np.ones(2)}],
     r"^layer 0 \(dense\): biases are not supported"),
    ([{"type": "maxpool", "size": 2}], r"^layer 0 \(maxpool\): unsupported layer type$"),
    ([{"type": "dense", "weight": np.ones((2, 2))}, {"type": "flatten"}],
     r"^the network must end with a weighted layer"),
])
def test_float_net_structure_errors(layers, msg):
    with pytest.raises(ValueError, match=msg):
        check_float_net(layers)


@pytest.mark.parametrize("module, msg", [
    (nn.Sequential(nn.Linear(4, 2)), r"^layer 0 \(Linear\): has a bias; only bias-free layers convert"),
    (nn.Sequential(nn.Conv2d(1, 2, 3, bias=False), nn.MaxPool2d(2)),
     r"^layer 1 \(MaxPool2d\): max pooling does not convert; use AvgPool2d$"),
    (nn.Sequential(nn.Conv2d(1, 2, 3, bias=False), nn.BatchNorm2d(2)),
     r"^layer 1 \(BatchNorm2d\): BatchNorm must be folded into the preceding weights"),
    (nn.Sequential(nn.Conv2d(1, 2, 3, stride=2, bias=False)),
     r"^layer 0 \(Conv2d\): only stride 1, equal zero padding smaller than the kernel, no "
     r"dilation, groups 1 convert, not \{'stride': \(2, 2\)\}$"),
    (nn.Sequential(nn.Conv2d(1, 2, 3, padding=(1, 0), bias=False)),
     r"^layer 0 \(Conv2d\): only stride 1, equal zero padding .* not \{'padding': \(1, 0\)\}$"),
    (nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, padding_mode="reflect", bias=False)),
     r"^layer 0 \(Conv2d\): only stride 1, equal zero padding .* not \{'padding_mode': 'reflect'\}$"),
    (nn.Sequential(nn.Linear(4, 2, bias=False), nn.Sigmoid()),
     r"^layer 1 \(Sigmoid\): unsupported layer type$"),
    (nn.Linear(4, 2, bias=False), r"^expected an nn\.Sequential, not Linear$"),
])
def test_front_end_refuses_unsupported_layers(module, msg):
    with pytest.raises(ValueError, match=msg):
        ann.to_float_layers(module)


def test_front_end_matches_torch_forward():
    torch.manual_seed(0)
    net = ann.build_net("4c5-p2-8c3-p2-10", (1, 28, 28), dropout=0.2)
    net.eval()
    layers = ann.to_float_layers(net)
    images = np.random.default_rng(0).integers(0, 256, (8, 1, 28, 28), dtype=np.uint8)
    with torch.no_grad():
        ref = net(torch.from_numpy(images).float() / 255).numpy()
    np.testing.assert_allclose(ann_forward(layers, images), ref, rtol=1e-4, atol=1e-5)
    mlp_net = ann.build_net("784-30-10", (1, 28, 28), act="relu")
    assert [l["type"] for l in ann.to_float_layers(mlp_net)] == ["flatten", "dense", "relu", "dense"]


def test_build_net_errors():
    with pytest.raises(ValueError, match=r"^'12c5-x-10': cannot read the token 'x'$"):
        ann.build_net("12c5-x-10")
    with pytest.raises(ValueError, match=r"^act must be 'leaky' or 'relu', not 'tanh'$"):
        ann.build_net("10", act="tanh")
