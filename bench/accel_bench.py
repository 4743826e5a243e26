"""Accelerator figures: RTL (Verilator) vs golden, cycles per image and efficiency, per zoo model.

Usage::

    python bench/accel_bench.py                          # the table of docs/accelerator.md
    python bench/accel_bench.py --models net2-aug --images 200 --lanes 8
    python bench/accel_bench.py --json out/accel_bench.json

For every model and lane count: builds the accelerator with Verilator (cached in
``sim_build/accel``; the build time printed is the cached one on a second run), runs the
first N MNIST test images at the model's T, compares the full state with the golden model
(:func:`augsnn.sim.accelerator.compare`) and prints mismatches, cycles per image, the bound,
the efficiency (bound / cycles; above 100% when layers overlap), the busiest layer's share,
and the wall times. Figures depend on the machine: the run prints its core count.
"""

from __future__ import annotations

import argparse
import json
import os
import time

from augsnn.golden.evaluate import load_test_images
from augsnn.golden.modelfile import load
from augsnn.sim import accelerator as accel

DEFAULT = [("net2-aug", 20, 8), ("net2-ter", 20, 8), ("net2-ter", 20, 16), ("net1-aug", 5, 8)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", help="zoo models (default: the docs table)")
    p.add_argument("--images", type=int, help="images per model (default: 20, Net1 5)")
    p.add_argument("--lanes", type=int, nargs="+", help="lane counts (default: 8)")
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--json", help="write the results as JSON")
    args = p.parse_args()
    if args.models:
        runs = [(m, args.images or (5 if m.startswith("net1") else 20), lanes)
                for m in args.models for lanes in (args.lanes or [8])]
    else:
        runs = DEFAULT
    rows = []
    print(f"accelerator vs golden, {os.cpu_count()} cores")
    print(f"{'model':9s} {'T':>3s} {'lanes':>5s} {'images':>6s} {'mism.':>5s} {'cycles/img':>11s} "
          f"{'bound/img':>10s} {'eff.':>6s} {'busiest':>7s} {'build':>6s} {'sim':>6s} "
          f"{'s/img':>6s}")
    for name, images, lanes in runs:
        model = load(name)
        T = int(model.meta["T"])
        x, y, idx = load_test_images(model, None, images, 0)
        t0 = time.time()
        bld = accel.build(model, lanes=lanes, cache_dir=args.cache_dir, quiet=True)
        t1 = time.time()
        run = accel.run_images(model, x, T, lanes, build=bld, progress=0, quiet=True)
        t2 = time.time()
        rep = accel.compare(model, x, run, indices=idx, labels=y)
        row = {k: v for k, v in rep.items() if k != "first_mismatches"}
        row.update(build_seconds=round(t1 - t0, 1), build_cached=bld.cached,
                   sim_wall_seconds=round(t2 - t1, 1),
                   memory_bits=bld.part().plan.memory)
        rows.append(row)
        print(f"{name:9s} {T:3d} {lanes:5d} {images:6d} {rep['mismatches']:5d} "
              f"{rep['cycles_per_image']:11,.0f} {rep['bound_per_image']:10,.0f} "
              f"{rep['efficiency'] * 100:5.1f}% {rep['critical_efficiency'] * 100:6.1f}% "
              f"{t1 - t0:5.0f}s{'*' if bld.cached else ' '}{t2 - t1:5.0f}s "
              f"{(t2 - t1) / images:6.2f}", flush=True)
    print("(* cached build)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cores": os.cpu_count(), "results": rows}, f, indent=1)


if __name__ == "__main__":
    main()
