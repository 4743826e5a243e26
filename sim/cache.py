"""The one Verilator build cache of augsnn: a folder per design, keyed by a hash.

Layer: ``sim``. Every Verilator build of a generated design (``augsnn sim``, the UART board
designs, the tests) goes through :func:`cached_build`: the folder
``<cache>/<label>-<key>`` holds the Verilog, the build and a ``build.json`` marker written
last, so an interrupted build is redone and a finished one is reused. Builds of the same
key wait for each other (a file lock), so parallel test workers never build twice.
The cache is ``$AUGSNN_SIM_CACHE`` or ``sim_build/verilator`` in the working folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["default_cache_dir", "cached_build", "CachedBuild", "tree_digest", "generator_key"]


def default_cache_dir() -> Path:
    """``$AUGSNN_SIM_CACHE`` or ``sim_build/verilator`` in the working folder."""
    return Path(os.environ.get("AUGSNN_SIM_CACHE", "sim_build/verilator"))


def tree_digest(h, folder: Path, pattern: str = "**/*.py") -> None:
    """Add the names and contents of the files under ``folder`` to the hash ``h``."""
    for path in sorted(Path(folder).glob(pattern)):
        if "__pycache__" in path.parts:
            continue
        h.update(str(path.relative_to(folder)).encode())
        h.update(path.read_bytes())


def generator_key():
    """A SHA-256 hash holding what every generated design's build depends on: every source
    under ``hw/``, the simulation runner, the tool versions and Verilator's build options.
    Callers add their design's own inputs and take ``hexdigest()[:16]``."""
    import importlib.metadata as md

    import augsnn.hw

    from .runner import SIM_BUILD_ARGS
    h = hashlib.sha256()
    tree_digest(h, Path(augsnn.hw.__file__).resolve().parent)
    h.update(Path(__file__).with_name("runner.py").read_bytes())
    for pkg in ("amaranth", "verilator", "cocotb"):
        h.update(f"{pkg}={md.version(pkg)}".encode())
    h.update(repr(SIM_BUILD_ARGS).encode())
    return h


@dataclass
class CachedBuild:
    """A finished Verilator build: its folder, the cocotb runner, time taken, reused or not."""

    dir: Path
    runner: object
    seconds: float
    cached: bool


@contextlib.contextmanager
def _lock(path: Path):
    import fcntl
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _log(quiet: bool, message: str) -> None:
    if not quiet:
        print(message, file=sys.stderr, flush=True)


def cached_build(label: str, key: str, make_verilog, *, cache_dir=None, quiet: bool = False,
                 info: dict | None = None) -> CachedBuild:
    """Build (or find) the Verilator model ``<label>-<key>``.

    Parameters
    ----------
    label : str
        Readable part of the folder name (sanitised here).
    key : str
        Hash of everything the build depends on (the caller's choice).
    make_verilog : callable(folder) -> str
        Called only when building: writes any files the design reads (e.g. ``$readmemh``
        images) into ``folder`` and returns the Verilog text.
    info : dict
        Extra fields for ``build.json``.
    """
    from cocotb_tools.runner import get_runner

    from . import runner as sim_runner
    from .toolchain import setup_verilator

    label = "".join(c if c.isalnum() or c in "-_" else "_" for c in label)[:60]
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    folder = (root / f"{label}-{key}").resolve()
    done = folder / "build.json"
    setup_verilator()
    t0 = time.time()
    with _lock(root / f".{label}-{key}.lock"):
        if done.exists():
            seconds = json.loads(done.read_text())["seconds"]
            _log(quiet, f"augsnn sim: using the cached build {folder} (built in {seconds:.0f} s)")
            run = get_runner("verilator")
            run.build_dir = folder
            return CachedBuild(dir=folder, runner=run, seconds=seconds, cached=True)
        folder.mkdir(parents=True, exist_ok=True)
        _log(quiet, f"augsnn sim: generating Verilog for {label} ...")
        source = folder / "top.v"
        source.write_text(make_verilog(folder))
        _log(quiet, f"augsnn sim: Verilog written in {time.time() - t0:.1f} s; building with "
                    f"Verilator (one-time, cached in {folder}) ...")
        run = sim_runner.build(source, build_dir=folder)
        for pch in folder.glob("*.gch"):      # precompiled headers: 140 MB, only for compiling
            pch.unlink()
        seconds = time.time() - t0
        done.write_text(json.dumps({"seconds": seconds, **(info or {})}))
        _log(quiet, f"augsnn sim: built in {seconds:.0f} s")
        return CachedBuild(dir=folder, runner=run, seconds=seconds, cached=False)

