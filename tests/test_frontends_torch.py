"""Front ends (docs/frontends.md): a custom nn.Module (torch.fx), its state dict with --arch,
its ONNX export and an onnx.helper graph all give the nn.Sequential route's model file;
unsupported operations are refused naming the node and its source line."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from augsnn.cli import main
from augsnn.frontends.onnx_import import onnx_float_layers
from augsnn.frontends.torch_fx import fx_float_layers
from augsnn.golden import ann, convert

pytestmark = pytest.mark.mnist

CALIB = slice(0, 300)  # calibration images (training set) of the TerMapping routes


@pytest.fixture(autouse=True)
def short_test_set(monkeypatch):
    """Every route measures the float ANN on the test set: 500 images keep the file fast
    (the routes compared here all read the same images)."""
    from augsnn.golden import datasets
    full = datasets.load_dataset

    def load(name, split, *args, **kwargs):
        x, y = full(name, split, *args, **kwargs)
        return (x[:500], y[:500]) if split == "test" else (x, y)
    monkeypatch.setattr(datasets, "load_dataset", load)


class ConvNet(nn.Module):
    """The issue's user network: ModuleList, F.leaky_relu (or F.relu), F.avg_pool2d,
    x.flatten(1)."""

    def __init__(self, act="leaky"):
        super().__init__()
        self.act = act
        self.layers = nn.ModuleList([nn.Conv2d(1, 4, 5, bias=False),
                                     nn.Conv2d(4, 8, 5, bias=False)])
        self.drop = nn.Dropout(0.2)
        self.head = nn.Linear(8 * 4 * 4, 10, bias=False)

    def forward(self, x):
        for conv in self.layers:
            x = conv(x)
            x = F.avg_pool2d(F.leaky_relu(x, 0.125) if self.act == "leaky" else F.relu(x), 2)
        return self.head(self.drop(x.flatten(1)))


class MLP(nn.Module):
    """An MLP variant: x.view(x.size(0), -1), a ModuleList, torch.relu and nn.LeakyReLU."""

    def __init__(self, act="leaky"):
        super().__init__()
        self.fcs = nn.ModuleList([nn.Linear(784, 32, bias=False), nn.Linear(32, 10, bias=False)])
        self.act = nn.LeakyReLU(0.125) if act == "leaky" else nn.ReLU()

    def forward(self, x):
        x = x.view(x.size(0), -1)
        x = self.act(self.fcs[0](x)) if isinstance(self.act, nn.LeakyReLU) else \
            torch.relu(self.fcs[0](x))
        return self.fcs[1](F.dropout(x, 0.1, training=self.training))


NETS = {"conv": (ConvNet, "4c5-p2-8c5-p2-10"), "mlp": (MLP, "784-32-10")}


def _model(seed, kind, act="leaky"):
    torch.manual_seed(seed)
    net = NETS[kind][0](act)
    with torch.no_grad():  # trained-looking scales, one value per seed
        for p in net.parameters():
            p.mul_(3)
    return net.eval()


def _sequential(net, kind, act="leaky"):
    seq = ann.build_net(NETS[kind][1], (1, 28, 28), act=act)
    seq.load_state_dict(dict(zip(seq.state_dict(), net.state_dict().values())))
    return seq.eval()


def _same_file(a, b):
    """Two model files hold the same layers: weights, thresholds, widths (meta may differ)."""
    with np.load(a, allow_pickle=False) as za, np.load(b, allow_pickle=False) as zb:
        ha, hb = (json.loads(str(z["header"][()])) for z in (za, zb))
        assert ha["layers"] == hb["layers"]
        assert (ha["input_shape"], ha["method"], ha["output"]) == \
            (hb["input_shape"], hb["method"], hb["output"])
        assert sorted(za.files) == sorted(zb.files)
        for key in za.files:
            if key != "header":
                np.testing.assert_array_equal(za[key], zb[key])
                assert za[key].dtype == zb[key].dtype


def _nir_of(layers, units, input_shape):
    """A ReLU float network as an IF network, written with nir's own node classes.

    Layer l's spikes stand for ``units[l]`` of activation (Algorithm 1's scale, DataNorm): an
    IF of threshold ``units[l]`` fed by weights ``w_l * units[l-1]`` fires one spike per
    ``units[l]`` of pre-activation; the first layer's input is ``pixels / 255``.
    """
    import nir
    nodes = {"in": nir.Input(input_type=np.array(input_shape))}
    chain, shape, prev, i = ["in"], tuple(input_shape), 1.0, 0
    for j, layer in enumerate(layers):
        name = f"n{j}"
        if layer["type"] in ("dense", "conv2d"):
            w = layer["weight"] * prev
            if w.ndim == 4:
                nodes[name] = nir.Conv2d(input_shape=shape[1:], weight=w, stride=1, padding=0,
                                         dilation=1, groups=1, bias=np.zeros(w.shape[0]))
                shape = (w.shape[0], shape[1] - w.shape[2] + 1, shape[2] - w.shape[3] + 1)
            else:
                nodes[name] = nir.Linear(weight=w)
                shape = (w.shape[0],)
            nodes[name + "if"] = nir.IF(r=np.ones(shape), v_threshold=np.full(shape, units[i]))
            chain += [name, name + "if"]
            prev, i = units[i], i + 1
        elif layer["type"] == "avgpool":
            k = layer["size"]
            nodes[name] = nir.AvgPool2d(kernel_size=np.array([k, k]), stride=np.array([k, k]),
                                        padding=np.array([0, 0]))
            shape = (shape[0], shape[1] // k, shape[2] // k)
            chain.append(name)
        elif layer["type"] == "flatten":
            nodes[name] = nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0)
            shape = (int(np.prod(shape)),)
            chain.append(name)
    nodes["out"] = nir.Output(output_type=np.array(shape))
    return nir.NIRGraph(nodes=nodes, edges=list(zip(chain + ["out"], chain[1:] + ["out"])))


@pytest.mark.parametrize("kind, act, method", [("conv", "leaky", "aug"), ("mlp", "leaky", "ter"),
                                               ("conv", "relu", "datanorm")])
def test_all_routes_give_the_sequential_model_file(tmp_path, kind, act, method, capsys):
    """fx-traced module, state dict + --arch, ONNX export and (ReLU networks, which an IF
    network expresses: DataNorm) NIR written by nir itself == the nn.Sequential route."""
    import nir

    from augsnn.golden import datasets, modelfile
    net = _model(3, kind, act)
    seq = _sequential(net, kind, act)
    calib = datasets.load_dataset("mnist", "train")[0][CALIB]
    opts = dict(dataset="mnist", name="m", calib_images=calib)
    ref = tmp_path / "seq.npz"
    modelfile.save(ann.convert_module(seq, method, **opts), ref)
    # 1. the custom module itself, traced with torch.fx
    modelfile.save(ann.convert_module(net, method, **opts), tmp_path / "fx.npz")
    _same_file(ref, tmp_path / "fx.npz")
    # 2. its state dict (keys layers.0.weight ...) with --arch: matched by order and shape
    torch.save(net.state_dict(), tmp_path / "sd.pt")
    loaded, info = ann.load_checkpoint(tmp_path / "sd.pt", arch=NETS[kind][1], act=act)
    assert info["key_mapping"][0][0] in ("layers.0.weight", "fcs.0.weight")
    modelfile.save(ann.convert_module(loaded, method, **opts), tmp_path / "sd.npz")
    _same_file(ref, tmp_path / "sd.npz")
    if method == "aug":  # the same on the command line (full calibration: aug needs none)
        assert main(["convert", str(tmp_path / "sd.pt"), "--method", method, "--arch",
                     NETS[kind][1], "--dataset", "mnist", "-o", str(tmp_path / "cli.npz")]) == 0
        out = capsys.readouterr().out
        assert "state dict: layers.0.weight -> 0.weight" in out
        assert "state dict: head.weight -> 7.weight" in out
        _same_file(ref, tmp_path / "cli.npz")
    # 3. its ONNX export
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter's notice
        torch.onnx.export(net, (torch.zeros(1, 1, 28, 28),), str(tmp_path / "m.onnx"),
                          dynamo=False)
    layers, shape = onnx_float_layers(tmp_path / "m.onnx", (1, 28, 28))
    assert shape == (1, 28, 28)
    modelfile.save(ann.convert_module(layers, method, **opts), tmp_path / "onnx.npz")
    _same_file(ref, tmp_path / "onnx.npz")
    # 4. the same network as an IF network written by nir, through `augsnn convert g.nir`
    if method == "datanorm":
        float_layers = ann.to_float_layers(seq)
        units = convert.calibrate(float_layers, calib)
        nir.write(str(tmp_path / "g.nir"), _nir_of(float_layers, units, (1, 28, 28)))
        assert main(["convert", str(tmp_path / "g.nir"), "--dataset", "mnist",
                     "-o", str(tmp_path / "nir.npz")]) == 0
        assert "largest weight error" in capsys.readouterr().out
        _same_file(ref, tmp_path / "nir.npz")


def test_state_dict_that_does_not_match_is_refused(tmp_path):
    net = _model(0, "mlp")
    sd = dict(net.state_dict())
    sd["fcs.1.bias"] = torch.zeros(10)
    torch.save(sd, tmp_path / "sd.pt")
    with pytest.raises(ValueError, match=r"the state dict has 3 tensors, the network needs 2: "
                                         r"fcs\.1\.bias \(10,\) is left over \(a bias\?"):
        ann.load_checkpoint(tmp_path / "sd.pt", arch="784-32-10")
    torch.save({"a": torch.zeros(32, 784), "b": torch.zeros(9, 32)}, tmp_path / "sd2.pt")
    with pytest.raises(ValueError, match=r"tensor 1 of the state dict, b \(9, 32\), does not "
                                         r"match 3\.weight \(10, 32\)"):
        ann.load_checkpoint(tmp_path / "sd2.pt", arch="784-32-10")


def test_whole_module_checkpoint_needs_trust(tmp_path, capsys):
    net = _model(1, "mlp")
    torch.save(net, tmp_path / "whole.pt")
    args = ["convert", str(tmp_path / "whole.pt"), "--method", "aug", "--dataset", "mnist",
            "-o", str(tmp_path / "w.npz")]
    assert main(args) == 2
    assert "--trust-checkpoint" in capsys.readouterr().err
    assert main(args + ["--trust-checkpoint"]) == 0
    from augsnn.golden import modelfile
    ref = tmp_path / "ref.npz"
    modelfile.save(ann.convert_module(_sequential(net, "mlp"), "aug", dataset="mnist",
                                      name="w"), ref)
    _same_file(ref, tmp_path / "w.npz")


def test_fx_layers_match_torch_forward():
    net = _model(2, "conv")
    layers = fx_float_layers(net)
    assert [l["type"] for l in layers] == ["conv2d", "leaky_relu", "avgpool", "conv2d",
                                           "leaky_relu", "avgpool", "flatten", "dense"]
    images = np.random.default_rng(0).integers(0, 256, (4, 1, 28, 28), dtype=np.uint8)
    with torch.no_grad():
        ref = net(torch.from_numpy(images).float() / 255).numpy()
    np.testing.assert_allclose(convert.ann_forward(layers, images), ref, rtol=1e-4, atol=1e-5)
    assert net.training is False and _model(2, "conv").train().training


class _Bias(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        return self.fc(x.flatten(1))


class _MaxPool(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 5, bias=False)

    def forward(self, x):
        return F.max_pool2d(self.conv(x), 2)


class _BatchNorm(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 5, bias=False)
        self.bn = nn.BatchNorm2d(2)

    def forward(self, x):
        return self.bn(self.conv(x))


class _Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(784, 784, bias=False)
        self.b = nn.Linear(784, 10, bias=False)

    def forward(self, x):
        x = x.flatten(1)
        return self.b(x + F.relu(self.a(x)))


def _line(cls, text):
    import inspect
    src, first = inspect.getsourcelines(cls.forward)
    return first + next(i for i, line in enumerate(src) if text in line)


@pytest.mark.parametrize("cls, text, msg", [
    (_Bias, "self.fc(", r"node fc \(fc: Linear\) at test_frontends_torch\.py:{}: has a bias"),
    (_MaxPool, "max_pool2d", r"node max_pool2d \(F\.max_pool2d\) at test_frontends_torch\.py:{}: "
                             r"max pooling does not convert"),
    (_BatchNorm, "self.bn(", r"node bn \(bn: BatchNorm2d\) at test_frontends_torch\.py:{}: "
                             r"BatchNorm must be folded"),
    (_Residual, "x + F.relu", r"node add \(operator\.add\) at test_frontends_torch\.py:{}: a "
                              r"residual add or branch does not convert"),
])
def test_unsupported_ops_are_refused_naming_node_and_line(cls, text, msg):
    with pytest.raises(ValueError, match="^" + msg.format(_line(cls, text))):
        ann.convert_module(cls(), "aug", dataset="mnist", name="x")


def test_onnx_helper_graph_converts_and_refuses(tmp_path):
    """A graph written by onnx.helper (no torch): Gemm(transB) + LeakyRelu + MatMul."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(5)
    w1 = rng.normal(0, 0.1, (16, 784)).astype(np.float32)   # Gemm transB=1: (out, in)
    w2 = rng.normal(0, 0.3, (16, 10)).astype(np.float32)    # MatMul: (in, out)

    def save(nodes, path, inits):
        graph = helper.make_graph(
            nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 28, 28])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])],
            [numpy_helper.from_array(v, k) for k, v in inits.items()])
        onnx.save(helper.make_model(graph), str(path))

    shape = np.array([-1, 784], dtype=np.int64)
    save([helper.make_node("Reshape", ["x", "s"], ["f"]),
          helper.make_node("Gemm", ["f", "w1"], ["h"], transB=1),
          helper.make_node("LeakyRelu", ["h"], ["a"], alpha=0.125),
          helper.make_node("Dropout", ["a"], ["d"]),
          helper.make_node("MatMul", ["d", "w2"], ["y"])], tmp_path / "h.onnx",
         {"w1": w1, "w2": w2, "s": shape})
    layers, _ = onnx_float_layers(tmp_path / "h.onnx")
    assert [l["type"] for l in layers] == ["flatten", "dense", "leaky_relu", "dense"]
    seq = nn.Sequential(nn.Flatten(), nn.Linear(784, 16, bias=False), nn.LeakyReLU(0.125),
                        nn.Linear(16, 10, bias=False))
    with torch.no_grad():
        seq[1].weight.copy_(torch.from_numpy(w1))
        seq[3].weight.copy_(torch.from_numpy(w2.T.copy()))
    ref = ann.to_float_layers(seq)
    for a, b in zip(layers, ref):
        assert a["type"] == b["type"] and a.get("alpha") == b.get("alpha")
        np.testing.assert_array_equal(a.get("weight", 0), b.get("weight", 0))
    # refusals name the node and the operator
    save([helper.make_node("Reshape", ["x", "s"], ["f"]),
          helper.make_node("Gemm", ["f", "w1", "b"], ["h"], name="fc1", transB=1),
          helper.make_node("MatMul", ["h", "w2"], ["y"])], tmp_path / "b.onnx",
         {"w1": w1, "w2": w2, "s": shape, "b": np.zeros(16, np.float32)})
    with pytest.raises(ValueError, match=r"^b\.onnx: node fc1 \(Gemm\): has a bias"):
        onnx_float_layers(tmp_path / "b.onnx")
    save([helper.make_node("Reshape", ["x", "s"], ["f"]),
          helper.make_node("MatMul", ["f", "w1t"], ["h"]),
          helper.make_node("Sigmoid", ["h"], ["a"], name="sig"),
          helper.make_node("MatMul", ["a", "w2"], ["y"])], tmp_path / "s.onnx",
         {"w1t": w1.T.copy(), "w2": w2, "s": shape})
    with pytest.raises(ValueError, match=r"^s\.onnx: node sig \(Sigmoid\): unsupported operator$"):
        onnx_float_layers(tmp_path / "s.onnx")


def test_onnx_of_the_zoo_training_code_on_the_command_line(tmp_path):
    """``augsnn convert net.onnx`` on build_net's network == ``augsnn convert`` of its
    checkpoint."""
    torch.manual_seed(4)
    seq = ann.build_net("4c5-p2-8c3-p2-10", (1, 28, 28)).eval()
    ann.save_checkpoint(tmp_path / "n.pt", seq, arch="4c5-p2-8c3-p2-10", input_shape=(1, 28, 28),
                        act="leaky", alpha=0.125, dropout=0.0, meta={"dataset": "mnist"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(seq, (torch.zeros(1, 1, 28, 28),), str(tmp_path / "n.onnx"),
                          dynamo=False)
    for src, out in (("n.pt", "a.npz"), ("n.onnx", "b.npz")):
        assert main(["convert", str(tmp_path / src), "--method", "aug", "--dataset", "mnist",
                     "-o", str(tmp_path / out)]) == 0
    _same_file(tmp_path / "a.npz", tmp_path / "b.npz")
