"""``augsnn sweep`` (issue 15): configurations, the Pareto sets, and a 4-point sweep on 2 Ray
workers with a real iCEBreaker build, two Net2 simulation points and a point that fails.

The Net2 points use the build options of tests/test_accelerator.py (8 lanes, the build cache
``sim_build/accel``), so their Verilator build is shared; the tiny-aug iCEBreaker build is a
real Yosys + nextpnr run (about a minute on one core).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from augsnn.cli import main as cli_main
from augsnn.scaleout.pareto import mark_pareto, pareto_mask
from augsnn.scaleout.sweep import expand, load_config, point_key
from augsnn.sim.cache import default_cache_dir

CACHE = default_cache_dir()      # one Verilator cache for the suite (conftest.py)


def test_pareto_mask():
    pts = [(1, 1), (2, 3), (3, 2), (2, 2), (0, 3), (3, 2)]
    # maximise both: (2,3) and both (3,2) (equal points do not dominate each other)
    assert pareto_mask(pts, (True, True)) == [False, True, True, False, False, True]
    # minimise the first (LUT4s), maximise the second (images/s): (0, 3) beats all others
    assert pareto_mask(pts, (False, True)) == [False, False, False, False, True, False]
    assert pareto_mask([(1, 1), (0, 0)], (False, True)) == [True, True]
    assert pareto_mask([], (True, True)) == []


def test_expand_grid_and_points(tmp_path):
    cfg = tmp_path / "s.toml"
    cfg.write_text('[defaults]\nmodel = "tiny-aug"\nboard = "icebreaker"\n'
                   '[grid]\nseed = [1, 2]\nT = [2, 4]\n'
                   '[[points]]\nmodel = "net2-aug"\nboard = ""\nlanes = [16, 64, 16]\n')
    points = expand(load_config(cfg))
    assert [(p["seed"], p["T"]) for p in points[:4]] == [(1, 2), (1, 4), (2, 2), (2, 4)]
    assert points[4]["model"] == "net2-aug" and points[4]["lanes"] == (16, 64, 16)
    assert all(p["board"] == "icebreaker" for p in points[:4]) and not points[4]["board"]
    keys = {point_key(p, "d", "s") for p in points}
    assert len(keys) == 5 and point_key(points[0], "other model", "s") not in keys
    with pytest.raises(ValueError, match=r"unknown setting\(s\) \['sed'\]"):
        expand({"points": [{"model": "tiny-aug", "sed": 3}]})
    with pytest.raises(ValueError, match="grid.seed must be a non-empty list, not 3"):
        expand({"defaults": {"model": "tiny-aug"}, "grid": {"seed": 3}})
    with pytest.raises(ValueError, match="no points"):
        expand({"defaults": {"model": "tiny-aug"}})
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_config(tmp_path / "bad.json")


def test_mark_pareto_ignores_failed_and_late_points():
    rows = [
        {"status": "ok", "board": "icebreaker", "lut4": 100, "images_per_s": 10.0,
         "accuracy": 0.9, "timing_met": True},
        {"status": "ok", "board": "icebreaker", "lut4": 200, "images_per_s": 5.0,
         "accuracy": 0.95, "timing_met": True},
        {"status": "ok", "board": "icebreaker", "lut4": 50, "images_per_s": 50.0,
         "accuracy": 0.99, "timing_met": False},              # timing not met: not eligible
        {"status": "failed", "board": "icebreaker"},
        {"status": "ok", "board": None, "images_per_s": 20.0, "accuracy": 0.8},
    ]
    mark_pareto(rows)
    assert [r["pareto_resources"] for r in rows] == [True, False, False, False, False]
    assert [r["pareto_accuracy"] for r in rows] == [True, True, False, False, True]


@pytest.mark.slow
@pytest.mark.mnist
def test_four_point_sweep_on_two_workers(tmp_path, capsys):
    cfg = tmp_path / "four.json"
    cfg.write_text(json.dumps({
        "defaults": {"accuracy_images": 200, "images": 1},
        "points": [
            {"model": "tiny-aug", "board": "icebreaker"},
            {"model": "net1-aug", "board": "icebreaker"},           # does not fit: fails
            {"model": "net2-aug", "lanes": 8, "T": 8},
            {"model": "net2-aug", "lanes": 8, "T": 4},
        ]}))
    out, cache = tmp_path / "out", tmp_path / "cache"
    args = ["sweep", str(cfg), "-o", str(out), "--cache", str(cache), "--workers", "2",
            "--cache-dir", str(CACHE)]
    assert cli_main(args) == 1                                   # one point failed
    text = capsys.readouterr()
    assert "4 points, 0 from the cache" in text.err
    with open(out / "sweep.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["status"] for r in rows] == ["ok", "failed", "ok", "ok"], rows
    assert "does not fit the icebreaker" in rows[1]["reason"]
    build, sims = rows[0], rows[2:]
    assert build["lut4_name"] == "logic cells" and 0 < int(build["lut4"]) <= 5280
    assert float(build["fmax_mhz"]) > 0 and build["clock_mhz"] == "30"
    assert (Path(build["build_dir"]) / "top.bin").is_file()
    for r in sims:
        assert r["mismatches"] == "0" and float(r["cycles_per_image"]) > 1000
        assert r["lut4"] == "" and r["pareto_resources"] == "False"
    # T=4 runs fewer steps than T=8: fewer cycles, more images/s
    assert float(sims[1]["images_per_s"]) > float(sims[0]["images_per_s"])
    # the Pareto marks, checked against a direct reading of the dominance rule
    assert build["pareto_resources"] == "True"        # the only built point
    ok = [r for r in rows if r["status"] == "ok"]
    for r in ok:
        a, b = float(r["images_per_s"]), float(r["accuracy"])
        dominated = any(float(o["images_per_s"]) >= a and float(o["accuracy"]) >= b
                        and (float(o["images_per_s"]) > a or float(o["accuracy"]) > b)
                        for o in ok)
        assert r["pareto_accuracy"] == str(not dominated), r
    assert rows[1]["pareto_accuracy"] == "False"
    assert (out / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(json.loads((out / "sweep.json").read_text())) == 4
    # a second run takes all four points from the result cache (the failure too): no Ray
    assert cli_main(args) == 1
    assert "4 points, 4 from the cache" in capsys.readouterr().err
    with open(out / "sweep.csv", newline="") as f:
        again = list(csv.DictReader(f))
    assert [r["cached"] for r in again] == ["True"] * 4
    assert [r["lut4"] for r in again] == [r["lut4"] for r in rows]
