"""Early exit (golden/early_exit.py): the rule's boundary cases and exactness against short runs."""

from __future__ import annotations

import numpy as np
import pytest

from augsnn.golden.early_exit import ExitRule, apply, exit_steps
from augsnn.golden.modelfile import load
from augsnn.golden.network import simulate


def _out(per_step):
    """(T, B=1, classes) from a list of per-step output coefficient rows."""
    return np.asarray(per_step, dtype=np.int64)[:, None, :]


def test_margin_boundary_and_t_min():
    out = _out([[2, 0, 0], [1, 0, 1], [0, 0, 0], [1, 0, 0]])   # margins 2, 2, 2, 3
    assert exit_steps(out, ExitRule(2)) == [1]                 # exactly the margin exits
    assert exit_steps(out, ExitRule(3)) == [4]
    assert exit_steps(out, ExitRule(2, t_min=3)) == [3]        # held until t_min
    assert exit_steps(out, ExitRule(4)) == [4]                 # never decided: runs to T


def test_a_tie_never_exits():
    out = _out([[1, 1, 0], [0, 0, 0], [2, 2, -5]])             # leader and runner-up tied
    assert exit_steps(out, ExitRule(1)) == [3]


def test_negative_counts_and_lowest_index_leader():
    out = _out([[-3, -1, -1], [0, 0, 2]])
    assert exit_steps(out, ExitRule(1)) == [2]                 # step 1: -1 vs -1 is a tie


def test_rule_validation():
    with pytest.raises(ValueError, match=r"^early-exit margin must be an integer >= 1, not 0$"):
        ExitRule(0)
    with pytest.raises(ValueError, match=r"^early-exit t_min must be an integer >= 1, not 0$"):
        ExitRule(2, 0)
    with pytest.raises(ValueError, match=r"^early exit must be MARGIN or MARGIN,T_MIN \(integers\)"
                                         r", not '2,x'$"):
        ExitRule.parse("2,x")
    assert ExitRule.parse("3,2") == ExitRule(3, 2)


@pytest.mark.mnist
def test_cut_run_equals_runs_of_the_exit_length():
    """Cutting a T-step run at an image's exit step is what a run of that many steps gives."""
    from augsnn.golden.datasets import load_mnist
    model = load("net2-aug")
    x, _ = load_mnist("test")
    x = x[:24]
    T = 8
    full = simulate(model, x, T)
    res = apply(full, ExitRule(3, t_min=2))
    assert 1 < res.steps.min() and res.steps.max() <= T
    assert len(set(res.steps.tolist())) > 1, "the rule must stop images at different steps"
    for steps in sorted(set(res.steps.tolist())):
        idx = np.flatnonzero(res.steps == steps)
        short = simulate(model, x[idx], steps)
        assert np.array_equal(short.pred, res.pred[idx])
        assert np.array_equal(short.counts, res.counts[idx])
        assert np.array_equal(short.events.sum(axis=1), res.events[:, idx])
        assert np.array_equal(short.synops.sum(axis=1), res.synops[:, idx])
