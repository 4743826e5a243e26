"""Parameter sets and traffic settings for the neuron-core testbench.

Layer: ``sim``. Pure Python (no cocotb, no Amaranth), so pytest can import it to build the
design and the cocotb test module can import it to drive it. A *case* is a dict::

    {"name": "c0", "params": {...NeuronCore keyword arguments...}, "traffic": {...}}

:func:`suite_cases` returns a deterministic list of random cases that always covers the
corners the issue asks for (``coef_bits = 2``, clamping at ``M``, membrane saturation, single
threshold, non-power-of-two thresholds via the divider, power-of-two thresholds via the
shifter and forced through the divider, one lane and several lanes, ``readout`` on and off).
"""

from __future__ import annotations

import random

__all__ = ["random_case", "suite_cases", "throughput_cases"]


def _pow2_at_most(rng: random.Random, limit: int) -> int:
    return 1 << rng.randint(0, max(0, limit.bit_length() - 1))


def random_case(rng: random.Random, name: str, *, coef_bits: int, lanes: int, double: bool,
                threshold: str, readout: bool, updates: int, depth: int | None = None,
                pot_bits: int | None = None) -> dict:
    """Return one random case with the given features.

    Parameters
    ----------
    threshold : ``"divider"``, ``"shift"`` or ``"pow2-divider"``
        Non-power-of-two thresholds; power-of-two thresholds on the shifter; power-of-two
        thresholds forced through the divider.
    updates : int
        Approximate number of neuron updates (lane-operations) the traffic should make.
    depth, pot_bits : int or None
        Rows per lane and membrane bits (default: random).
    """
    pot_bits = rng.randint(max(6, coef_bits + 2), 24) if pot_bits is None else pot_bits
    v_max = (1 << (pot_bits - 1)) - 1
    M = (1 << (coef_bits - 1)) - 1
    current_bits = rng.randint(4, pot_bits + 1)
    acc_bits = rng.randint(current_bits, min(62, max(current_bits, pot_bits) + 4))
    depth = rng.choice([1, 2, 3, 5, 8, 13, 16, 24]) if depth is None else depth
    # What a neuron's input typically reaches in a step: a few currents of full scale.
    reach = min(v_max, 4 * ((1 << (current_bits - 1)) - 1))

    def theta():
        # Mostly small enough that a step can clamp at M, else enough to spike at all.
        limit = max(1, reach // (M + 1)) if rng.random() < 0.7 else reach
        if threshold == "divider":
            value = rng.randint(3, max(3, limit))
            return value + 1 if value & (value - 1) == 0 else value
        return _pow2_at_most(rng, limit)

    params = {
        "coef_bits": coef_bits,
        "current_bits": current_bits,
        "pot_bits": pot_bits,
        "acc_bits": acc_bits,
        "theta_p": theta(),
        "theta_n": theta() if double else None,
        "neurons": depth * lanes,
        "lanes": lanes,
        "v_init": 0 if rng.random() < 0.6 else rng.randint(-min(v_max // 2, reach),
                                                           min(v_max // 2, reach)),
        "divider": True if threshold == "pow2-divider" else None,
        "readout": readout,
    }
    traffic = {
        "seed": rng.randrange(1 << 30),
        "updates": updates,
        "beats_per_step": [0, max(1, 3 * depth)],
        "same_row": rng.choice([0.2, 0.5, 0.8]),
        "stall_in": rng.choice([0.0, 0.2, 0.5]),
        "stall_out": rng.choice([0.0, 0.3, 0.7]),
        "clear": 0.08,
    }
    return {"name": name, "params": params, "traffic": traffic}


def suite_cases(*, seed: int = 2024, count: int = 24, updates: int = 150_000) -> list[dict]:
    """Return ``count`` random cases (>= 12) sharing about ``updates`` neuron updates, and one
    with banked membranes."""
    if count < 12:
        raise ValueError(f"The suite needs at least 12 cases to cover its corners, not {count!r}")
    rng = random.Random(seed)
    # (coef_bits, lanes, double, threshold, readout): the first 12 pin the corners.
    features = [
        (2, 1, True, "divider", True),
        (2, 4, True, "shift", False),
        (2, 1, False, "divider", False),
        (4, 2, True, "divider", False),
        (4, 1, False, "shift", True),
        (6, 4, True, "pow2-divider", True),
        (8, 1, True, "divider", False),
        (8, 8, False, "divider", True),
        (3, 2, True, "shift", True),
        (5, 1, True, "divider", True),
        (16, 2, True, "divider", False),
        (12, 1, False, "pow2-divider", False),
    ]
    while len(features) < count:
        features.append((
            rng.choice([2, 2, 3, 4, 5, 6, 7, 8, 10, 16]),
            rng.choice([1, 1, 2, 4, 8]),
            rng.random() < 0.7,
            rng.choice(["divider", "divider", "shift", "pow2-divider"]),
            rng.random() < 0.5,
        ))
    per_case = -(-updates // count)
    cases = [random_case(rng, f"c{n}", coef_bits=c, lanes=l, double=d, threshold=t, readout=r,
                         updates=per_case)
             for n, (c, l, d, t, r) in enumerate(features)]
    # One core deeper than an ECP5 block RAM holds (1100 rows of 25 bits or more): its
    # membranes are explicit banks (hw/banked.py).
    cases.append(random_case(rng, "banked", coef_bits=8, lanes=2, double=True,
                             threshold="divider", readout=False, updates=4 * per_case,
                             depth=1100, pot_bits=24))
    return cases


def throughput_cases() -> list[dict]:
    """Return the fixed cases the throughput test measures (1 and 4 lanes, no stalls)."""
    cases = []
    for name, lanes, divider in (("t0", 1, True), ("t1", 4, True), ("t2", 4, False)):
        cases.append({
            "name": name,
            "params": {
                "coef_bits": 4, "current_bits": 12, "pot_bits": 16, "acc_bits": 16,
                "theta_p": 37 if divider else 32, "theta_n": 45 if divider else 64,
                "neurons": 32 * lanes, "lanes": lanes, "v_init": 0, "divider": None,
                "readout": False,
            },
            "traffic": {"seed": 7 + lanes},
        })
    return cases
