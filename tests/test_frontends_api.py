"""The Python API (docs/frontends.md): augsnn.convert and the SNN's methods."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest
import torch
from torch import nn

import augsnn
from augsnn.golden import ann, datasets, modelfile
from augsnn.golden.model import Model

pytestmark = pytest.mark.mnist


@pytest.fixture(autouse=True)
def short_test_set(monkeypatch):
    full = datasets.load_dataset

    def load(name, split, *args, **kwargs):
        x, y = full(name, split, *args, **kwargs)
        return (x[:300], y[:300]) if split == "test" else (x, y)
    monkeypatch.setattr(datasets, "load_dataset", load)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.ModuleList([nn.Linear(784, 20, bias=False), nn.Linear(20, 10, bias=False)])

    def forward(self, x):
        return self.fc[1](nn.functional.leaky_relu(self.fc[0](x.reshape(-1, 784)), 0.125))


def test_import_augsnn_stays_light():
    import subprocess
    code = ("import sys, augsnn; assert 'augsnn.api' not in sys.modules; augsnn.SNN; "
            "assert 'augsnn.api' in sys.modules; "
            "assert not any(m.split('.')[:2] in (['augsnn', 'hw'], ['augsnn', 'sim'], "
            "['augsnn', 'boards']) or m == 'torch' or m == 'amaranth' for m in sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_convert_module_and_paths(tmp_path):
    torch.manual_seed(0)
    net = Net().eval()
    snn = augsnn.convert(net, method="aug", dataset="mnist", name="api")
    assert isinstance(snn, augsnn.SNN) and isinstance(snn, Model)
    seq = nn.Sequential(nn.Flatten(), nn.Linear(784, 20, bias=False), nn.LeakyReLU(0.125),
                        nn.Linear(20, 10, bias=False))
    seq.load_state_dict(dict(zip(seq.state_dict(), net.state_dict().values())))
    ref = ann.convert_module(seq, "aug", dataset="mnist", name="api")
    assert snn.digest() == ref.digest()
    report = snn.evaluate(T=4, images=50)
    assert report["images"] == 50 and len(report["accuracy_per_step"]) == 4
    snn.save(tmp_path / "a.npz")
    assert modelfile.load(tmp_path / "a.npz").digest() == snn.digest()
    assert augsnn.convert(tmp_path / "a.npz").digest() == snn.digest()
    assert augsnn.load(tmp_path / "a.npz").digest() == snn.digest()
    notes = snn.export_nir(tmp_path / "a.nir")
    assert any("augmented spikes" in n for n in notes)
    assert augsnn.convert(tmp_path / "a.nir").digest() == snn.digest()  # exact (metadata)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(net, (torch.zeros(1, 1, 28, 28),), str(tmp_path / "a.onnx"),
                          dynamo=False)
    assert augsnn.convert(tmp_path / "a.onnx", name="api").digest() == snn.digest()
    torch.save(net.state_dict(), tmp_path / "sd.pt")
    assert augsnn.convert(tmp_path / "sd.pt", arch="784-20-10", name="api").digest() == \
        snn.digest()
    with pytest.raises(FileNotFoundError, match="nothing.pt: no such file"):
        augsnn.convert(tmp_path / "nothing.pt")


def test_write_verilog_build_and_simulate(tmp_path, monkeypatch):
    snn = augsnn.load("tiny-aug")
    out = snn.write_verilog(tmp_path / "tiny.v", lanes=4)
    assert (tmp_path / "tiny.v").is_file() and out["hex"]
    assert "module top" in (tmp_path / "tiny.v").read_text()
    # build(): a thin call of boards.build.build (its own tests build bitstreams)
    from augsnn.boards import build as board_build
    calls = []
    monkeypatch.setattr(board_build, "build", lambda *a, **k: calls.append((a, k)) or {"ok": 1})
    assert snn.build(board="ulx3s-85f", out_dir=tmp_path / "b", seed=3) == {"ok": 1}
    assert calls == [((snn, "ulx3s-85f", tmp_path / "b"), {"seed": 3})]
    assert (tmp_path / "b").is_dir()
    from augsnn.golden.network import simulate
    images = datasets.load_dataset("mnist", "test")[0][:20]
    np.testing.assert_array_equal(snn.simulate(images, 2).counts,
                                  simulate(modelfile.load("tiny-aug"), images, 2).counts)
