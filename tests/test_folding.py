"""Folding of the lane accelerator: lanes per layer in the plan, the chooser, the CLI option.

The RTL with lanes per layer is checked against the golden model on the full state by
tests/test_accelerator.py (the fold-* models of the random bundle).
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from augsnn.cli import main as cli_main
from augsnn.golden.modelfile import load
from augsnn.hw.lanes.folding import choose_lanes, layer_cycles, parse_lanes
from augsnn.hw.lanes.plan import layer_work, plan

NET2_SYNOPS = [41_452, 3_602_259, 53_409]        # per image at T=8 (docs/accelerator.md)


def test_plan_with_lanes_per_layer():
    net2 = load("net2-aug")
    p = plan(net2, lanes=(16, 64, 16))
    assert [lp.lanes for lp in p.layers] == [16, 64, 16]
    assert [lp.groups for lp in p.layers] == [1, 1, 1]           # 12 and 10 padded to 16
    assert p.multipliers == 96 and p.lanes == (16, 64, 16)
    assert p.describe().startswith("net2-aug: 16,64,16 lanes, 784 pixels in")
    assert p.layers[1].rom_width == 64 * 8
    # the same count everywhere is the plain form
    assert plan(net2, lanes=(8, 8, 8)).lanes == 8
    assert plan(net2, lanes=(8, 8, 8)).memory == plan(net2, lanes=8).memory


def test_layer_work_uses_each_layers_lanes():
    net2 = load("net2-aug")
    p = plan(net2, lanes=(16, 64, 16))
    synops = np.zeros((3, 8, 2), dtype=np.int64)
    synops[:, 0, 0] = NET2_SYNOPS
    work = layer_work(p, synops, 8)
    neurons = [12 * 24 * 24, 64 * 8 * 8, 10]
    want = [-(-s // ln) + 8 * -(-n // ln) for s, ln, n in zip(NET2_SYNOPS, (16, 64, 16), neurons)]
    assert work[:, 0].tolist() == want
    assert work[:, 1].tolist() == [8 * -(-n // ln) for ln, n in zip((16, 64, 16), neurons)]


def test_choose_lanes_spends_the_budget_where_it_saves_most():
    net2 = load("net2-aug")
    assert choose_lanes(net2, NET2_SYNOPS, 8, budget=96) == (16, 64, 16)
    small = choose_lanes(net2, NET2_SYNOPS, 8, budget=24)
    assert sum(small) <= 24 and small[1] == max(small)
    # never more lanes than the channels (rounded up to a power of two) or MAX_LANES
    assert choose_lanes(net2, NET2_SYNOPS, 8, budget=1000) == (16, 64, 16)
    # every choice is at least as fast as uniform lanes of the same total
    cycles = lambda lanes: sum(layer_cycles(oc, pos, s, 8, ln) for (oc, pos), s, ln in
                               zip([(12, 576), (64, 64), (10, 1)], NET2_SYNOPS, lanes))
    assert cycles(small) < cycles((8, 8, 8))
    with pytest.raises(ValueError, match=r"^synops_per_layer has 2 entries, the model 3 "
                                         r"weighted layers$"):
        choose_lanes(net2, NET2_SYNOPS[:2], 8, budget=96)
    with pytest.raises(ValueError, match=r"^Lane budget must be an integer >= 3, not 2$"):
        choose_lanes(net2, NET2_SYNOPS, 8, budget=2)


@pytest.mark.parametrize("text, value", [("8", 8), ("16,64,16", (16, 64, 16)), ("auto", "auto"),
                                         (" 4 ", 4)])
def test_parse_lanes(text, value):
    assert parse_lanes(text) == value


def test_parse_lanes_refuses_text():
    with pytest.raises(ValueError, match=re.escape(
            "lanes must be a count, a comma-separated count per weighted layer or 'auto', "
            "not '8x'")):
        parse_lanes("8x")


@pytest.mark.parametrize("argv, message", [
    (["sim", "net2-aug", "--lanes", "16,3,16"],
     "augsnn sim: error: Lane count of weighted layer 1 must be a power of two, not 3"),
    (["sim", "net2-aug", "--lanes", "16,64"],
     "augsnn sim: error: lanes 16,64 name 2 layers; the model has 3 weighted layers"),
])
def test_cli_refuses_bad_lanes(argv, message, capsys):
    assert cli_main(argv) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == message


def test_cli_usage_error_for_text(capsys):
    with pytest.raises(SystemExit) as exc:
        cli_main(["sim", "net2-aug", "--lanes", "many"])
    assert exc.value.code == 2
    assert "lanes must be a count" in capsys.readouterr().err
