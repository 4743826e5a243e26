"""The integer neuron (docs/golden-model.md): hand-worked cases and random-input invariants."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from augsnn.golden.neuron import NeuronParams, fire, integrate, simulate, step


def P(theta_p=3, theta_n=5, coef_bits=3, pot_bits=8, v_init=0):
    return NeuronParams(theta_p, theta_n, coef_bits, pot_bits, v_init)


@pytest.mark.parametrize("v, current, params, o, v_after", [
    # positive: 10 // 3 = 3 <= M = 3, remainder 1 stays
    (0, 10, P(), 3, 1),
    # below both thresholds: nothing fires, V keeps the charge
    (0, 2, P(), 0, 2),
    (0, -4, P(), 0, -4),
    # exactly at the thresholds
    (0, 3, P(), 1, 0),
    (0, -5, P(), -1, 0),
    # negative: (-(-11)) // 5 = 2, V = -11 + 2*5 = -1
    (0, -11, P(), -2, -1),
    # clamp at M = 3; the excess stays in V: 100 - 3*3 = 91
    (0, 100, P(), 3, 91),
    (0, -100, P(), -3, -85),
    # membrane saturation once per step: 0 + 200 -> 127, then 127 - 9 = 118
    (0, 200, P(), 3, 118),
    (0, -200, P(), -3, -113),
    (120, 100, P(), 3, 118),
    # integration adds to the previous V before firing
    (2, 2, P(), 1, 1),
    (-3, -3, P(), -1, -1),
    # single threshold: never fires negative, V just goes down (and saturates)
    (0, -11, P(theta_n=None), 0, -11),
    (-100, -100, P(theta_n=None), 0, -128),
    (0, 10, P(theta_n=None), 3, 1),
    # coef_bits = 2 (M = 1): the ternary TerMapping neuron
    (0, 10, P(coef_bits=2), 1, 7),
    (0, -11, P(coef_bits=2), -1, -6),
    (0, 2, P(coef_bits=2), 0, 2),
    # classic IF (single threshold, M = 1)
    (0, 7, P(theta_n=None, coef_bits=2), 1, 4),
])
def test_hand_worked(v, current, params, o, v_after):
    got_o, got_v = step(np.int64(v), current, params)
    assert (int(got_o), int(got_v)) == (o, v_after)


def test_sequence_over_steps():
    # theta_p = 4, theta_n = 8, M = 7: a constant input of 6 fires 1,2,1,2,... and a
    # constant input of -3 fires -1 every third-ish step.
    p = NeuronParams(4, 8, 4, 16)
    spikes, pots = simulate([[6, -3]] * 6, p)
    assert spikes[:, 0].tolist() == [1, 2, 1, 2, 1, 2]
    assert pots[:, 0].tolist() == [2, 0, 2, 0, 2, 0]
    assert spikes[:, 1].tolist() == [0, 0, -1, 0, 0, -1]
    assert pots[:, 1].tolist() == [-3, -6, -1, -4, -7, -2]


def test_v_init_is_the_starting_membrane():
    spikes, _ = simulate([[1]], NeuronParams(4, None, 2, 8, v_init=3))
    assert spikes.tolist() == [[1]]


@pytest.mark.parametrize("kwargs, exc, msg", [
    (dict(theta_p=0), ValueError, r"^theta_p must be an integer >= 1, not 0$"),
    (dict(theta_n=0), ValueError, r"^theta_n must be an integer >= 1, not 0$"),
    (dict(coef_bits=1), ValueError, r"^coef_bits must be an integer >= 2, not 1$"),
    (dict(pot_bits=63), ValueError, r"^pot_bits must be <= 62 \(int64 golden model\), not 63$"),
    (dict(theta_p=1.5), TypeError, r"^theta_p must be an integer, not 1\.5$"),
    (dict(coef_bits=True), TypeError, r"^coef_bits must be an integer, not True$"),
    (dict(v_init=128), ValueError, r"^v_init must lie in \[-128, 127\] for pot_bits=8, not 128$"),
])
def test_bad_parameters(kwargs, exc, msg):
    with pytest.raises(exc, match=msg):
        P(**kwargs)


def test_M():
    assert [P(coef_bits=c).M for c in (2, 3, 8, 16)] == [1, 3, 127, 32767]


params_st = st.builds(
    NeuronParams,
    theta_p=st.integers(1, 300),
    theta_n=st.one_of(st.none(), st.integers(1, 300)),
    coef_bits=st.integers(2, 10),
    pot_bits=st.integers(12, 40),
)


@settings(max_examples=300, deadline=None)
@given(params=params_st, data=st.data())
def test_charge_conservation(params, data):
    """sum(o * theta) + final V == v_init + total input, when nothing saturates."""
    currents = data.draw(st.lists(st.integers(-2000, 2000), min_size=1, max_size=40))
    spikes, pots = simulate(np.array(currents)[:, None], params)
    # no saturation: V + I never left the membrane range
    prev = np.concatenate([[params.v_init], pots[:-1, 0]])
    unsat = np.all((prev + currents >= params.v_min) & (prev + currents <= params.v_max))
    o = spikes[:, 0]
    charge = np.where(o > 0, o * params.theta_p, 0) - np.where(o < 0, -o * (params.theta_n or 0), 0)
    if unsat:
        assert charge.sum() + pots[-1, 0] == params.v_init + sum(currents)


@settings(max_examples=300, deadline=None)
@given(params=params_st, v=st.integers(-(1 << 40), 1 << 40))
def test_fire_invariants(params, v):
    v = int(np.clip(v, params.v_min, params.v_max))
    o, after = fire(np.int64(v), params)
    o, after = int(o), int(after)
    assert -params.M <= o <= params.M
    if params.theta_n is None:
        assert o >= 0
    if o > 0:
        assert after == v - o * params.theta_p and after >= 0
        assert o == params.M or after < params.theta_p  # only a clamp leaves >= theta_p
    elif o < 0:
        assert after == v - o * params.theta_n and after <= 0
        assert o == -params.M or after > -params.theta_n
    else:
        assert after == v and v < params.theta_p
        assert params.theta_n is None or v > -params.theta_n
    assert params.v_min <= after <= params.v_max


@settings(max_examples=200, deadline=None)
@given(params=params_st, v=st.integers(-(1 << 45), 1 << 45), i=st.integers(-(1 << 45), 1 << 45))
def test_integrate_saturates_never_wraps(params, v, i):
    v = int(np.clip(v, params.v_min, params.v_max))
    got = int(integrate(np.int64(v), np.int64(i), params))
    assert got == min(max(v + i, params.v_min), params.v_max)
