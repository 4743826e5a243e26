"""Early exit in the lane accelerator, in amaranth.sim (no Verilator), against the golden model.

A small three-layer network (conv with a channel count its lanes do not divide, sum-pooling,
two dense layers: two event-count queues) runs images with and without an early-exit rule in
the header. Each answer (class, counts, events per layer, steps, cycles) must equal the golden
run cut at its exit step (:func:`augsnn.golden.early_exit.apply`) and every layer's spikes of
the steps run must equal the golden trace. The rules cover the boundary cases: exit at
``t_min``, no exit before ``T_max`` (margin out of reach), margin 0 (no rule), and a tie
between the two leading counts at a step where the rule would otherwise stop.
"""

from __future__ import annotations

import numpy as np
import pytest

from augsnn.golden import early_exit
from augsnn.golden.model import Conv2d, Dense, Flatten, Model, SumPool
from augsnn.golden.network import simulate
from augsnn.golden.neuron import NeuronParams
from augsnn.hw.lanes.accelerator import Accelerator

from accel_amaranth import run_requests   # tests/accel_amaranth.py

T = 6
LANES = (2, 4, 2)


def _model() -> Model:
    rng = np.random.default_rng(5)

    def w(*shape, r=40):
        return rng.integers(-r, r + 1, size=shape).astype(np.int64)

    return Model(name="ee", method="aug", input_shape=(1, 8, 8), layers=[
        Conv2d(w(3, 1, 3, 3), NeuronParams(theta_p=2000, theta_n=3000, coef_bits=3,
                                           pot_bits=20, v_init=0), 8),
        SumPool(2),
        Flatten(),
        Dense(w(6, 27), NeuronParams(theta_p=60, theta_n=90, coef_bits=3, pot_bits=16,
                                     v_init=0), 8),
        Dense(w(4, 6, r=20), NeuronParams(theta_p=30, theta_n=45, coef_bits=3, pot_bits=16,
                                          v_init=0), 8),
    ], meta={"dataset": "mnist"})


def _images(n: int) -> np.ndarray:
    rng = np.random.default_rng(9)
    x = rng.integers(0, 256, size=(n, 1, 8, 8)).astype(np.uint8)
    x[x < 100] = 0
    return x


def _run(model, requests):
    """Each ``(image, rule)`` at ``T``; the answer words and each layer's beats per request."""
    dut = Accelerator(model, lanes=LANES, trace=True, rom_backend="memory")
    answers, beats = run_requests(dut, requests, T)
    return dut.plan, answers, beats


def _spikes(lp, beats, request: int) -> np.ndarray:
    """One request's spikes of layer ``lp`` per step, in the core's neuron layout."""
    out = np.zeros((T + 1, lp.neurons + lp.lanes), dtype=np.int64)
    step = 0
    for n, index, coef, done in beats:
        if n != request:
            continue
        if done:
            step += 1
            continue
        out[step, index:index + lp.lanes] = coef
    return out[:, :lp.neurons], step


def _tie_rule(g, images):
    """A rule whose exit step, for some image, would come earlier but for a tie."""
    counts = np.cumsum(g.out, axis=0)                        # (T, B, classes)
    top2 = -np.sort(-counts, axis=2)[..., :2]
    for b in range(len(images)):
        for t in range(1, T - 1):
            if top2[t, b, 0] == top2[t, b, 1] and top2[t, b, 0] != 0:
                gap_later = top2[t + 1:, b, 0] - top2[t + 1:, b, 1]
                if gap_later.size and gap_later.max() >= 1:
                    return b, early_exit.ExitRule(1, t + 1)
    return None


@pytest.mark.slow
def test_early_exit_matches_golden():
    model = _model()
    x = _images(14)
    g = simulate(model, x, T, trace=True)
    tie = _tie_rule(g, x)
    assert tie is not None, "no image with a tie at some step: change the seeds"
    tie_image, tie_rule = tie
    rules = [None, early_exit.ExitRule(1, 3), early_exit.ExitRule(1, 1),
             early_exit.ExitRule(10 ** 4, 2), early_exit.ExitRule(3, 2)]
    requests = [(x[b], rules[b % len(rules)]) for b in range(len(x))]
    requests.append((x[tie_image], tie_rule))
    plan, answers, beats = _run(model, requests)
    C, L = plan.n_classes, len(plan.layers)
    seen = {"t_min": 0, "t_max": 0, "between": 0}
    for n, ((image, rule), words) in enumerate(zip(requests, answers)):
        b = n if n < len(x) else tie_image
        steps = np.full(1, T) if rule is None else early_exit.exit_steps(g.out[:, b:b + 1], rule)
        u = int(steps[0])
        if rule is not None:
            r = early_exit.apply(g, rule)
            pred, counts, events = int(r.pred[b]), r.counts[b].tolist(), r.events[:, b].tolist()
            seen["t_min" if u == rule.t_min else "t_max" if u == T else "between"] += 1
        else:
            pred, counts, events = int(g.pred[b]), g.counts[b].tolist(), \
                g.events[:, :, b].sum(axis=1).tolist()
        got_counts = [w - (1 << 32) if w >= 1 << 31 else w for w in words[1:1 + C]]
        assert (words[0], got_counts, words[1 + C:1 + C + L], words[1 + C + L]) == \
            (pred, counts, events, u), f"request {n} (image {b}, rule {rule})"
        for l, lp in enumerate(plan.layers):
            spikes, ended = _spikes(lp, beats[l], n)
            assert ended >= u                                   # earlier layers may run ahead
            got = spikes[:u][:, lp.neuron_index()]
            np.testing.assert_array_equal(got, g.trace[l][:u, b], err_msg=f"request {n}, layer {l}")
    # The tie: its image ran past the step of the tie (the rule's margin 1 was otherwise met).
    tie_steps = answers[-1][1 + C + L]
    assert tie_steps > tie_rule.t_min
    assert seen["t_min"] and seen["t_max"] and seen["between"], seen
    # Without a rule every image runs T steps.
    assert all(words[1 + C + L] == T for (_, rule), words in zip(requests, answers) if rule is None)


@pytest.mark.slow
def test_early_exit_is_faster():
    """An image that stops early takes fewer cycles than the same image run to T."""
    model = _model()
    x = _images(1)
    g = simulate(model, x, T, trace=True)
    rule = early_exit.ExitRule(1, 1)
    if int(early_exit.exit_steps(g.out, rule)[0]) == T:
        pytest.fail("the image does not exit early under margin 1: change the seeds")
    _, answers, _ = _run(model, [(x[0], None), (x[0], rule), (x[0], None)])
    plan = Accelerator(model, lanes=LANES).plan
    full, short, again = (a[-1] for a in answers)
    assert short < full
    # After an abort FirstLayer zeroes its current (one row per cycle) while the next frame
    # comes in; the image is otherwise run as before.
    assert full <= again <= full + plan.layers[0].rows
