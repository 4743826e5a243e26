"""Formal checks (SymbiYosys + Yices): the neuron core, its mutant, the UART receiver.

The reference model is first checked exhaustively against the golden model; then every
check of ``augsnn prove``'s suite must give its expected result, and the mutant's
counterexample is replayed in simulation: the same inputs make the real core agree with
the neuron rule of docs/golden-model.md and the mutant disagree. See docs/formal.md.
"""

import pytest
from amaranth.hdl import Module, Signal, signed
from amaranth.sim import Simulator

from augsnn.golden.neuron import NeuronParams, fire
from augsnn.hw.neuron_core import NeuronCore, Op
from augsnn.sim import formal, formal_ref
from augsnn.sim.formal_core import CoreHarness, NoForwardCore, ShortDrainCore
from augsnn.sim.formal_core_proof import CoreProofHarness
from augsnn.sim.formal_mem import elaborate_open
from augsnn.sim.formal_trace import golden_beats, read_vcd, replay_core
from augsnn.sim.formal_uart import UartRxHarness
from augsnn.sim.prove import main as prove_main

import numpy as np


@pytest.mark.parametrize("coef_bits,pot_bits,theta_p,theta_n", [
    (2, 6, 3, 2), (3, 6, 5, None), (3, 7, 1, 4), (4, 6, 4, 4), (2, 5, 1, None), (3, 7, 2, 4),
])
def test_reference_equals_golden_exhaustively(coef_bits, pot_bits, theta_p, theta_n):
    # Every wide value two bits beyond the membrane range (saturation both ways).
    m = Module()
    x = Signal(signed(pot_bits + 2))
    o, after = formal_ref.fire(formal_ref.saturate(x, pot_bits), coef_bits=coef_bits,
                               pot_bits=pot_bits, theta_p=theta_p, theta_n=theta_n)
    so, sa = Signal(signed(coef_bits)), Signal(signed(pot_bits))
    m.d.comb += [so.eq(o), sa.eq(after)]
    values = range(-(1 << (pot_bits + 1)), 1 << (pot_bits + 1))
    got = []

    async def bench(ctx):
        for value in values:
            ctx.set(x, value)
            got.append((ctx.get(so), ctx.get(sa)))

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    p = NeuronParams(theta_p=theta_p, theta_n=theta_n, coef_bits=coef_bits, pot_bits=pot_bits)
    eo, ea = fire(np.clip(np.array(list(values)), p.v_min, p.v_max), p)
    assert got == list(zip(eo.tolist(), ea.tolist()))
    assert any(c == p.M for c, _ in got) and any(c not in (0, p.M) for c, _ in got) \
        or p.M == 1


def _job(name):
    return next(job for job in formal.SUITE if job.name == name)


PASSING = [job for job in formal.SUITE if job.expect == "pass"]


@pytest.mark.parametrize("job", [pytest.param(j, id=j.name,
                                              marks=[pytest.mark.slow] if j.slow else [])
                                 for j in PASSING])
def test_check_holds(job, tmp_path):
    res = formal.check(job.make(), name=job.name, depth=job.depth, workdir=tmp_path,
                       mode=job.mode)
    assert res.status == "PASS", (res.failed, res.log[-3000:])


def test_suite_covers_two_cores_streams_and_a_mutant():
    jobs = {job.name: job for job in formal.SUITE}
    for key in ("c2", "c3"):
        # Unbounded: the core's control (order, room, stream rule), its data (the
        # reference), its output FIFO.
        for part in ("proof-control", "proof-data", "fifo"):
            assert jobs[f"core-{key}-{part}"].mode == "prove"
    assert jobs["uart-rx-free"].mode == jobs["uart-rx-frames"].mode == "prove"
    # Every bounded check says why its depth covers what it checks.
    assert all(job.why_bounded for job in formal.SUITE
               if job.mode == "bmc" and job.expect == "pass")
    assert [job.expect for job in formal.SUITE].count("fail") == len(MUTANTS)
    c2, c3 = (formal.CORE_PARAMS[k] for k in ("c2", "c3"))
    assert {c2["coef_bits"], c3["coef_bits"]} == {2, 3} and c2["lanes"] == c3["lanes"] == 2
    # One core on the divider, one on the shifter; one with readout, one without.
    assert NeuronCore(**c2).divider and not NeuronCore(**c3).divider
    assert c2["readout"] != c3["readout"]


MUTANTS = {"mutant-noforward-c2-match": NoForwardCore,
           "mutant-shortdrain-c2-match-after-fire": ShortDrainCore}


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_mutant_is_refuted_with_a_real_counterexample(name, tmp_path):
    job = _job(name)
    assert job.expect == "fail"
    res = formal.check(job.make(), name=job.name, depth=job.depth, workdir=tmp_path)
    assert res.status == "FAIL" and res.trace is not None and res.steps is not None
    assert res.failed and all("formal_core.py" in f for f in res.failed)
    t = read_vcd(res.trace, ["i_valid", "i_payload", "o_ready"])
    assert len(t["i_valid"]) >= res.steps + 1
    t = {name: values[:res.steps + 1] for name, values in t.items()}
    params = formal.CORE_PARAMS["c2"]
    results = {}
    for cls in (NeuronCore, MUTANTS[name]):
        core = cls(**params)
        accepted, popped = replay_core(core, t["i_valid"], t["i_payload"], t["o_ready"])
        expected = golden_beats(core, accepted)[:len(popped)]
        results[cls] = (accepted, popped, expected)
    accepted, popped, expected = results[NeuronCore]
    assert popped and popped == expected           # the real core: the neuron rule
    m_accepted, m_popped, m_expected = results[MUTANTS[name]]
    assert m_popped != m_expected                   # the mutant: wrong on the same inputs
    ops = [(v, p & 3, (p >> 2) & 1) for v, p in zip(t["i_valid"], t["i_payload"])]
    if MUTANTS[name] is NoForwardCore:
        assert m_accepted == accepted              # same timing, wrong values
        # What forwarding is for: two updates of one row in consecutive cycles.
        assert any(a[0] and b[0] and a[1] == b[1] == Op.INTEGRATE.value and a[2] == b[2]
                   for a, b in zip(ops, ops[1:]))
    else:
        # The mutant took a command right after the first sweep, then a second FIRE.
        assert len(m_accepted) >= 3 and m_accepted[0]["op"] == Op.FIRE.value
        assert any(cmd["op"] == Op.FIRE.value for cmd in m_accepted[2:])


def test_open_core_behaves_like_the_core():
    # The proofs elaborate the core with register files for its memories
    # (formal_mem.elaborate_open); in simulation both cores agree cycle for cycle.
    rng = np.random.default_rng(5)
    for key in ("c2", "c3"):
        real, opened = (NeuronCore(**formal.CORE_PARAMS[key]) for _ in range(2))
        frag, mems, _ = elaborate_open(opened)
        assert len(mems) == real.lanes + 1       # the lane memories and the FIFO storage
        m = Module()
        m.submodules.real = real
        m.submodules.opened = frag
        width = real.i.payload.shape().size
        seen = []

        async def bench(ctx):
            for _ in range(400):
                valid, ready = int(rng.random() < 0.7), int(rng.random() < 0.6)
                op = int(rng.choice([0, 0, 0, 1, 2, 3], p=[.3, .3, .2, .1, .05, .05]))
                payload = (int(rng.integers(0, 1 << width)) & ~3) | op
                for core in (real, opened):
                    ctx.set(core.i.valid, valid)
                    ctx.set(core.i.payload.as_value(), payload)
                    ctx.set(core.o.ready, ready)
                got = [(ctx.get(core.i.ready), ctx.get(core.o.valid),
                        ctx.get(core.o.payload.as_value())) for core in (real, opened)]
                assert got[0] == got[1]
                seen.append(got[0][1] and ready)
                await ctx.tick()

        sim = Simulator(m)
        sim.add_clock(1e-6)
        sim.add_testbench(bench)
        sim.run()
        assert sum(seen) > 20                    # beats came out


def test_proof_is_not_vacuous(tmp_path):
    # The same proof of a core with the forwarding removed does not go through.
    job = formal.core_proof_job("c2", "data", 2)
    harness = CoreProofHarness(core_cls=NoForwardCore, part="data", **formal.CORE_PARAMS["c2"])
    res = formal.check(harness, name=job.name, depth=job.depth, workdir=tmp_path, mode="prove")
    assert res.status in ("FAIL", "UNKNOWN") and res.failed
    assert all("formal_core_proof.py" in f for f in res.failed)


def test_uart_check_is_not_vacuous(tmp_path):
    # A transmitter one cycle per bit too slow (25 %): the scoreboard must catch it.
    res = formal.check(UartRxHarness(divisor=4, line="frames", tx_divisor=5),
                       name="uart-wrong-rate", depth=60, workdir=tmp_path)
    assert res.status == "FAIL" and res.failed and res.trace is not None


def test_harness_and_cli_errors(capsys):
    with pytest.raises(ValueError, match=r"^line must be 'free' or 'frames', not 'noisy'$"):
        UartRxHarness(line="noisy")
    with pytest.raises(ValueError, match=r"^mode must be 'bmc' or 'prove', not 'pdr'$"):
        formal.check(CoreHarness(**formal.CORE_PARAMS["c2"]), name="x", depth=2,
                     workdir=".", mode="pdr")
    with pytest.raises(ValueError, match=r"^part must be one of control, data, all, not 'x'$"):
        CoreProofHarness(part="x", **formal.CORE_PARAMS["c2"])
    with pytest.raises(ValueError, match=r"^depth must be an integer >= 1, not 0$"):
        formal.check(CoreHarness(**formal.CORE_PARAMS["c2"]), name="x", depth=0, workdir=".")
    assert prove_main(["no-such-check"]) == 2
    assert "unknown check 'no-such-check'" in capsys.readouterr().err
    assert prove_main(["--list"]) == 0
    listing = capsys.readouterr().out
    assert all(job.name in listing for job in formal.SUITE)
