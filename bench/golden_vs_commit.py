"""Time the golden model of another commit against this tree's, in one process, interleaved.

    python bench/golden_vs_commit.py                      # a50c583 vs now: Net2, T = 8, 10,000
    python bench/golden_vs_commit.py --commit cace2df --model net1-aug --T 32 --images 1000

The other commit's ``golden/`` and ``augsnn/`` folders are taken with ``git archive`` into a
temporary folder and imported under another package name, so both versions run side by side
on the same model file and images (this tree's data loader); each repeat times ``simulate``
of both, and the predictions must agree. The default is the workload the test suite gives
the golden model most: the ECP5 build test's early-exit rule (Net2 on all 10,000 MNIST test
images at T = 8; docs/golden-model.md, Speed).
"""

from __future__ import annotations

import argparse
import importlib
import io
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OTHER = "augsnn_other"


def import_other(commit: str, folder: Path):
    """``(load, simulate)`` of ``commit``'s golden package, imported as ``augsnn_other.golden``
    (each version reads the model file with its own loader: its layer classes are its own)."""
    data = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "golden", "augsnn"],
                          check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(folder, filter="data")
    (folder / "augsnn").rename(folder / OTHER)
    (folder / "golden").rename(folder / OTHER / "golden")
    sys.path.insert(0, str(folder))
    return (importlib.import_module(f"{OTHER}.golden.modelfile").load,
            importlib.import_module(f"{OTHER}.golden.network").simulate)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--commit", default="a50c583")
    ap.add_argument("--model", default="net2-aug")
    ap.add_argument("--T", type=int, default=8)
    ap.add_argument("--images", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args(argv)

    from augsnn.golden.datasets import load_dataset
    from augsnn.golden.modelfile import load, resolve
    from augsnn.golden.network import simulate
    path = resolve(args.model)
    model = load(path)
    x, _ = load_dataset(model.meta.get("dataset", "mnist"), "test")
    x = x[:args.images]
    times = {args.commit: [], "this tree": []}
    with tempfile.TemporaryDirectory() as tmp:
        other_load, other_simulate = import_other(args.commit, Path(tmp))
        runs = ((args.commit, other_simulate, other_load(path)), ("this tree", simulate, model))
        for _ in range(args.repeats):
            preds = []
            for label, sim, m in runs:
                t0 = time.perf_counter()
                preds.append(sim(m, x, args.T).pred)
                times[label].append(time.perf_counter() - t0)
            if not np.array_equal(*preds):
                raise SystemExit("the two golden models disagree on the predictions")
    print(f"{args.model}, T = {args.T}, {len(x)} images, simulate, {args.repeats} repeats:")
    for label, ts in times.items():
        print(f"  {label:>10}: " + ", ".join(f"{t:.1f} s" for t in ts))


if __name__ == "__main__":
    main()
