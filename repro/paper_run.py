"""One ``augsnn paper`` run: its settings (full or quick), work folder, result cache and log.

:class:`Run` finds or trains the checkpoints (``golden.ann.train_net``), converts them
(model files cached beside the checkpoint), reads the zoo manifests and models, and
simulates with the golden model, caching every report in ``<workdir>/cache`` keyed by the
model's content (:func:`model_digest`) and the settings.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
import time
from pathlib import Path

from .paper_numbers import NETS_HERE
from .runinfo import command_line

__all__ = ["Settings", "FULL", "QUICK", "model_digest", "Run"]


@dataclasses.dataclass
class Settings:
    """Subset sizes and step counts of one run (full or quick)."""
    quick: bool
    t2_T: int             # DataNorm steps (Table II)
    t2_images: int        # DataNorm / TerMapping images (Table II)
    same_images: bool     # Table IV: re-simulate AugMapping on TerMapping's images
    f6_aug: tuple         # Fig. 6 AugMapping (T, images)
    f6_ter: tuple         # Fig. 6 TerMapping (T, images)
    f7_images: int        # Fig. 7 images per net
    e_images: int         # Section E AugMapping images
    e_ter_images: int     # Section E TerMapping images
    train: tuple | None   # quick training: (epochs, images)
    calib: int | None     # calibration images for TerMapping/DataNorm (None: training set)


FULL = Settings(False, 1000, 1000, True, (128, 200), (1000, 50), 500, 500, 50, None, None)
QUICK = Settings(True, 150, 100, False, (64, 50), (300, 30), 50, 100, 30, (1, 3000), 2000)


def model_digest(model) -> str:
    """The cache key of a model's runs: :meth:`augsnn.golden.model.Model.digest`."""
    return model.digest()


class Run:
    """One ``augsnn paper`` run: settings, work folder, cache, log."""

    def __init__(self, workdir: Path, settings: Settings, *, checkpoints: Path | None,
                 zoo_dir: Path, progress: bool, nets=NETS_HERE, log=sys.stderr):
        self.workdir, self.s, self.checkpoints = workdir, settings, checkpoints
        self.nets = tuple(n for n in NETS_HERE if n in nets)
        self.zoo_dir, self.progress, self.log = zoo_dir, progress, log
        self.cache = workdir / "cache"
        self.cache.mkdir(parents=True, exist_ok=True)
        self.t0 = time.time()
        self.notes: list[str] = []

    def say(self, msg: str) -> None:
        print(f"[paper {time.time() - self.t0:7.1f} s] {msg}", file=self.log, flush=True)

    def cached(self, key: str, fn):
        path = self.cache / f"{hashlib.sha1(key.encode()).hexdigest()[:20]}.json"
        if path.is_file():
            return json.loads(path.read_text())
        value = fn()
        path.write_text(json.dumps(value))
        return value

    # data -------------------------------------------------------------------------------
    def data(self, dataset: str, split: str = "test"):
        from augsnn.golden.datasets import load_dataset
        return load_dataset(dataset, split)

    # checkpoints --------------------------------------------------------------------------
    def checkpoint(self, net: str, act: str = "leaky") -> Path:
        """Cached checkpoint of ``net`` (``act``), trained when missing."""
        name = f"{net}.pt" if act == "leaky" else f"{net}-{act}.pt"
        cands = [self.workdir / name]
        if self.checkpoints is not None:
            cands.append(self.checkpoints / name)
        if self.s.quick:
            cands.append(self.workdir / "quick" / name)
        for c in cands:
            if c.is_file():
                return c
        from augsnn.golden import ann
        if not self.s.quick:
            out = self.workdir / name
            self.say(f"$ augsnn train {net} --act {act} --seed 0 -o {out}")
            rec = ann.train_net(net, out, act=act, seed=0, command=command_line(), log=self.log)
            self.say(f"test accuracy {rec['test_accuracy'] * 100:.2f}%; wrote {out}")
            return out
        epochs, n = self.s.train
        out = self.workdir / "quick" / name
        out.parent.mkdir(parents=True, exist_ok=True)
        self.say(f"quick: training {net} ({act}) for {epochs} epoch on {n} images")
        # the plain settings of ann.train, not the net's recipe, on the first n images
        ann.train_net(net, out, act=act, seed=0, epochs=epochs, images=n, shift=2, lr=2e-3,
                      flip=False, in_dropout=0.0, label_smoothing=0.0, weight_decay=0.0,
                      ema=0.0, threads=None, test_each_epoch=False, meta={"quick": True},
                      log=None)
        return out

    def converted(self, net: str, method: str, act: str = "leaky"):
        """``(model, torch net)`` converted from the cached checkpoint (model file cached)."""
        from augsnn.golden import ann
        from augsnn.golden.modelfile import load, save
        ck = self.checkpoint(net, act)
        tnet, meta = ann.load_checkpoint(ck)
        subset = method != "aug" and self.s.calib is not None
        path = ck.with_name(f"{ck.stem}-{method}" + (f"-calib{self.s.calib}" if subset else "")
                            + ".npz")
        if path.is_file() and path.stat().st_mtime >= ck.stat().st_mtime:
            return load(path), tnet
        dataset = meta["meta"]["dataset"]
        calib = self.data(dataset, "train")[0][:self.s.calib] if subset else None
        self.say(f"converting {ck.name} with {method}")
        model = ann.convert_module(tnet, method, dataset=dataset, name=f"{ck.stem}-{method}",
                                   calib_images=calib,
                                   meta={"checkpoint": ck.name, "calibration_images":
                                         self.s.calib})
        save(model, path)
        return model, tnet

    # zoo ------------------------------------------------------------------------------------
    def manifest(self, net: str, method: str) -> dict | None:
        path = self.zoo_dir / f"{net}-{method}.json"
        return json.loads(path.read_text()) if path.is_file() else None

    def zoo_model(self, net: str, method: str):
        from augsnn.golden.modelfile import load
        path = self.zoo_dir / f"{net}-{method}.npz"
        return load(path) if path.is_file() else None

    # simulation -------------------------------------------------------------------------------
    def evaluate(self, model, n: int, T: int, tag: str = "") -> dict:
        """Golden-model report of ``model`` on its first ``n`` test images for ``T`` steps."""
        from augsnn.golden.evaluate import evaluate

        def go():
            x, y = self.data(model.meta["dataset"])
            self.say(f"simulating {model.name}{tag}: {n} images, T={T}")
            rep, _ = evaluate(model, x[:n], y[:n], T, progress=self.progress)
            return rep
        return self.cached(f"eval|{model_digest(model)}|{n}|{T}", go)

