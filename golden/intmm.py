"""Optional exact int8 matrix products (torch's ``_int_mm``) for the golden model's currents.

A current is a dot product of integers; when a layer's weights and its input values all fit
in ``int8`` and the sums in ``int32``, torch's int8 product (``int32`` accumulation, VNNI on
CPUs that have it) computes it exactly and several times faster than a float32 BLAS product.
NumPy stays the reference and the default path: this back end is used only

- when torch is installed and has ``torch._int_mm``;
- when a self-test on extreme and random int8 matrices (all ``-128``/``127``, the sums that
  would saturate an ``int16`` pair product, odd shapes) returns exactly the ``int64`` NumPy
  products on this machine, so a CPU kernel that is not exact is never used;
- when torch is already imported, or the run has enough work to pay for importing it
  (:data:`MIN_MACS`); ``MODE`` forces it on (``"on"``: used wherever possible, for the tests)
  or off (``"off"``).

The caller (:mod:`augsnn.golden.network`) checks every operand's range; results never depend
on the back end (tests/test_golden_fast.py runs both against the integer reference).
"""

from __future__ import annotations

import sys
import threading

import numpy as np

__all__ = ["MODE", "MIN_MACS", "backend", "matmul", "fits"]

MODE = "auto"  # "auto", "on" or "off"
MIN_MACS = 4e10  # multiply-adds of a run past which importing torch (about 2 s) pays off
_ACC = 2 ** 31 // 256  # max_o sum_j |w_oj| below this: int32 sums exact even for inputs
#                       shifted by 128 (the unsigned-times-signed kernels do that)
_lock = threading.Lock()
_torch = None  # None: not tried yet; False: unusable here; else the torch module


def fits(weight_abs_rowsum_max: int, w_min: int, w_max: int) -> bool:
    """Whether a layer's int weights fit int8 and its sums fit int32 with margin."""
    return -128 <= w_min and w_max <= 127 and weight_abs_rowsum_max < _ACC


def backend(macs: float):
    """The torch module when int8 products should run for ``macs`` multiply-adds, else None."""
    if MODE == "off":
        return None
    if MODE != "on" and "torch" not in sys.modules and macs < MIN_MACS:
        return None
    return _load()


def _load():
    global _torch
    with _lock:
        if _torch is None:
            try:
                import torch
                _torch = torch if hasattr(torch, "_int_mm") and _selftest(torch) else False
            except Exception:  # noqa: BLE001 - any failure: the NumPy path runs
                _torch = False
    return _torch or None


def _selftest(torch) -> bool:
    rng = np.random.default_rng(12345)
    cases = []
    for m, k, n in ((1, 1, 1), (3, 7, 5), (37, 300, 64), (129, 1200, 10), (64, 2049, 33)):
        for fill in ("max", "min", "mixed", "random"):
            if fill == "max":
                a, b = np.full((m, k), 127), np.full((k, n), 127)
            elif fill == "min":
                a, b = np.full((m, k), -128), np.full((k, n), -128)
            elif fill == "mixed":  # adjacent products of one sign at the int16 limit
                a = np.where(np.arange(k) % 2 == 0, 127, -128)[None].repeat(m, 0)
                b = np.where(np.arange(k) % 2 == 0, 127, -128)[:, None].repeat(n, 1)
            else:
                a, b = rng.integers(-128, 128, (m, k)), rng.integers(-128, 128, (k, n))
            cases.append((a.astype(np.int8), b.astype(np.int8)))
    for a, b in cases:
        got = torch._int_mm(torch.from_numpy(a), torch.from_numpy(b)).numpy()
        if got.dtype != np.int32 or not np.array_equal(
                got, a.astype(np.int64) @ b.astype(np.int64)):
            return False
    return True


def matmul(torch, a: np.ndarray, w, out: np.ndarray) -> None:
    """``out = a @ w`` exactly: ``a`` int8 (M, K) C-contiguous, ``w`` an int8 torch tensor
    (K, N), ``out`` a C-contiguous int32 (M, N) array."""
    torch._int_mm(torch.from_numpy(a), w, out=torch.from_numpy(out))
