"""Golden-model throughput: images/s of the NumPy simulator for the zoo's Net1 and Net2.

Usage: ``python bench/golden_bench.py [--images N] [--json FILE]``. Runs each zoo model at its
chosen T (the manifest's) and at the paper's latency (Net1 T=46, Net2 T=65) on the first N
MNIST test images and prints images/s and the projected time for the full 10,000-image test
set. Figures depend on the machine: the run prints its core count.
"""

from __future__ import annotations

import argparse
import json
import os
import time

from augsnn.golden.datasets import load_mnist
from augsnn.golden.modelfile import load, zoo_manifest
from augsnn.golden.network import simulate

PAPER_T = {"net1": 46, "net2": 65}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=1000)
    p.add_argument("--models", nargs="+", default=["net1-aug", "net2-aug", "net1-ter", "net2-ter"])
    p.add_argument("--json", help="write the results as JSON")
    args = p.parse_args()
    x, _ = load_mnist("test")
    x = x[:args.images]
    rows = []
    print(f"golden model on {args.images} MNIST images, {os.cpu_count()} cores")
    print(f"{'model':10s} {'T':>5s} {'images/s':>9s} {'10k images':>11s}")
    for name in args.models:
        model = load(name)
        for T in sorted({zoo_manifest(name)["T"], PAPER_T[name.split("-")[0]]}):
            t0 = time.perf_counter()
            simulate(model, x, T)
            dt = time.perf_counter() - t0
            row = {"model": name, "T": T, "images": args.images,
                   "images_per_s": args.images / dt, "full_test_set_s": 10000 * dt / args.images}
            rows.append(row)
            print(f"{name:10s} {T:5d} {row['images_per_s']:9.1f} {row['full_test_set_s']:10.0f}s",
                  flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cores": os.cpu_count(), "results": rows}, f, indent=1)


if __name__ == "__main__":
    main()
