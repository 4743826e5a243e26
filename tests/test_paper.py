"""``augsnn paper``: the quick run end to end (tiny settings), and its building blocks."""

import dataclasses

import numpy as np
import pytest

from augsnn.cli import main
from augsnn.golden.model import Dense, Model
from augsnn.golden.modelfile import load
from augsnn.golden.network import simulate
from augsnn.golden.neuron import NeuronParams
from augsnn.repro import curves, paper, paper_differences, paper_numbers, paper_run, variants

pytestmark = pytest.mark.mnist


def test_cosine_per_step():
    out = np.zeros((3, 2, 3), dtype=np.int64)
    out[1, 0] = [2, 0, 0]          # image 0: first spike at step 2, along class 0
    out[2, 0] = [0, 2, 0]          # then the rate is (2, 2, 0)
    out[:, 1] = [1, 1, 0]          # image 1: always (t, t, 0)
    ann = np.array([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    cos = curves.cosine_per_step(out, ann)
    s = 1 / np.sqrt(2)
    np.testing.assert_allclose(cos, [(0 + s) / 2, (s + s) / 2, (1 + s) / 2])


def test_with_neurons_limits_coefficients_and_drops_negative_threshold():
    rng = np.random.default_rng(0)
    w1 = rng.integers(-60, 61, (20, 16)).astype(np.int8)
    w2 = rng.integers(-60, 61, (4, 20)).astype(np.int8)
    model = Model("m", "aug", (16,), [Dense(w1, NeuronParams(3, 24, 8, 30), 8),
                                      Dense(w2, NeuronParams(3, 3, 8, 30), 8)])
    x = rng.integers(0, 256, (50, 16)).astype(np.uint8)
    m2 = variants.with_neurons(model, coef_bits=2)
    assert [layer.neuron.M for layer in m2.weighted] == [1, 1]
    assert np.abs(simulate(m2, x, 6, trace=True).trace[0]).max() == 1
    assert np.abs(simulate(model, x, 6, trace=True).trace[0]).max() > 1
    single = variants.with_neurons(model, double=False)
    assert all(layer.neuron.theta_n is None for layer in single.weighted)
    assert simulate(single, x, 6, trace=True).trace[0].min() == 0
    # the source model is untouched
    assert model.weighted[0].neuron.coef_bits == 8 and model.weighted[0].neuron.theta_n == 24


TINY = dataclasses.replace(paper_run.QUICK, t2_T=30, t2_images=20, f6_aug=(12, 10),
                           f6_ter=(40, 8), f7_images=10, e_images=10, e_ter_images=6,
                           train=(1, 400), calib=200)


def test_paper_quick_writes_every_section(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(paper, "QUICK", TINY)
    docs, work = tmp_path / "docs", tmp_path / "work"
    assert main(["paper", "--quick", "--nets", "net2", "--workdir", str(work), "--docs",
                 str(docs), "--checkpoints", str(tmp_path / "none"), "--no-progress"]) == 0
    assert "results.md" in capsys.readouterr().out
    page = (docs / "results.md").read_text()
    for head in ("## Table II", "## Table III", "## Table IV", "## Fig. 2", "## Fig. 6",
                 "## Fig. 7", "## Section E", "## Where we differ", "- machine: ",
                 "--quick", "**quick**"):
        assert head in page, head
    # the paper's numbers sit beside ours
    assert "| net2 | 99.35% / 99.33% | AugMapping | 99.35% / " in page
    assert "| net2 | DataNorm (ReLU ANN) | 99.14% / " in page
    assert "| net5 | 94.13% / — | AugMapping | 93.90% / — | 300 / — |" in page
    assert paper_numbers.NOT_MEASURED in page
    for name in ("paper_fig2_error_vs_T", "paper_fig3_error_vs_events", "paper_fig6_cosine",
                 "paper_fig7_maug"):
        assert (docs / "img" / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
        assert f"img/{name}.png" in page
    # quick checkpoints and converted models are cached in the work folder
    assert (work / "quick" / "net2.pt").is_file() and (work / "quick" / "net2-relu.pt").is_file()
    dn = load(work / "quick" / "net2-relu-datanorm-calib200.npz")
    assert dn.weighted[0].neuron.theta_n is None and dn.meta["calibration_images"] == 200
    cached = sorted((work / "cache").glob("*.json"))
    assert len(cached) > 10
    # a second run reuses every cached result and writes the same tables
    assert main(["paper", "--quick", "--nets", "net2", "--workdir", str(work), "--docs",
                 str(docs), "--checkpoints", str(tmp_path / "none"), "--no-progress"]) == 0
    assert sorted((work / "cache").glob("*.json")) == cached
    again = (docs / "results.md").read_text()
    table = page.index("## Table II"), page.index("## Where we differ")
    assert again[again.index("## Table II"):again.index("## Where we differ")] == \
        page[table[0]:table[1]]


def test_paper_refuses_unknown_net(tmp_path):
    with pytest.raises(ValueError, match=r"^nets must be among net1, net2, net3, net4, not \['net9'\]$"):
        paper.run(workdir=tmp_path, docs=tmp_path, nets=("net2", "net9"))


def test_differences_give_the_reason_that_fits():
    """TerMapping faster than the paper: the subset argument, and events at the paper's T;
    events far off at the paper's latency: not blamed on latency."""
    T = 800
    ter = {"model": "net2-ter", "images": 1000, "ann_accuracy": 0.9935,
           "accuracy_per_step": [min(0.9935, 0.5 + t * 0.01) for t in range(T)],
           "events_per_image": [300.0 * (t + 1) for t in range(T)]}
    aug = {"model": "net2-aug", "images": 10000, "ann_accuracy": 0.9935,
           "accuracy_per_step": [0.99] * 64 + [0.9935],
           "events_per_image": [1000.0 * (t + 1) for t in range(65)]}
    out = "\n".join(paper_differences.differences({("net2", "ter"): ter, ("net2", "aug"): aug}, {}))
    assert "net2 TerMapping: latency 51 vs paper 750" in out
    assert "reaches its best sooner" in out and "1,000 images" in out
    assert "At the paper's T=750 ours are 225,000 events/image" in out
    # AugMapping: latency 65 = the paper's 65, events 65,000 vs 110,000 (0.59x): no line;
    # make them 4x fewer and the line must not blame latency
    aug["events_per_image"] = [400.0 * (t + 1) for t in range(65)]
    out = "\n".join(paper_differences.differences({("net2", "aug"): aug}, {}))
    assert "net2 AugMapping: 26,000 events/image at T=65" in out
    assert "Not a latency effect (T 65 vs 65)" in out


def test_table2_differences_compare_with_own_ann():
    t2 = {("net1", "datanorm"): (0.990, 0.970, 900, 1000, 1000),
          ("net2", "datanorm"): (0.9950, 0.9948, 300, 1000, 1000)}
    out = paper_differences.differences({}, t2)
    assert len(out) == 2
    assert "net1 datanorm: SNN 97.00% vs paper 98.64%" in out[0]
    assert "stays 2.00 points below its own ANN within T ≤ 1000" in out[0]
    assert "net2 datanorm" in out[1] and "gap comes from the ANN" in out[1]


def test_table4_differences_name_the_side_that_differs():
    t4 = {"net3": ([6.2, 5.1, 6.4], [0.8, 0.6, 0.9], [(5, 31), (8, 41), (8, 51)]),
          "net1": ([30.0, 13.0, 16.0], [2.8, 1.3, 1.5], [(5, 150), (10, 130), (12, 190)])}
    ter = {"images": 1000, "ann_accuracy": 0.902, "accuracy_per_step": [0.5] * 55 + [0.907],
           "events_per_image": [100.0] * 56}
    out = paper_differences.differences({("net3", "ter"): ter}, {}, t4)
    assert [x[:15] for x in out if x.startswith("- Table IV")] == ["- Table IV net3"]  # net1 is within 2x
    line = next(x for x in out if x.startswith("- Table IV net3"))
    assert "latency reduction <1%: 6.2× vs 42.5×, <0.1%: 5.1× vs 30.9×, <0.1%" not in line
    assert "latency reduction <1%: 6.2× vs 42.5×, <0.1%: 5.1× vs 30.9×, 0%: 6.4× vs 40.5×" in line
    assert "events reduction <0.1%: 0.6× vs 1.1×" not in line  # 0.55x: within 2x
    assert "0%: 0.9× vs 1.4×" not in line
    assert "<1%: 0.8× vs 1.9×" in line
    assert "T=5 / 31" in line and "settles far sooner" in line and "below 1×" in line
