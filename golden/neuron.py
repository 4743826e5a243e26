"""The integer augmented integrate-and-fire neuron (SPEC §3), exactly.

This module is the arithmetic reference for everything else. :func:`integrate`, :func:`fire`
and :func:`step` (``int64``) are the definition, which the RTL scoreboards call; the
whole-network golden model (:mod:`augsnn.golden.network`) runs the same arithmetic fast with
:func:`run` (a layer over many steps, in place, ``int32`` state where the bounds allow) and
:func:`constant_current_spikes` (the closed form of a neuron with a constant input), both
checked against :func:`step` by the tests. NumPy only.

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

try:  # the clip ufunc itself: np.clip's Python wrapper costs more than a block's work
    from numpy._core.umath import clip as _uclip
except ImportError:  # pragma: no cover - numpy < 2
    from numpy.core.umath import clip as _uclip

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
            _uclip(vb, lo, hi, out=vb)
            if membrane:
                of[t, s:e] = vb
                continue
            np.floor_divide(vb, tp, out=q)
            _uclip(q, 0, M, out=q)
            if tn is None:
                of[t, s:e] = q
                np.multiply(q, tp, out=q)
                np.subtract(vb, q, out=vb)
                continue
            np.multiply(q, tp, out=qn)
            np.subtract(vb, qn, out=vb)
            np.floor_divide(vb, -tn, out=qn)  # floor(-V / theta_n), one pass
            _uclip(qn, 0, M, out=qn)
            np.subtract(q, qn, out=of[t, s:e], casting="unsafe")
            np.multiply(qn, tn, out=qn)
            np.add(vb, qn, out=vb)


def constant_current_spikes(current: np.ndarray, params: NeuronParams, t0: int, T: int,
                            out: np.ndarray, *, horizon: int = 0,
                            block: int = 1 << 14) -> np.ndarray:
    """Spikes of steps ``t0 .. t0+T-1`` of neurons that get the same ``current`` every step.

    From ``V = v_init`` at step 0, a neuron with a constant current ``I`` fires in closed
    form as long as it never reaches ``M`` or the membrane bounds: with
    ``A_t = v_init + (t+1) I``, the coefficients fired in steps ``0..t`` sum to
    ``max(0, A_t // theta_p)`` for ``I >= 0`` and ``-max(0, (-A_t) // theta_n)`` for
    ``I < 0`` (0 for a single-threshold neuron). Writes the coefficients into ``out`` (shape
    ``(T,) + current.shape``) where that holds and returns the boolean mask of the neurons
    where it does not (the caller runs :func:`run` for them). ``horizon``: the last step the
    caller will ask for, so that every call over one run reports the same neurons.

    The floors are taken in float64: ``floor(N / theta) == floor((N + 1/2) / theta)`` for an
    integer ``N``, and ``(N + 1/2) / theta`` lies at least ``1/(2 theta)`` from every
    integer, far more than the rounding error of the running sum (at most
    ``t (|v_init| + t |I|) 2**-52 / theta`` after t steps); past ``2**49`` every neuron is
    reported instead.
    """
    I = np.asarray(current, dtype=np.int64)
    v0, tp, tn, M = params.v_init, params.theta_p, params.theta_n, params.M
    end = max(t0 + T, horizon)
    top = max(int(I.max(initial=0)), -int(I.min(initial=0)))
    if end * (abs(v0) + end * top) >= 2 ** 49:
        return np.ones(I.shape, dtype=bool)
    # I >= 0: V stays in [min(v0, 0), max(v0, theta_p - 1) + I]; no cap, no saturation, and
    # no negative spike (V > -theta_n) when I <= i_max. I < 0 mirrors it with i_min.
    i_max = min(params.v_max, (M + 1) * tp - 1) - max(v0, tp - 1)
    if tn is not None and v0 <= -tn:
        i_max = -1
    if tn is None:
        i_min = -(1 << 62) if v0 < tp else 0  # single threshold: never fires for I < 0
    else:
        i_min = max(params.v_min, -((M + 1) * tn - 1)) - min(v0, -(tn - 1)) if v0 < tp else 0
    bad = (I > max(i_max, -1)) | (I < min(i_min, 0))
    If = I.reshape(-1)
    badf = bad.reshape(-1)
    of = out.reshape(T, -1)
    # the running sums of the neurons it reports stay within end * M in magnitude (the other
    # neurons get rate 0 below): the narrowest type for them, the output's when it fits
    cum_type = next(dt for dt in (out.dtype.type, np.int16, np.int32, np.int64)
                    if np.issubdtype(dt, np.signedinteger) and end * M + 1 <= np.iinfo(dt).max)
    for s in range(0, If.size, block):  # everything per cache-sized block of neurons
        e = min(If.size, s + block)
        Ib = If[s:e]
        neg = Ib < 0
        # the signed rate I / theta per step and the signed offset (sgn v0 + 1/2) / theta,
        # theta = theta_p (I >= 0) or theta_n (I < 0); 0 for a single threshold and I < 0
        rate = Ib / tp
        off = np.full(e - s, (v0 + 0.5) / tp)
        if tn is not None:
            np.copyto(rate, Ib / tn, where=neg)
            np.copyto(off, -(0.5 - v0) / tn, where=neg)
        else:
            rate[neg] = 0.0
            off[neg] = 0.0
        rate[badf[s:e]] = 0.0  # the caller runs those: keep their sums small
        if v0 == 0:  # |u| grows from 1/(2 theta): the cast to int (trunc) is sgn * floor(u)
            acc = off + t0 * rate
            prev = np.zeros(e - s, dtype=cum_type)
            if t0:
                np.copyto(prev, acc, casting="unsafe")
            cur = np.empty_like(prev)
            for t in range(T):
                np.add(acc, rate, out=acc)
                np.copyto(cur, acc, casting="unsafe")
                np.subtract(cur, prev, out=of[t, s:e], casting="unsafe")
                prev, cur = cur, prev
            continue
        sgn = np.where(neg, -1.0 if tn is not None else 0.0, 1.0)
        rb = np.abs(rate)
        acc = off * sgn + t0 * rb                # u: unsigned, may start below 0
        prev = np.maximum(np.floor(acc), 0) if t0 else np.zeros_like(acc)
        cur = np.empty_like(acc)
        d = np.empty_like(acc)
        for t in range(T):
            np.add(acc, rb, out=acc)
            np.floor(acc, out=cur)
            np.maximum(cur, 0, out=cur)
            np.subtract(cur, prev, out=d)
            np.multiply(d, sgn, out=of[t, s:e], casting="unsafe")
            prev, cur = cur, prev
    return bad
