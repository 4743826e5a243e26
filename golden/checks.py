"""Parameter checks and bit widths shared by every layer of augsnn.

Layer: ``golden`` (plain Python, imported by ``golden``, ``hw``, ``sim`` and ``boards``). One
definition each of the integer/bool checks (messages that show the bad value, TypeError for
a wrong type, ValueError for a wrong value) and of the two width rules every plan and
generator sizes its signals with.
"""

from __future__ import annotations

import numbers

__all__ = ["check_int", "check_bool", "signed_bits", "unsigned_bits"]


def check_int(what: str, value, minimum: int | None = None, maximum: int | None = None) -> int:
    """Return ``value`` as an ``int`` if it is an integer in ``[minimum, maximum]``.

    Any integral type is accepted (NumPy integers from a model file too), but not ``bool``.

    Raises
    ------
    TypeError
        ``value`` is not an integer: "``<what> must be an integer, not <value>``".
    ValueError
        ``value`` is out of range; the message names both bounds that apply.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{what} must be an integer, not {value!r}")
    value = int(value)
    low = minimum is not None and value < minimum
    high = maximum is not None and value > maximum
    if low or high:
        if maximum is None:
            raise ValueError(f"{what} must be an integer >= {minimum}, not {value!r}")
        if minimum is None:
            raise ValueError(f"{what} must be an integer <= {maximum}, not {value!r}")
        raise ValueError(
            f"{what} must be an integer between {minimum} and {maximum}, not {value!r}")
    return value


def check_bool(what: str, value) -> bool:
    """Return ``value`` if it is a ``bool``; raise ``TypeError`` naming it otherwise."""
    if not isinstance(value, bool):
        raise TypeError(f"{what} must be a bool, not {value!r}")
    return value


def signed_bits(magnitude: int) -> int:
    """Signed width that holds every integer in ``[-magnitude, magnitude]``."""
    return int(magnitude).bit_length() + 1


def unsigned_bits(maximum: int) -> int:
    """Unsigned width that holds ``0 .. maximum`` (at least 1).

    The index of ``count`` entries is ``unsigned_bits(count - 1)`` wide.
    """
    return max(1, int(maximum).bit_length())
