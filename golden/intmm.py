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

__all__ = ["MODE", "MIN_MACS", "backend", "matmul", "fits", "weights"]

MODE = "auto"  # "auto", "on" or "off"
# multiply-adds of a run past which importing torch (about 2 s) pays off: int8 products save
# about 6e-12 s per multiply-add over float32 BLAS on the 2-core development machine
MIN_MACS = 2e11
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
    for m, k, n in ((1, 1, 1), (3, 7, 5), (37, 300, 64), (129, 1200, 10), (64, 2049, 33),
                    (100, 1728, 1), (1, 300, 64), (9000, 60, 8)):
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
        # size-1 axes with a stride of 0, as numpy makes them ([:, None]): the wrapper fixes
        # them (the kernel reads them: a weight column with stride 0 gives wrong sums)
        a = np.ascontiguousarray(a.reshape(-1)[:, None].reshape(a.shape)) if a.shape[0] == 1 \
            else a
        b0 = np.ascontiguousarray(b[:, 0][:, None]) if b.shape[1] == 1 else b
        got = np.empty((a.shape[0], b.shape[1]), dtype=np.int32)
        matmul(torch, a, weights(torch, b0), got)
        if not np.array_equal(got, a.astype(np.int64) @ b.astype(np.int64)):
            return False
    return True


def _canonical(torch, t):
    """``t`` (C-contiguous data) with the canonical strides of its shape."""
    want, step = [], 1
    for d in reversed(t.shape):
        want.append(step)
        step *= d
    want = tuple(reversed(want))
    return t if tuple(t.stride()) == want else t.as_strided(t.shape, want)


def weights(torch, w: np.ndarray):
    """An int8 (K, N) weight matrix as a torch tensor of its own (canonical strides)."""
    t = torch.empty(w.shape, dtype=torch.int8)
    t.copy_(torch.from_numpy(np.ascontiguousarray(w, dtype=np.int8)))
    return _canonical(torch, t)


def matmul(torch, a: np.ndarray, w, out: np.ndarray) -> None:
    """``out = a @ w`` exactly: ``a`` int8 (M, K) C-contiguous, ``w`` from :func:`weights`
    (K, N), ``out`` a C-contiguous int32 (M, N) array."""
    if not (a.flags.c_contiguous and out.flags.c_contiguous and a.dtype == np.int8
            and out.dtype == np.int32):
        raise ValueError("int8 product operands must be C-contiguous int8 and int32 arrays")
    torch._int_mm(_canonical(torch, torch.from_numpy(a)), w,
                  out=_canonical(torch, torch.from_numpy(out)))
