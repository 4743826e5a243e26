"""Worker threads for the golden model: the core count, and numpy's BLAS held to one thread.

:func:`augsnn.golden.network.simulate` runs batches of images on one worker thread per core
(numpy releases the GIL in its loops and matrix products). Each worker's matrix products then
must not start BLAS threads of their own: on a busy machine, OpenBLAS threads that wait for
each other cost several times the work. :func:`blas_single_thread` sets numpy's OpenBLAS to one
thread for the duration (found among the loaded libraries; nothing happens where it is not
found), and torch's intra-op threads too when torch is loaded (its int8 products,
golden/intmm.py), and restores the previous counts. Results never depend on any of this.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import threading

__all__ = ["cpus", "blas_single_thread"]

# (set, get) function names of OpenBLAS builds: numpy's wheels (scipy-openblas), plain ones
_NAMES = (("scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),
          ("scipy_openblas_set_num_threads", "scipy_openblas_get_num_threads"),
          ("openblas_set_num_threads64_", "openblas_get_num_threads64_"),
          ("openblas_set_num_threads", "openblas_get_num_threads"))
_lock = threading.Lock()
_users = 0
_saved: list = []
_libs = None


def cpus() -> int:
    """Cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _openblas() -> list:
    """(set, get) functions of every OpenBLAS loaded in this process (Linux: /proc/self/maps)."""
    global _libs
    if _libs is not None:
        return _libs
    import numpy  # noqa: F401  (loads numpy's BLAS)
    paths = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1]
                if "openblas" in os.path.basename(path).lower() and ".so" in path:
                    paths.add(path)
    except OSError:  # pragma: no cover - no /proc
        pass
    found = []
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:  # pragma: no cover
            continue
        for set_name, get_name in _NAMES:
            if hasattr(lib, set_name) and hasattr(lib, get_name):
                setter, getter = getattr(lib, set_name), getattr(lib, get_name)
                setter.restype = None
                getter.restype = ctypes.c_int
                found.append((setter, getter))
                break
    _libs = found
    return found


@contextlib.contextmanager
def blas_single_thread():
    """numpy's OpenBLAS on one thread inside the block (nested and concurrent uses share it)."""
    global _users
    with _lock:
        if _users == 0:
            _saved.clear()
            for setter, getter in _openblas():
                _saved.append((setter, int(getter())))
                setter(1)
            torch = sys.modules.get("torch")
            if torch is not None and hasattr(torch, "set_num_threads"):
                _saved.append((torch.set_num_threads, int(torch.get_num_threads())))
                torch.set_num_threads(1)
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0:
                for setter, n in _saved:
                    setter(n)
