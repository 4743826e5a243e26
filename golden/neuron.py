"""The integer augmented integrate-and-fire neuron (SPEC §3), exactly.

This module is the arithmetic reference for everything else: the whole-network golden model
(:mod:`augsnn.golden.network`) and the RTL scoreboards call :func:`integrate` and
:func:`fire` and nothing else. NumPy only; all state is ``int64``.

Per time step, for every neuron:

1. ``V = sat(V + I)``: the step's whole input ``I`` is added exactly, then ``V`` is clipped
   once to ``[-2**(pot_bits-1), 2**(pot_bits-1) - 1]``.
2. if ``V >= theta_p``: ``o = min(M, V // theta_p)``, ``V -= o * theta_p``;
   elif double threshold and ``V <= -theta_n``: ``o = -min(M, (-V) // theta_n)``,
   ``V += (-o) * theta_n``; else ``o = 0``. ``M = 2**(coef_bits-1) - 1``; the excess above
   ``M`` stays in ``V``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["NeuronParams", "integrate", "fire", "step", "simulate", "run", "state_dtype",
           "constant_current_spikes"]


def _check_int(name: str, value, minimum: int | None = None) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, not {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, not {value!r}")
    return value


@dataclass(frozen=True)
class NeuronParams:
    """Integer parameters of one layer of augmented neurons.

    Parameters
    ----------
    theta_p : int
        Positive threshold, ``> 0``.
    theta_n : int or None
        Magnitude of the negative threshold (the neuron fires negative at ``V <= -theta_n``),
        ``> 0``; ``None`` for a single-threshold neuron that never fires negative.
    coef_bits : int
        Width of the signed spike coefficient, ``>= 2``; ``M = 2**(coef_bits-1) - 1``.
        ``coef_bits = 2`` is the ternary TerMapping neuron.
    pot_bits : int
        Width of the signed membrane potential, ``>= 2``; saturation bounds follow from it.
    v_init : int
        Membrane potential at the start of every image, within the membrane range.

    Raises
    ------
    TypeError
        A parameter is not an integer.
    ValueError
        A parameter is out of range.
    """

    theta_p: int
    theta_n: int | None
    coef_bits: int
    pot_bits: int
    v_init: int = 0

    def __post_init__(self):
        set_ = object.__setattr__
        set_(self, "theta_p", _check_int("theta_p", self.theta_p, 1))
        if self.theta_n is not None:
            set_(self, "theta_n", _check_int("theta_n", self.theta_n, 1))
        set_(self, "coef_bits", _check_int("coef_bits", self.coef_bits, 2))
        set_(self, "pot_bits", _check_int("pot_bits", self.pot_bits, 2))
        if self.pot_bits > 62:
            raise ValueError(f"pot_bits must be <= 62 (int64 golden model), not {self.pot_bits!r}")
        set_(self, "v_init", _check_int("v_init", self.v_init))
        if not self.v_min <= self.v_init <= self.v_max:
            raise ValueError(
                f"v_init must lie in [{self.v_min}, {self.v_max}] for pot_bits={self.pot_bits}, "
                f"not {self.v_init!r}")

    @property
    def M(self) -> int:
        """Largest spike coefficient magnitude, ``2**(coef_bits-1) - 1``."""
        return (1 << (self.coef_bits - 1)) - 1

    @property
    def v_min(self) -> int:
        return -(1 << (self.pot_bits - 1))

    @property
    def v_max(self) -> int:
        return (1 << (self.pot_bits - 1)) - 1

    @property
    def double(self) -> bool:
        """Whether the neuron has a negative threshold."""
        return self.theta_n is not None


def integrate(v: np.ndarray, current, params: NeuronParams) -> np.ndarray:
    """Return ``sat(v + current)``: the step's whole input added exactly, clipped once."""
    v = np.asarray(v, dtype=np.int64)
    return np.clip(v + np.asarray(current, dtype=np.int64), params.v_min, params.v_max)


def fire(v: np.ndarray, params: NeuronParams) -> tuple[np.ndarray, np.ndarray]:
    """Fire augmented spikes from membrane ``v``; return ``(o, v_after_reset)`` (int64)."""
    v = np.asarray(v, dtype=np.int64)
    M = params.M
    # q = min(M, V // theta_p) where V >= theta_p, else 0 (V // theta_p <= 0 there).
    q = np.clip(v // params.theta_p, 0, M)
    if params.theta_n is None:
        return q, v - q * params.theta_p
    # Both thresholds are >= 1, so at most one of q, qn is non-zero.
    qn = np.clip((-v) // params.theta_n, 0, M)
    return q - qn, v - q * params.theta_p + qn * params.theta_n


def step(v: np.ndarray, current, params: NeuronParams) -> tuple[np.ndarray, np.ndarray]:
    """Integrate one step's total input, then fire; return ``(o, v)``."""
    return fire(integrate(v, current, params), params)


def simulate(currents, params: NeuronParams) -> tuple[np.ndarray, np.ndarray]:
    """Run neurons over a sequence of per-step total inputs.

    Parameters
    ----------
    currents : array of shape ``(T, ...)``
        The total input of each step for each neuron.

    Returns
    -------
    spikes, potentials : int64 arrays of shape ``(T, ...)``
        The coefficient fired and the membrane after the reset, per step.
    """
    currents = np.asarray(currents, dtype=np.int64)
    v = np.full(currents.shape[1:], params.v_init, dtype=np.int64)
    spikes = np.empty_like(currents)
    pots = np.empty_like(currents)
    for t in range(currents.shape[0]):
        spikes[t], v = step(v, currents[t], params)
        pots[t] = v
    return spikes, pots


# ---------------------------------------------------------------------------------------------
# Fast kernels over many steps (used by :mod:`augsnn.golden.network`). They compute exactly
# what ``step`` computes, step after step, with narrow integer state and no temporaries per
# step; tests/test_golden_fast.py compares them with ``step``.

def state_dtype(params: NeuronParams, current_bound: int):
    """The narrowest of int32/int64 that holds ``V``, ``V + I`` and every product in :func:`run`."""
    if (1 << (params.pot_bits - 1)) + int(current_bound) < 2 ** 31:
        return np.int32
    return np.int64


def run(v: np.ndarray, currents: np.ndarray, params: NeuronParams, out: np.ndarray, *,
        membrane: bool = False, block: int = 1 << 16) -> None:
    """Run ``len(currents)`` steps in place: ``v`` is updated, ``out[t]`` gets step t's result.

    Exactly ``o, v = step(v, currents[t], params)`` for every t (``out[t] = o``), or with
    ``membrane=True`` ``v = integrate(v, currents[t], params)`` and ``out[t] = v``.

    Parameters
    ----------
    v : int32 or int64 array, contiguous
        Membrane potentials, of a dtype from :func:`state_dtype` for the layer's current bound.
    currents : array (T,) + v.shape, or v.shape (a constant current every step)
        Integer currents, castable to ``v``'s dtype without loss.
    out : integer array (T,) + v.shape
        Wide enough for the coefficients (or for ``V`` with ``membrane=True``).
    block : int
        Neurons processed together over all T steps (cache-sized).
    """
    T = out.shape[0]
    const = currents.shape == v.shape
    vf = v.reshape(-1)
    n = vf.size
    cur = currents.reshape(-1) if const else currents.reshape(T, -1)
    of = out.reshape(T, -1)
    dt = v.dtype
    lo, hi = params.v_min, params.v_max
    tp, tn, M = params.theta_p, params.theta_n, params.M
    for s in range(0, n, block):
        e = min(n, s + block)
        vb = vf[s:e]
        q = np.empty(e - s, dtype=dt)
        qn = np.empty(e - s, dtype=dt) if tn is not None else None
        cb = np.ascontiguousarray(cur[s:e], dtype=dt) if const else None
        for t in range(T):
            np.add(vb, cb if const else cur[t, s:e], out=vb, casting="unsafe")
            np.clip(vb, lo, hi, out=vb)
            if membrane:
                of[t, s:e] = vb
                continue
            np.floor_divide(vb, tp, out=q)
            np.clip(q, 0, M, out=q)
            if tn is None:
                of[t, s:e] = q
                np.multiply(q, tp, out=q)
                np.subtract(vb, q, out=vb)
                continue
            np.multiply(q, tp, out=qn)
            np.subtract(vb, qn, out=vb)
            np.negative(vb, out=qn)
            np.floor_divide(qn, tn, out=qn)
            np.clip(qn, 0, M, out=qn)
            np.subtract(q, qn, out=of[t, s:e], casting="unsafe")
            np.multiply(qn, tn, out=qn)
            np.add(vb, qn, out=vb)


def constant_current_spikes(current: np.ndarray, params: NeuronParams, t0: int, T: int,
                            out: np.ndarray) -> np.ndarray:
    """Spikes of steps ``t0 .. t0+T-1`` of neurons that get the same ``current`` every step.

    From ``V = v_init`` at step 0, a neuron with a constant current ``I`` fires in closed
    form as long as it never reaches ``M`` or the membrane bounds: with
    ``A_t = v_init + (t+1) I``, the coefficients fired in steps ``0..t`` sum to
    ``max(0, A_t // theta_p) - max(0, (-A_t) // theta_n)`` (one of the two is 0). Writes the
    coefficients into ``out`` (shape ``(T,) + current.shape``) where that holds and returns
    the boolean mask of the neurons where it does not (the caller runs :func:`run` for them).
    """
    I = np.asarray(current, dtype=np.int64)
    v0, tp, tn, M = params.v_init, params.theta_p, params.theta_n, params.M
    pos = I >= 0
    hi = max(v0, tp - 1) + I
    ok_pos = (hi <= params.v_max) & (hi // tp <= M)
    if tn is not None:
        ok_pos &= v0 > -tn
        lo = min(v0, -(tn - 1)) + I
        ok_neg = (v0 < tp) & (lo >= params.v_min) & ((-lo) // tn <= M)
    else:
        ok_neg = np.full(I.shape, v0 < tp)
    bad = np.where(pos, ~ok_pos, ~ok_neg)
    reach = abs(v0) + (t0 + T + 1) * int(np.abs(I).max(initial=0))
    dt = np.int32 if reach < 2 ** 31 else np.int64
    If = I.astype(dt).reshape(-1)
    acc = (v0 + t0 * I).astype(dt).reshape(-1)  # A_{t0-1}
    prev = _cum(acc, tp, tn) if t0 else np.zeros_like(acc)  # nothing fired before step 0
    of = out.reshape(T, -1)
    for t in range(T):
        np.add(acc, If, out=acc)
        cum = _cum(acc, tp, tn)
        np.subtract(cum, prev, out=of[t], casting="unsafe")
        prev = cum
    return bad


def _cum(a: np.ndarray, tp: int, tn: int | None) -> np.ndarray:
    c = np.floor_divide(a, tp)
    np.clip(c, 0, None, out=c)
    if tn is not None:
        d = np.negative(a)
        np.floor_divide(d, tn, out=d)
        np.clip(d, 0, None, out=d)
        np.subtract(c, d, out=c)
    return c
