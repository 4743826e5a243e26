"""Read a counterexample trace of the formal checks and replay it on a core in simulation.

Layer: ``sim`` (docs/formal.md). :func:`read_vcd` returns the per-step values of top-level
signals of a Yosys-SMTBMC VCD; :func:`replay_core` drives a :class:`NeuronCore` (or a
mutant) with a trace's inputs in the Amaranth simulator and returns what it accepted and
emitted; :func:`golden_beats` says what the output should have been (docs/golden-model.md,
computed with :mod:`augsnn.golden.neuron`). Together they show that a counterexample is
real: the same inputs make the real core agree with the golden model and the mutant disagree.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["read_vcd", "replay_core", "golden_beats"]


def read_vcd(path, names) -> dict:
    """Values of the top-level signals ``names`` at each step (time ``10 * step``)."""
    ids, depth, times = {}, 0, []
    current = {}
    now = None
    with open(Path(path)) as f:
        for line in f:
            tok = line.split()
            if not tok:
                continue
            if tok[0] == "$scope":
                depth += 1
            elif tok[0] == "$upscope":
                depth -= 1
            elif tok[0] == "$var" and depth == 1 and tok[4] in names:
                ids[tok[3]] = tok[4]
            elif tok[0].startswith("#"):
                if now is not None and now % 10 == 0:
                    times.append(dict(current))
                now = int(tok[0][1:])
            elif tok[0].startswith("b") and len(tok) == 2 and tok[1] in ids:
                current[ids[tok[1]]] = int(tok[0][1:].replace("x", "0"), 2)
            elif tok[0][0] in "01x" and tok[0][1:] in ids:
                current[ids[tok[0][1:]]] = int(tok[0][0].replace("x", "0"))
    if now is not None and now % 10 == 0:
        times.append(dict(current))
    missing = [n for n in names if n not in ids.values()]
    if missing:
        raise ValueError(f"{path}: no top-level signal {missing[0]!r} in the trace")
    return {n: [t.get(n, 0) for t in times] for n in names}


def replay_core(core, i_valid, i_payload, o_ready):
    """Drive ``core`` cycle by cycle; return ``(accepted commands, popped output beats)``.

    Both as unpacked dicts (:func:`augsnn.sim.streams.unpack`).
    """
    from amaranth.sim import Simulator

    from .streams import unpack

    in_shape, out_shape = core.i.payload.shape(), core.o.payload.shape()
    accepted, popped = [], []

    async def bench(ctx):
        for valid, payload, ready in zip(i_valid, i_payload, o_ready):
            ctx.set(core.i.valid, valid)
            ctx.set(core.i.payload.as_value(), payload)
            ctx.set(core.o.ready, ready)
            if ctx.get(core.i.valid) and ctx.get(core.i.ready):
                accepted.append(unpack(in_shape, payload))
            if ctx.get(core.o.valid) and ready:
                popped.append(unpack(out_shape, ctx.get(core.o.payload.as_value())))
            await ctx.tick()

    sim = Simulator(core)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return accepted, popped


def golden_beats(core, accepted) -> list:
    """The output beats the neuron rule (docs/golden-model.md) gives for ``accepted`` commands."""
    from augsnn.golden.neuron import NeuronParams, fire, integrate

    from augsnn.hw.neuron_core import Op

    p = NeuronParams(theta_p=core.theta_p, theta_n=core.theta_n, coef_bits=core.coef_bits,
                     pot_bits=core.pot_bits, v_init=core.v_init)
    L = core.lanes
    v = np.full(core.neurons, core.v_init, dtype=np.int64)
    current = np.zeros(core.neurons, dtype=np.int64)
    beats = []
    for cmd in accepted:
        op = int(cmd["op"].value if isinstance(cmd["op"], Op) else cmd["op"])
        if op == Op.INTEGRATE.value:
            for k in range(L):
                current[cmd["row"] * L + k] += cmd["current"][k]
        elif op == Op.FIRE.value:
            o, v = fire(integrate(v, current, p), p)
            current[:] = 0
            for row in range(core.depth):
                coefs = [int(x) for x in o[row * L:(row + 1) * L]]
                if core.readout or any(coefs):
                    beat = {"index": row * L, "coef": coefs, "done": 0}
                    if core.readout:
                        beat["v"] = [int(x) for x in v[row * L:(row + 1) * L]]
                    beats.append(beat)
            beat = {"index": 0, "coef": [0] * L, "done": 1}
            if core.readout:
                beat["v"] = [0] * L
            beats.append(beat)
        elif op == Op.CLEAR.value:
            v[:] = core.v_init
            current[:] = 0
        # (op 3 is reserved: the core accepts and ignores it)
    return beats
