"""NIR (docs/frontends.md): export -> nir.read -> import round trips; unrunnable nodes are
refused; an IF network trained and exported by snnTorch runs in the golden model and the RTL.
(A network written by ``nir`` itself giving the nn.Sequential route's model file:
tests/test_frontends_torch.py.)"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import nir
from augsnn.cli import main
from augsnn.frontends.nir_export import reader_differences, to_nir
from augsnn.frontends.nir_import import nir_model
from augsnn.golden import convert, datasets, modelfile
from augsnn.golden.network import simulate

pytestmark = pytest.mark.mnist


@pytest.fixture(autouse=True)
def short_test_set(monkeypatch):
    """The conversions measure the float ANN on the test set: 500 images keep them fast."""
    full = datasets.load_dataset

    def load(name, split, *args, **kwargs):
        x, y = full(name, split, *args, **kwargs)
        return (x[:500], y[:500]) if split == "test" else (x, y)
    monkeypatch.setattr(datasets, "load_dataset", load)


def _random_datanorm(seed):
    rng = np.random.default_rng(seed)
    layers = [{"type": "conv2d", "weight": rng.normal(0, 0.3, (3, 1, 3, 3)), "padding": 1},
              {"type": "relu"}, {"type": "avgpool", "size": 2}, {"type": "flatten"},
              {"type": "dense", "weight": rng.normal(0, 0.2, (6, 3 * 4 * 4))}]
    calib = rng.integers(0, 256, (40, 1, 8, 8), dtype=np.uint8)
    return convert.convert(layers, "datanorm", input_shape=(1, 8, 8), calib_images=calib,
                           name="dn"), rng.integers(0, 256, (30, 1, 8, 8), dtype=np.uint8)


def test_round_trip_m1_runs_identically_without_metadata(tmp_path):
    model, images = _random_datanorm(1)
    nir.write(str(tmp_path / "m.nir"), to_nir(model))
    back, report = nir_model(nir.read(str(tmp_path / "m.nir")), use_metadata=False)
    assert report["layers"] and all(r["weight_error"] == 0 and r["theta_error"] == 0
                                    for r in report["layers"])
    a, b = simulate(model, images, 12, trace=True), simulate(back, images, 12, trace=True)
    np.testing.assert_array_equal(a.counts, b.counts)
    np.testing.assert_array_equal(a.pred_per_step, b.pred_per_step)
    assert a.events.sum() > 0
    for x, y in zip(a.trace, b.trace):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("name", ["tiny-aug", "net2-aug", "net2-ter"])
def test_round_trip_metadata_of_augmented_models(tmp_path, name, capsys):
    model = modelfile.load(name)
    assert main(["export", name, "-o", str(tmp_path / "m.nir")]) == 0
    out = capsys.readouterr().out
    assert "a NIR reader that ignores the metadata computes differently" in out
    assert "augmented spikes: up to M = 127" in out or model.method != "aug"
    back, _ = nir_model(nir.read(str(tmp_path / "m.nir")))
    assert back.digest() == model.digest() and back.meta == model.meta
    assert (back.name, back.method, back.output) == (model.name, model.method, model.output)
    g = nir.read(str(tmp_path / "m.nir"))
    first = g.nodes[f"layer{model.first_weighted}.if"].metadata
    n = model.weighted[0].neuron
    assert (first["augsnn.M"], first["augsnn.theta_n"], first["augsnn.pot_bits"]) == \
        (n.M, n.theta_n if n.theta_n is not None else -1, n.pot_bits)


def test_round_trip_of_a_membrane_output_model(tmp_path):
    rng = np.random.default_rng(3)
    layers = [{"type": "flatten"}, {"type": "dense", "weight": rng.normal(0, 0.1, (12, 64))},
              {"type": "leaky_relu", "alpha": 0.125},
              {"type": "dense", "weight": rng.normal(0, 0.3, (5, 12))}]
    model = convert.convert(layers, "aug", input_shape=(1, 8, 8), output="membrane",
                            coef_bits=4, name="mem")
    nir.write(str(tmp_path / "m.nir"), to_nir(model))
    g = nir.read(str(tmp_path / "m.nir"))
    assert type(g.nodes["layer2.if"]).__name__ == "I"  # the non-spiking output layer
    back, _ = nir_model(g)
    assert back.digest() == model.digest() and back.output == "membrane"
    assert any("does not fire" in n for n in reader_differences(model))


def test_reader_differences_name_what_nir_cannot_say():
    model, _ = _random_datanorm(2)
    text = " ".join(reader_differences(model))
    assert "subtracting" in text and "augmented" not in text and "negative" not in text
    text = " ".join(reader_differences(modelfile.load("net2-ter")))
    assert "negative threshold" in text and "augmented" not in text


def _graph(neuron, extra_edges=()):
    nodes = {"in": nir.Input(input_type=np.array([4])),
             "fc": nir.Linear(weight=np.ones((3, 4))), "n": neuron,
             "out": nir.Output(output_type=np.array([3]))}
    return nir.NIRGraph(nodes=nodes, edges=[("in", "fc"), ("fc", "n"), ("n", "out"),
                                            *extra_edges], type_check=False)


@pytest.mark.parametrize("graph, msg", [
    (lambda: _graph(nir.LIF(tau=np.full(3, 0.02), r=np.ones(3), v_leak=np.zeros(3),
                            v_threshold=np.ones(3))),
     r"^node n \(LIF\): a leaking neuron \(tau = 0\.02\) does not convert"),
    (lambda: _graph(nir.CubaLIF(tau_syn=np.ones(3), tau_mem=np.ones(3), r=np.ones(3),
                                v_leak=np.zeros(3), v_threshold=np.ones(3))),
     r"^node n \(CubaLIF\): not an IF neuron"),
    (lambda: _graph(nir.Delay(delay=np.ones(3))), r"^node n \(Delay\): not an IF neuron"),
    (lambda: _graph(nir.IF(r=np.ones(3), v_threshold=np.ones(3)), [("n", "fc")]),
     r"^node n \(IF\) feeds 2 nodes \(out, fc\): only a chain converts"),
    (lambda: _graph(nir.IF(r=np.ones(3), v_threshold=np.array([1.0, 2.0, 1.0]))),
     r"^node n \(IF\): v_threshold must be the same for the whole layer"),
    (lambda: _graph(nir.IF(r=np.ones(3), v_threshold=np.ones(3), v_reset=np.ones(3))),
     r"^node n \(IF\): v_reset must be 0"),
])
def test_unrunnable_nodes_are_refused_naming_them(graph, msg):
    with pytest.raises(ValueError, match=msg):
        nir_model(graph())


def test_recurrent_graph_is_refused():
    nodes = {"in": nir.Input(input_type=np.array([3])),
             "n": nir.IF(r=np.ones(3), v_threshold=np.ones(3)),
             "rec": nir.Linear(weight=np.eye(3)), "out": nir.Output(output_type=np.array([3]))}
    g = nir.NIRGraph(nodes=nodes, edges=[("in", "n"), ("n", "rec"), ("rec", "n"),
                                         ("rec", "out")], type_check=False)
    with pytest.raises(ValueError, match=r"^node n \(IF\)|recurrence|feeds"):
        nir_model(g)


SNN_T = 8


@pytest.mark.slow
def test_snntorch_if_network_in_golden_model_and_rtl(tmp_path):
    """snnTorch trains a 784-16-10 IF network (Leaky, beta = 1, subtractive reset) and
    exports it to NIR; augsnn imports it and runs it in the golden model and in Verilator."""
    import snntorch as snn
    from snntorch import utils as snn_utils
    from snntorch.export_nir import export_to_nir

    torch.manual_seed(0)

    def leaky(n, out=False):
        return snn.Leaky(beta=torch.ones(n), threshold=torch.ones(n), init_hidden=True,
                         output=out, reset_mechanism="subtract")
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 16, bias=False),
                              leaky(16), torch.nn.Linear(16, 10, bias=False), leaky(10, True))

    def counts(x):  # snnTorch's own simulation: constant current pixels / 255, T steps
        snn_utils.reset(net)
        total = 0
        for _ in range(SNN_T):
            spk, _ = net(x)
            total = total + spk
        return total

    x_tr, y_tr = datasets.load_dataset("mnist", "train")
    x_te, y_te = datasets.load_dataset("mnist", "test")
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny products: threads only contend (minutes on a busy machine)
    try:
        for s in range(0, 12800, 128):
            loss = torch.nn.functional.cross_entropy(
                counts(torch.from_numpy(x_tr[s:s + 128]).float() / 255),
                torch.from_numpy(y_tr[s:s + 128].astype(np.int64)))
            opt.zero_grad()
            loss.backward()
            opt.step()
    finally:
        torch.set_num_threads(threads)
    n = 500  # the test set's first 500 images (the fixture above)
    with torch.no_grad():
        own = counts(torch.from_numpy(x_te[:n]).float() / 255).argmax(1).numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nirtorch's deprecation notice; 1 / (1 - beta) = inf
        graph = export_to_nir(net, torch.zeros(1, 1, 28, 28), ignore_dims=[0])
    nir.write(str(tmp_path / "snntorch.nir"), graph)
    assert main(["convert", str(tmp_path / "snntorch.nir"), "--dataset", "mnist",
                 "-o", str(tmp_path / "snt.npz")]) == 0
    model = modelfile.load(tmp_path / "snt.npz")
    assert [l.neuron.M for l in model.weighted] == [1, 1]
    golden = simulate(model, x_te[:n], SNN_T).pred_per_step[-1]
    acc_own, acc_golden = float((own == y_te[:n]).mean()), float((golden == y_te[:n]).mean())
    agree = float((own == golden).mean())
    print(f"snnTorch {acc_own:.1%}, golden {acc_golden:.1%}, same class {agree:.1%} "
          f"({n} images, T = {SNN_T})")
    assert acc_own > 0.8 and abs(acc_golden - acc_own) <= 0.01 and agree >= 0.98
    import augsnn   # the API's simulate_rtl: sim.accelerator.run_images + compare
    report = augsnn.load(tmp_path / "snt.npz").simulate_rtl(images=x_te[:3], T=SNN_T, lanes=8)
    assert report["images"] == 3 and report["full_state_compared"]
    assert report["mismatches"] == 0 and report["spike_mismatches"] == 0
