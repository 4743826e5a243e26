# amaranth: UnusedElaboratable=no
"""Neuron core (issue 3): parameters, CLI, Verilator lint, and cocotb runs against the golden model.

The simulation tests build one Verilator model holding every case (24 random parameter sets
plus the throughput cases) and run two cocotb tests on it; together under a minute on 2 cores.
``AUGSNN_SIM_SEED`` (default 2024) draws another deterministic set of random cases.
"""

from __future__ import annotations

import os
import re

import numpy as np
import pytest

from augsnn.cli import main as cli_main
from augsnn.hw.neuron_core import NeuronCore, Op
from augsnn.sim import lint, runner
from augsnn.sim.neuron_core_cases import suite_cases, throughput_cases

BASE = dict(coef_bits=4, current_bits=8, pot_bits=12, theta_p=5)

MIN_UPDATES = 100_000
MIN_PARAMETER_SETS = 20


# -- parameters ---------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, error, message", [
    (dict(coef_bits=1), ValueError, "Coefficient width must be an integer between 2 and 16, not 1"),
    (dict(coef_bits=17), ValueError,
     "Coefficient width must be an integer between 2 and 16, not 17"),
    (dict(coef_bits=4.0), TypeError, "Coefficient width must be an integer, not 4.0"),
    (dict(coef_bits="4"), TypeError, "Coefficient width must be an integer, not '4'"),
    (dict(coef_bits=True), TypeError, "Coefficient width must be an integer, not True"),
    (dict(current_bits=1), ValueError, "Current width must be an integer >= 2, not 1"),
    (dict(current_bits=None), TypeError, "Current width must be an integer, not None"),
    (dict(pot_bits=1), ValueError, "Membrane width must be an integer between 2 and 62, not 1"),
    (dict(pot_bits=63), ValueError, "Membrane width must be an integer between 2 and 62, not 63"),
    (dict(theta_p=0), ValueError, "Positive threshold must be an integer >= 1, not 0"),
    (dict(theta_p=-7), ValueError, "Positive threshold must be an integer >= 1, not -7"),
    (dict(theta_p=2.5), TypeError, "Positive threshold must be an integer, not 2.5"),
    (dict(theta_n=0), ValueError, "Negative threshold must be an integer >= 1, not 0"),
    (dict(theta_n="3"), TypeError, "Negative threshold must be an integer, not '3'"),
    (dict(neurons=0), ValueError, "Neuron count must be an integer >= 1, not 0"),
    (dict(lanes=0), ValueError, "Lane count must be an integer >= 1, not 0"),
    (dict(lanes=2.0), TypeError, "Lane count must be an integer, not 2.0"),
    (dict(neurons=12, lanes=3), ValueError, "Lane count must be a power of two, not 3"),
    (dict(neurons=10, lanes=4), ValueError, "Lane count must divide the neuron count 10, not 4"),
    (dict(v_init=2048), ValueError,
     "Initial membrane potential must lie in [-2048, 2047] for a 12-bit membrane, not 2048"),
    (dict(v_init=-2049), ValueError,
     "Initial membrane potential must lie in [-2048, 2047] for a 12-bit membrane, not -2049"),
    (dict(v_init=0.5), TypeError, "Initial membrane potential must be an integer, not 0.5"),
    (dict(acc_bits=7), ValueError, "Accumulator width must be an integer between 8 and 62, not 7"),
    (dict(acc_bits=63), ValueError,
     "Accumulator width must be an integer between 8 and 62, not 63"),
    (dict(divider=False), ValueError,
     "The shift path needs power-of-two thresholds, not theta_p=5, theta_n=None"),
    (dict(theta_p=8, theta_n=6, divider=False), ValueError,
     "The shift path needs power-of-two thresholds, not theta_p=8, theta_n=6"),
    (dict(divider="yes"), TypeError, "Divider selection must be None or a bool, not 'yes'"),
    (dict(readout=1), TypeError, "Readout must be a bool, not 1"),
])
def test_bad_parameters(kwargs, error, message):
    with pytest.raises(error, match=rf"^{re.escape(message)}$"):
        NeuronCore(**{**BASE, **kwargs})


def test_numpy_integers_accepted():
    core = NeuronCore(coef_bits=np.int64(4), current_bits=np.int32(8), pot_bits=12,
                      theta_p=np.int64(5), theta_n=np.int16(7), neurons=16, lanes=np.int64(2))
    assert (type(core.coef_bits), type(core.theta_n), core.lanes) == (int, int, 2)


def test_quotient_datapath_choice():
    assert NeuronCore(**{**BASE, "theta_p": 5}).divider is True
    assert NeuronCore(**{**BASE, "theta_p": 8}).divider is False
    assert NeuronCore(**{**BASE, "theta_p": 8, "theta_n": 12}).divider is True
    assert NeuronCore(**{**BASE, "theta_p": 8, "theta_n": 1}).divider is False
    assert NeuronCore(**{**BASE, "theta_p": 8, "divider": True}).divider is True


def test_contract_properties():
    core = NeuronCore(coef_bits=6, current_bits=16, pot_bits=24, theta_p=1000, theta_n=1500,
                      neurons=1024, lanes=4)
    assert (core.M, core.double, core.depth) == (31, True, 256)
    assert (core.row_bits, core.index_bits) == (8, 10)
    assert core.acc_bits == 24 and core.wide_bits == 25
    # 5 quotient stages (divider) + saturate, magnitude, sign = 8 fire stages; issue, S0, SR
    # (memory output register), S1, S2, S3 and the output FIFO (2) = 8 more.
    assert core.latency == 8 + 8
    assert core.fire_cycles == 256 + 1 + (8 + 3)
    assert core.clear_cycles == 256
    shift = NeuronCore(coef_bits=6, current_bits=16, pot_bits=24, theta_p=1024, neurons=8)
    assert shift.latency == 8 + 5
    # Input: op (2 bits), row, lanes x current; output: index, lanes x coef, done.
    assert core.i.payload.shape().size == 2 + 8 + 4 * 16
    assert core.o.payload.shape().size == 10 + 4 * 6 + 1
    readout = NeuronCore(**BASE, readout=True)
    assert readout.o.payload.shape().size == 1 + 4 + 1 + 12
    assert [op.value for op in Op] == [0, 1, 2]


# -- CLI ----------------------------------------------------------------------------------

def core_argv(**options) -> list[str]:
    """``augsnn verilog --core`` arguments: a 64-neuron, 4-lane core, changed by ``options``
    (``None`` drops an option, ``True`` makes it a flag)."""
    values = dict(coef_bits=4, current_bits=16, pot_bits=24, theta_p=1000, theta_n=1500,
                  neurons=64, lanes=4)
    values.update(options)
    argv = ["verilog", "--core"]
    for key, value in values.items():
        if value is None:
            continue
        argv.append(f"--{key.replace('_', '-')}")
        if value is not True:
            argv.append(str(value))
    return argv


def test_cli_writes_core_verilog(tmp_path, capsys):
    out = tmp_path / "core.v"
    assert cli_main([*core_argv(), "-o", str(out)]) == 0
    text = out.read_text()
    assert text.count("module top(") == 1
    for port in ("i__valid", "i__ready", "i__payload", "o__valid", "o__ready", "o__payload"):
        assert re.search(rf"\b{port}\b", text), port
    assert "latency 14 cycles" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["verilog", "net2-aug", "--core"],
     "augsnn verilog: error: --core takes no MODEL, not 'net2-aug'"),
    (["verilog"], "augsnn verilog: error: give a MODEL file or --core"),
    (["verilog", "--core", "--coef-bits", "4"],
     "augsnn verilog: error: --core needs --current-bits, --pot-bits, --theta-p"),
    (core_argv(lanes=3), "augsnn verilog: error: Lane count must be a power of two, not 3"),
    (core_argv(coef_bits=1), "augsnn verilog: error: Coefficient width must be an integer "
                             "between 2 and 16, not 1"),
])
def test_cli_errors(argv, message, capsys):
    assert cli_main(argv) == 2
    assert capsys.readouterr().err.strip() == message


# -- lint ---------------------------------------------------------------------------------

LINT_CASES = {
    "divider-double-4lanes": {},
    "divider-single-readout": dict(theta_n=None, readout=True, lanes=1, neurons=10),
    "shift-double-1row-ternary": dict(theta_p=1024, theta_n=512, neurons=4, coef_bits=2),
    "shift-single-vinit": dict(theta_p=64, theta_n=None, v_init=-100, neurons=5, lanes=1),
    "divider-coef16-wide": dict(coef_bits=16, pot_bits=30, acc_bits=34, lanes=2),
    "forced-divider-pow2": dict(theta_p=8, theta_n=16, quotient="divider", lanes=8),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(LINT_CASES))
def test_verilator_lint(case, tmp_path):
    path = tmp_path / "top.v"
    assert cli_main([*core_argv(**LINT_CASES[case]), "-o", str(path)]) == 0
    warnings = lint.lint(path)
    problems = lint.judge(path, warnings)
    assert not problems, "\n".join(map(repr, problems))
    # Only the documented generator rules (and generator names) were waived.
    assert {w.rule for w in warnings} <= {*lint.GENERATOR_RULES, "UNUSEDSIGNAL"}


# -- simulation ---------------------------------------------------------------------------

def is_pow2(value: int) -> bool:
    return value & (value - 1) == 0


@pytest.fixture(scope="module")
def sim_build(tmp_path_factory):
    """One Verilator model of every case, as a bundle (a build costs ~40 s, a run a few)."""
    cases = suite_cases(seed=int(os.environ.get("AUGSNN_SIM_SEED", "2024")), count=24,
                        updates=150_000)
    fast = throughput_cases()
    parts = {c["name"]: NeuronCore(**c["params"]) for c in cases + fast}
    build_dir = tmp_path_factory.mktemp("neuron_core_sim")
    source = runner.write_verilog(runner.Bundle(parts), build_dir / "top.v")
    sim = runner.build(source, build_dir=build_dir)
    return sim, build_dir, cases, fast


@pytest.mark.slow
def test_random_traffic_matches_golden(sim_build):
    sim, build_dir, cases, _ = sim_build
    results = runner.run(sim, test_module="augsnn.sim.neuron_core_tb", build_dir=build_dir,
                         name="random", testcase="random_traffic",
                         config={"cases": cases, "min_updates": MIN_UPDATES})
    summary = results["random_traffic"]
    totals = summary["totals"]
    print(f"\nneuron core: {totals['updates']} updates, {summary['parameter_sets']} parameter "
          f"sets, {totals['fires']} steps, {totals['spikes']} spikes, 0 mismatches")
    assert results["errors"] == []
    assert totals["updates"] >= MIN_UPDATES
    assert summary["parameter_sets"] >= MIN_PARAMETER_SETS
    per_case = summary["cases"].values()
    # The corners were reached, not only configured.
    assert totals["saturated_hi"] > 0 and totals["saturated_lo"] > 0
    assert totals["negative"] > 0
    assert totals["same_row"] > 1000
    assert any(c["stats"]["clamped"] > 0 for c in per_case if c["params"]["coef_bits"] == 2)
    assert any(c["stats"]["clamped"] > 0 for c in per_case if c["params"]["coef_bits"] > 2)
    assert any(c["stats"]["spikes"] > 0 for c in per_case if c["params"]["theta_n"] is None)
    for key, values in (("divider", (True, False)), ("readout", (True, False)),
                        ("lanes", (1, 2, 4, 8))):
        for value in values:
            assert any(c["stats"]["spikes"] > 0 for c in per_case if c["params"][key] == value), (
                key, value)
    assert any(c["stats"]["spikes"] > 0 for c in per_case
               if c["params"]["divider"] and not is_pow2(c["params"]["theta_p"]))


@pytest.mark.slow
def test_throughput(sim_build):
    sim, build_dir, _, fast = sim_build
    results = runner.run(sim, test_module="augsnn.sim.neuron_core_tb", build_dir=build_dir,
                         name="throughput", testcase="throughput", config={"cases": fast})
    assert results["errors"] == []
    for name, f in results["throughput"].items():
        print(f"\n{name}: lanes={f['params']['lanes']} divider={f['params']['divider']}: "
              f"{f['updates_per_cycle_per_lane']:.3f} updates/cycle/lane over "
              f"{f['integrate_beats']} beats, fire sweep "
              f"{f['fire_neurons_per_cycle_per_lane']:.3f} neurons/cycle/lane, "
              f"latency {f['latency_measured']} cycles")
        assert f["updates_per_cycle_per_lane"] >= 1.0
        assert f["fire_neurons_per_cycle_per_lane"] >= 1.0
        assert f["latency_measured"] == f["latency_property"]
        assert f["fire_busy_measured"] == f["fire_cycles_property"]
    assert {f["params"]["lanes"] for f in results["throughput"].values()} == {1, 4}
