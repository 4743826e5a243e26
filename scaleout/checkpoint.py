"""Checkpoints of a sharded ``augsnn sim`` run: one file per finished chunk, written atomically.

Layer: ``scaleout``. The folder holds ``manifest.json`` (what the run is: model digest,
options, images, chunk size) and ``chunk-NNNNN.npz`` per finished chunk (its per-image arrays
and, as JSON, its report). Every file is written under a temporary name, flushed and renamed,
so a run killed at any moment leaves only whole chunks; ``--resume`` takes the chunks of a
folder whose manifest equals the new run's and simulates the others.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

__all__ = ["Checkpoints"]

_ARRAYS = ("index", "label", "pred", "counts", "events", "cycles", "out", "synops", "bound",
           "critical", "steps")


def _atomic_write(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class Checkpoints:
    """The checkpoint folder of one run (``manifest``: a JSON-able dict naming the run)."""

    def __init__(self, folder, manifest: dict, *, resume: bool):
        self.folder = Path(folder)
        if self.folder.exists() and not self.folder.is_dir():
            raise ValueError(f"--checkpoint {self.folder}: is a file, not a folder")
        self.folder.mkdir(parents=True, exist_ok=True)
        self.manifest = json.loads(json.dumps(manifest))
        path = self.folder / "manifest.json"
        old = json.loads(path.read_text()) if path.exists() else None
        if resume and old is not None and old != self.manifest:
            diff = sorted(k for k in set(old) | set(self.manifest)
                          if old.get(k) != self.manifest.get(k))
            raise ValueError(
                f"--resume: the checkpoints in {self.folder} are of another run (differs in "
                + ", ".join(f"{k}: {old.get(k)!r} there, {self.manifest.get(k)!r} now"
                            for k in diff) + "); rerun without --resume to start afresh")
        if not resume or old is None:
            for stale in self.folder.glob("chunk-*.npz"):
                stale.unlink()
            _atomic_write(path, lambda f: f.write(json.dumps(self.manifest, indent=1).encode()))

    def _path(self, cid: int) -> Path:
        return self.folder / f"chunk-{cid:05d}.npz"

    def done(self) -> list[int]:
        """Chunk numbers with a checkpoint."""
        return sorted(int(p.stem.split("-")[1]) for p in self.folder.glob("chunk-*.npz"))

    def save(self, cid: int, chunk: dict) -> None:
        meta = {k: v for k, v in chunk.items() if k not in _ARRAYS}
        arrays = {k: np.asarray(chunk[k]) for k in _ARRAYS}
        _atomic_write(self._path(cid), lambda f: np.savez(
            f, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), **arrays))

    def load(self, cid: int) -> dict:
        with np.load(self._path(cid), allow_pickle=False) as npz:
            chunk = json.loads(npz["meta"].tobytes().decode())
            chunk.update({k: npz[k] for k in _ARRAYS})
        return chunk
