# amaranth: UnusedElaboratable=no
"""cocotb testbench of :class:`augsnn.hw.neuron_core.NeuronCore`, scored by the golden model.

Layer: ``sim`` (cocotb test module; run it through :func:`augsnn.sim.runner.run`). The design
under test is a :class:`~augsnn.sim.runner.Bundle` of cores named by the cases of the config
(see :mod:`augsnn.sim.neuron_core_cases`); all of them are driven concurrently, one Python
step per clock cycle. The scoreboard is :func:`augsnn.golden.neuron.step`: the testbench only
adds up each neuron's input of the step and hands it over; it computes no neuron arithmetic.

Config keys: ``cases`` (list of cases), ``min_updates`` (asserted lower bound on the total
number of neuron updates), ``max_errors`` (per core). Results: per-case statistics, totals,
``errors`` (mismatches reported as core, step, neuron, expected, actual) and, for the
throughput test, the measured figures.
"""

from __future__ import annotations

import random
from collections import deque

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge

from augsnn.golden import neuron as golden
from augsnn.hw.neuron_core import NeuronCore, Op
from augsnn.sim.runner import load_config, save_results
from augsnn.sim.streams import pack, unpack


class CoreBench:
    """Driver, golden scoreboard and in-order checker of one core of the bundle."""

    def __init__(self, dut, case: dict, *, max_errors: int = 20):
        self.name = case["name"]
        params = dict(case["params"])
        self.core = core = NeuronCore(**params)
        self.golden = golden.NeuronParams(core.theta_p, core.theta_n, core.coef_bits,
                                          core.pot_bits, core.v_init)
        traffic = case.get("traffic", {})
        self.rng = random.Random(traffic.get("seed", 0))
        self.traffic = traffic
        self.max_errors = max_errors
        self.in_layout = core.i.payload.shape()
        self.out_layout = core.o.payload.shape()
        p = f"{self.name}__"
        self.h_i_valid = getattr(dut, p + "i__valid")
        self.h_i_ready = getattr(dut, p + "i__ready")
        self.h_i_payload = getattr(dut, p + "i__payload")
        self.h_o_valid = getattr(dut, p + "o__valid")
        self.h_o_ready = getattr(dut, p + "o__ready")
        self.h_o_payload = getattr(dut, p + "o__payload")
        self.written = {}

        N = core.neurons
        self.v = np.full(N, core.v_init, dtype=np.int64)   # golden membranes
        self.acc = np.zeros(N, dtype=np.int64)             # this step's input, exact
        self.budget = np.zeros(N, dtype=np.int64)          # sum of |current| this step
        self.bound = (1 << (core.acc_bits - 1)) - 1        # |partial sum| must stay below
        self.plan = deque()          # input beats still to send
        self.expected = deque()      # (step, beat) the core must emit, in order
        self.step = 0                # time steps fired so far (by the testbench)
        self.cur_beat = None         # beat presented on i (held until accepted)
        self.cycle = 0
        self.errors = []
        self.stats = dict(updates=0, beats=0, fires=0, clears=0, spikes=0, negative=0,
                          clamped=0, saturated_hi=0, saturated_lo=0, same_row=0,
                          out_beats=0, checked_neurons=0)
        self.in_log = []             # (cycle, op) of every input transfer
        self.out_log = []            # (cycle, done) of every output transfer
        self.ready_log = []          # (cycle, i.ready) when logging
        self.log_ready = False
        self.stall_in = traffic.get("stall_in", 0.0)
        self.stall_out = traffic.get("stall_out", 0.0)
        self.plan_row = 0            # row of the last planned beat (for same-row runs)
        self.accepted_row = None     # row of the last accepted INTEGRATE beat

    # -- signal access (writes only on change: a VPI write costs as much as a Python step)
    def _write(self, handle, value):
        if self.written.get(id(handle)) != value:
            handle.value = value
            self.written[id(handle)] = value

    # -- traffic
    @property
    def finished(self) -> bool:
        return (self.cur_beat is None and not self.plan and not self.expected
                and self.stats["updates"] >= self.traffic.get("updates", 0))

    def plan_step(self):
        """Queue one random time step: integrate beats (maybe a CLEAR), then FIRE."""
        core, rng, t = self.core, self.rng, self.traffic
        D, L = core.depth, core.lanes
        if rng.random() < t.get("clear", 0.0):
            self.plan.append({"op": Op.CLEAR})
        lo, hi = t.get("beats_per_step", [0, 3 * D])
        n_beats = rng.randint(lo, hi) if rng.random() < 0.9 else 0
        # Per-step current magnitude and sign bias, so that steps differ in character: some
        # hover around the thresholds, some clamp at M, some saturate the membrane.
        c_max = (1 << (core.current_bits - 1)) - 1
        theta = max(core.theta_p, core.theta_n or 0)
        scale = rng.choice([theta, theta * (core.M + 1), c_max, c_max])
        scale = max(1, min(c_max, scale))
        bias = rng.choice([0, 0, 1, -1])
        for _ in range(n_beats):
            if rng.random() < t.get("same_row", 0.3):
                row = self.plan_row
            else:
                row = rng.randrange(D)
            self.plan_row = row
            currents = []
            for _k in range(L):
                c = rng.randint(-scale, scale)
                if bias:
                    c = bias * abs(c)
                if rng.random() < 0.1:
                    c = 0
                currents.append(c)
            self.plan.append({"op": Op.INTEGRATE, "row": row, "current": currents})
            if rng.random() < t.get("clear", 0.0) / 8:
                self.plan.append({"op": Op.CLEAR})
        self.plan.append({"op": Op.FIRE})

    def next_beat(self):
        if not self.plan:
            if self.stats["updates"] >= self.traffic.get("updates", 0):
                return None
            self.plan_step()
        beat = self.plan.popleft()
        if beat["op"] is Op.INTEGRATE:
            # Keep every partial sum within the accumulator bound (the layer's static bound).
            L, row = self.core.lanes, beat["row"]
            for k in range(L):
                n = row * L + k
                c = beat["current"][k]
                room = self.bound - int(self.budget[n])
                c = max(-room, min(room, c))
                beat["current"][k] = c
                self.budget[n] += abs(c)
        return beat

    # -- scoreboard
    def accept(self, beat):
        """The core took ``beat``: update the golden state and the expected output."""
        core = self.core
        L = core.lanes
        op = beat["op"]
        self.in_log.append((self.cycle, op))
        if op is Op.INTEGRATE:
            row = beat["row"]
            if row == self.accepted_row:
                self.stats["same_row"] += 1
            self.accepted_row = row
            self.acc[row * L:(row + 1) * L] += beat["current"]
            self.stats["updates"] += L
            self.stats["beats"] += 1
        elif op is Op.CLEAR:
            self.v[:] = core.v_init
            self.acc[:] = 0
            self.budget[:] = 0
            self.stats["clears"] += 1
        elif op is Op.FIRE:
            v_sat = golden.integrate(self.v, self.acc, self.golden)
            o, v_new = golden.fire(v_sat, self.golden)
            unsat = self.v + self.acc
            self.stats["saturated_hi"] += int(np.count_nonzero(unsat > v_sat))
            self.stats["saturated_lo"] += int(np.count_nonzero(unsat < v_sat))
            self.stats["spikes"] += int(np.count_nonzero(o))
            self.stats["negative"] += int(np.count_nonzero(o < 0))
            # Clamped: fired M and would still fire (the excess stayed in V).
            M = core.M
            clamped = (o == M) & (v_new >= core.theta_p)
            if core.theta_n is not None:
                clamped |= (o == -M) & (v_new <= -core.theta_n)
            self.stats["clamped"] += int(np.count_nonzero(clamped))
            self.stats["fires"] += 1
            self.stats["checked_neurons"] += core.neurons
            for r in range(core.depth):
                coef = [int(x) for x in o[r * L:(r + 1) * L]]
                if core.readout or any(coef):
                    exp = {"index": r * L, "coef": coef, "done": 0}
                    if core.readout:
                        exp["v"] = [int(x) for x in v_new[r * L:(r + 1) * L]]
                    self.expected.append((self.step, exp))
            done = {"index": 0, "coef": [0] * L, "done": 1}
            if core.readout:
                done["v"] = [0] * L
            self.expected.append((self.step, done))
            self.v = v_new
            self.acc[:] = 0
            self.budget[:] = 0
            self.step += 1

    def check(self, actual):
        self.out_log.append((self.cycle, actual["done"]))
        self.stats["out_beats"] += 1
        if not self.expected:
            self.error(f"step {self.step}: unexpected output beat {self._show(actual)}")
            return
        step, exp = self.expected.popleft()
        if actual == exp:
            return
        if actual["index"] == exp["index"] and actual["done"] == exp["done"]:
            for k in range(self.core.lanes):
                n = exp["index"] + k
                for key in ("coef", "v"):
                    if key in exp and actual[key][k] != exp[key][k]:
                        what = "spike" if key == "coef" else "membrane"
                        self.error(f"step {step}, neuron {n}: {what} expected {exp[key][k]}, "
                                   f"got {actual[key][k]}")
        else:
            self.error(f"step {step}: expected {self._show(exp)}, got {self._show(actual)} "
                       f"(missing or extra spikes)")

    def _show(self, beat):
        if beat["done"]:
            return "end of step"
        text = ", ".join(f"neuron {beat['index'] + k}: {c}" for k, c in enumerate(beat["coef"]))
        return f"[{text}]"

    def error(self, message):
        if len(self.errors) < self.max_errors:
            p = self.core
            self.errors.append(
                f"{self.name} (coef_bits={p.coef_bits}, pot_bits={p.pot_bits}, "
                f"theta_p={p.theta_p}, theta_n={p.theta_n}, lanes={p.lanes}, "
                f"neurons={p.neurons}): {message}")

    # -- one clock cycle, called at the falling edge
    def tick(self):
        """Sample the outputs, decide this cycle's inputs; account for the coming transfers."""
        self.cycle += 1
        i_ready = int(self.h_i_ready.value)
        o_valid = int(self.h_o_valid.value)
        if self.log_ready:
            self.ready_log.append((self.cycle, i_ready))
        # Output side: a random ready; a transfer happens at the next rising edge.
        o_ready = 0 if self.rng.random() < self.stall_out else 1
        self._write(self.h_o_ready, o_ready)
        if o_valid and o_ready:
            self.check(unpack(self.out_layout, self.h_o_payload.value.to_unsigned()))
        # Input side: hold a presented beat until it is taken; stall randomly between beats.
        if self.cur_beat is None and self.rng.random() >= self.stall_in:
            self.cur_beat = self.next_beat()
            if self.cur_beat is not None:
                self._write(self.h_i_payload, pack(self.in_layout, self.cur_beat))
        self._write(self.h_i_valid, int(self.cur_beat is not None))
        if self.cur_beat is not None and i_ready:
            self.accept(self.cur_beat)
            self.cur_beat = None

    def results(self) -> dict:
        return {"params": self.core_params(), "stats": self.stats, "steps": self.step,
                "cycles": self.cycle, "errors": len(self.errors)}

    def core_params(self) -> dict:
        c = self.core
        return dict(coef_bits=c.coef_bits, current_bits=c.current_bits, pot_bits=c.pot_bits,
                    acc_bits=c.acc_bits, theta_p=c.theta_p, theta_n=c.theta_n,
                    neurons=c.neurons, lanes=c.lanes, v_init=c.v_init, divider=c.divider,
                    readout=c.readout)


async def _start(dut):
    Clock(dut.clk, 10, unit="ns").start()
    dut.rst.value = 1
    for _ in range(3):
        await FallingEdge(dut.clk)
    dut.rst.value = 0


async def _run(dut, benches, max_cycles):
    for bench in benches:
        bench._write(bench.h_i_valid, 0)
        bench._write(bench.h_o_ready, 0)
    cycles = 0
    active = list(benches)
    while active:
        await FallingEdge(dut.clk)
        cycles += 1
        for bench in active:
            bench.tick()
        active = [b for b in active if not b.finished]
        if cycles >= max_cycles:
            for bench in active:
                bench.error(f"timed out after {cycles} cycles with {len(bench.expected)} output "
                            f"beats missing")
            break
    return cycles


@cocotb.test()
async def random_traffic(dut):
    """Random commands with random stalls on both sides, checked against the golden model."""
    config = load_config()
    cases = config["cases"]
    benches = [CoreBench(dut, case, max_errors=config.get("max_errors", 20)) for case in cases]
    await _start(dut)
    cycles = await _run(dut, benches, config.get("max_cycles", 2_000_000))
    totals = {key: sum(b.stats[key] for b in benches) for key in benches[0].stats}
    errors = [e for b in benches for e in b.errors]
    save_results({
        "random_traffic": {
            "cases": {b.name: b.results() for b in benches},
            "totals": totals,
            "sim_cycles": cycles,
            "parameter_sets": len(benches),
        },
        "errors": errors,
    })
    assert not errors, f"{len(errors)} mismatches, first: {errors[0]}"
    assert totals["updates"] >= config.get("min_updates", 0), (
        f"only {totals['updates']} neuron updates, fewer than {config['min_updates']}")


@cocotb.test()
async def throughput(dut):
    """Measure updates/cycle/lane, the fire sweep rate and the latency without any stall."""
    config = load_config()
    benches = [CoreBench(dut, case) for case in config["cases"]]
    await _start(dut)
    for bench in benches:
        core, rng = bench.core, bench.rng
        D, L = core.depth, core.lanes
        bench.log_ready = True
        # CLEAR; a long run of INTEGRATE beats with repeats of the same row (forwarding);
        # large positive currents so that every neuron spikes: the sweep emits every row.
        bench.plan.append({"op": Op.CLEAR})
        c_max = (1 << (core.current_bits - 1)) - 1
        rows = [r for r in range(D) for _ in range(3)] + [rng.randrange(D) for _ in range(4 * D)]
        for row in rows:
            bench.plan.append({"op": Op.INTEGRATE, "row": row,
                               "current": [rng.randint(c_max // 2, c_max) for _ in range(L)]})
        bench.plan.append({"op": Op.FIRE})
        bench.plan.append({"op": Op.INTEGRATE, "row": D - 1, "current": [1] * L})
        bench.plan.append({"op": Op.FIRE})
        bench.traffic = {"updates": 0}
    cycles = await _run(dut, benches, 100_000)
    figures = {}
    errors = [e for b in benches for e in b.errors]
    for bench in benches:
        core = bench.core
        ops = bench.in_log
        ints = [c for c, op in ops if op is Op.INTEGRATE]
        first_fire = next(c for c, op in ops if op is Op.FIRE)
        # Integrate phase: beats were offered every cycle; count cycles spent per beat.
        int_cycles = ints[-1] - ints[0] + 1
        run = [c for c in ints if c < first_fire]
        run_cycles = run[-1] - run[0] + 1
        outs = [c for c, done in bench.out_log if c > first_fire]
        first_spike = outs[0]
        sweep = outs[:core.depth]
        sweep_cycles = sweep[-1] - sweep[0] + 1
        clear_low = _low_after(bench.ready_log, next(c for c, op in ops if op is Op.CLEAR))
        fire_low = _low_after(bench.ready_log, first_fire)
        figures[bench.name] = {
            "params": bench.core_params(),
            "integrate_beats": len(run),
            "integrate_cycles": run_cycles,
            "updates_per_cycle_per_lane": len(run) / run_cycles,
            "fire_rows": len(sweep),
            "fire_cycles_first_to_last_row": sweep_cycles,
            "fire_neurons_per_cycle_per_lane": len(sweep) / sweep_cycles,
            "latency_measured": first_spike - first_fire,
            "latency_property": core.latency,
            "fire_busy_measured": fire_low,
            "fire_cycles_property": core.fire_cycles,
            "clear_busy_measured": clear_low,
            "clear_cycles_property": core.clear_cycles,
            "all_integrate_cycles": int_cycles,
        }
    for name, f in figures.items():
        if f["updates_per_cycle_per_lane"] < 1.0:
            errors.append(f"{name}: {f['updates_per_cycle_per_lane']:.3f} updates/cycle/lane < 1")
        if f["fire_neurons_per_cycle_per_lane"] < 1.0:
            errors.append(f"{name}: fire sweep {f['fire_neurons_per_cycle_per_lane']:.3f} "
                          f"neurons/cycle/lane < 1")
        for key in ("latency", "fire", "clear"):
            measured = f[f"{key}_measured" if key == "latency" else f"{key}_busy_measured"]
            expected = f[f"{key}_property" if key == "latency" else f"{key}_cycles_property"]
            if measured != expected:
                errors.append(f"{name}: {key} measured {measured} cycles, property says {expected}")
    save_results({"throughput": figures, "sim_cycles": cycles, "errors": errors})
    assert not errors, f"{len(errors)} failures, first: {errors[0]}"


def _low_after(ready_log, cycle):
    """Number of cycles ``i.ready`` stayed low after the transfer in ``cycle``."""
    count = 0
    for c, ready in ready_log:
        if c <= cycle:
            continue
        if ready:
            break
        count += 1
    return count
