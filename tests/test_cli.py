"""The command line end to end: train -> convert -> eval on MNIST, and its error messages."""

import json

import numpy as np
import pytest
import torch

from augsnn.cli import main
from augsnn.golden import ann
from augsnn.golden.modelfile import load, zoo_manifest, zoo_names

pytestmark = pytest.mark.mnist


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "tiny.pt"
    assert main(["train", "4c5-p2-10", "--epochs", "1", "-o", str(path)]) == 0
    return path


def test_train_convert_eval(checkpoint, tmp_path, capsys):
    ck = torch.load(checkpoint, weights_only=True)
    assert ck["arch"] == "4c5-p2-10" and ck["meta"]["seed"] == 0
    assert ck["meta"]["test_accuracy"] > 0.8
    for method in ("aug", "ter"):
        out = tmp_path / f"tiny-{method}.npz"
        assert main(["convert", str(checkpoint), "--method", method, "-o", str(out)]) == 0
        model = load(out)
        assert model.method == method and model.meta["ann_accuracy"] == pytest.approx(
            ck["meta"]["test_accuracy"], abs=1e-3)
    capsys.readouterr()
    rep, plot, outs = tmp_path / "r.json", tmp_path / "r.png", tmp_path / "o.npz"
    assert main(["eval", str(tmp_path / "tiny-aug.npz"), "--T", "16", "--images", "40",
                 "--offset", "10", "--json", str(rep), "--plot", str(plot),
                 "--save-outputs", str(outs), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "accuracy" in text and "events/img" in text
    report = json.loads(rep.read_text())
    assert report["images"] == 40 and len(report["accuracy_per_step"]) == 16
    assert report["accuracy_per_step"][-1] > 0.7
    assert report["events_per_image"][-1] > report["events_per_image"][0] > 0
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with np.load(outs, allow_pickle=False) as npz:
        assert npz["index"].tolist() == list(range(10, 50))
        assert npz["counts"].shape == (40, 10) and npz["out"].shape == (16, 40, 10)
        np.testing.assert_array_equal(npz["counts"], npz["out"].sum(0))
        np.testing.assert_array_equal(npz["pred"], npz["counts"].argmax(1))


def test_convert_bare_state_dict(checkpoint, tmp_path):
    net, _ = ann.load_checkpoint(checkpoint)
    sd = tmp_path / "sd.pt"
    torch.save(net.state_dict(), sd)
    out = tmp_path / "m.npz"
    assert main(["convert", str(sd), "--arch", "4c5-p2-10", "--dataset", "mnist",
                 "--method", "aug", "--pow2-theta", "-o", str(out)]) == 0
    tp = load(out).weighted[0].neuron.theta_p
    assert tp & (tp - 1) == 0


@pytest.mark.parametrize("argv, message", [
    (["eval", "no-such-model"], "'no-such-model' is neither a model file nor a zoo name"),
    (["convert", "missing.pt", "--method", "aug", "-o", "x.npz"], "missing.pt"),
    (["eval", "net2-aug", "--images", "0"], "--images must be in [1, 10000], not 0"),
    (["eval", "net2-aug", "--T", "-3"], "--T must be >= 1, not -3"),
])
def test_errors_are_one_clear_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_convert_refuses_wrong_options(checkpoint, tmp_path, capsys):
    out = tmp_path / "x.npz"
    assert main(["convert", str(checkpoint), "--method", "ter", "--coef-bits", "4",
                 "-o", str(out)]) == 2
    assert "coef_bits must be 2, not 4" in capsys.readouterr().err
    assert not out.exists()


def test_zoo_models_load_and_run(capsys):
    names = zoo_names()
    assert {"net1-aug", "net1-ter", "net2-aug", "net2-ter"} <= set(names)
    for name in names:
        m = zoo_manifest(name)
        assert m["reproduce"] and m["seed"] == 0 and 0 < m["snn_accuracy"] <= 1
        assert load(name).name == name
    assert main(["eval", "net2-aug", "--T", "4", "--images", "20", "--no-progress"]) == 0
    assert "net2-aug (aug) on 20 mnist images" in capsys.readouterr().out


def test_zoo_doc_and_list(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text("x\n<!-- zoo-table -->\nold\n<!-- /zoo-table -->\ny\n")
    assert main(["zoo", "doc", "--docs", str(tmp_path / "docs"), "--readme", str(readme)]) == 0
    doc = (tmp_path / "docs" / "accuracy.md").read_text()
    for name in ("net1-aug", "net1-ter", "net2-aug", "net2-ter"):
        assert f"`{name}`" in doc
    assert (tmp_path / "docs" / "img" / "net2_error_vs_T.png").read_bytes()[:4] == b"\x89PNG"
    text = readme.read_text()
    assert "old" not in text and "| `net2-aug` |" in text and text.endswith("y\n")
    capsys.readouterr()
    assert main(["zoo", "list"]) == 0
    assert "net2-ter" in capsys.readouterr().out
