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

__all__ = ["NeuronParams", "integrate", "fire", "step", "simulate"]


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
