"""Baud-rate tolerance of the UART receiver (Amaranth simulator), for docs/formal.md.

Usage::

    python bench/uart_tolerance.py                 # divisors 4, 8, 16, 30, 75

For each divisor, the largest baud-rate error (in whole percent, each sign) at which 16
frames sent back to back (0x00, 0xFF, 0x55, 0xAA, 0x01, 0x80 and random bytes) all arrive
with no framing error, at three sampling phases. The line model is the one of
``tests/test_uart_robust.py``.
"""

import argparse
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from test_uart_robust import frame, receive, sample  # noqa: E402


def tolerance(divisor: int, data, sign: int, limit: int = 10) -> int:
    best = 0
    for pct in range(1, limit + 1):
        bit = divisor * (1 + sign * pct / 100)
        for phase in (0.0, 0.5, 0.99):
            segments = [(1, 3 * divisor)] + [s for b in data for s in frame(b, bit)]
            if receive(divisor, sample(segments, phase)) != (list(data), [], []):
                return best
        best = pct
    return best


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--divisors", default="4,8,16,30,75")
    args = p.parse_args(argv)
    rng = random.Random(1)
    data = [0x00, 0xFF, 0x55, 0xAA, 0x01, 0x80] + [rng.randrange(256) for _ in range(10)]
    for divisor in (int(d) for d in args.divisors.split(",")):
        slow, fast = tolerance(divisor, data, +1), tolerance(divisor, data, -1)
        print(f"divisor {divisor:>3}: bits up to {fast}% short and {slow}% long", flush=True)


if __name__ == "__main__":
    main()
