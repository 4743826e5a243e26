"""``augsnn sweep``: design-space sweeps on Ray (sub-command of :mod:`augsnn.cli`).

Layer: ``scaleout``. Nothing heavy at import time.

    augsnn sweep sweep.toml --workers 2 -o out/sweep/seeds

Exit status: 0 when every point succeeded, 1 when some failed (they are in the CSV with their
reason), 2 on a usage error (bad configuration).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["register"]


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "sweep", help="design-space sweep: board builds and RTL simulations as Ray tasks",
        description="Run the points of CONFIG (JSON or TOML: defaults, a grid of settings "
                    "and/or a list of points; docs/scale-out.md) as Ray tasks, one CPU each: "
                    "a point with a board is built with Yosys/nextpnr, one without is "
                    "simulated with Verilator against the golden model. Results are cached "
                    "by a hash of the settings, the model and the tool versions. Writes "
                    "sweep.csv, sweep.json and pareto.png (images/s vs LUT4s, accuracy vs "
                    "images/s, the Pareto sets marked) into the output folder.")
    p.add_argument("config", metavar="CONFIG", help="sweep configuration (.json or .toml)")
    p.add_argument("-o", "--output", metavar="DIR",
                   help="output folder (default: out/sweep/<config name>)")
    p.add_argument("--workers", type=int, default=2, metavar="K",
                   help="points run at once on a local Ray instance (default: %(default)s)")
    p.add_argument("--address", metavar="ADDR",
                   help="a Ray cluster (auto, HOST:PORT, ray://HOST:10001) instead of a local "
                        "instance; its CPUs decide how many points run at once")
    p.add_argument("--cache", metavar="DIR", default="out/sweep-cache",
                   help="result cache folder (default: %(default)s)")
    p.add_argument("--cache-dir", metavar="DIR", default=None,
                   help="Verilator build cache of the simulation points (default: "
                        "$AUGSNN_SIM_CACHE or sim_build/verilator)")
    p.add_argument("--rerun-failed", action="store_true",
                   help="run the points whose cached result is a failure again")
    p.add_argument("--no-plot", action="store_true", help="write no pareto.png")
    p.set_defaults(func=cmd_sweep, inputs=("config",))


def cmd_sweep(args: argparse.Namespace) -> int:
    from augsnn.golden.atomic import safe_component

    from .pareto import write_outputs
    from .sweep import _label, expand, load_config, run_sweep
    config = load_config(args.config)
    points = expand(config)
    if args.workers < 1:
        raise ValueError(f"--workers must be >= 1, not {args.workers}")
    name = config.get("name") or Path(args.config).stem
    out = Path(args.output or f"out/sweep/{safe_component(str(name))}")
    if out.exists() and not out.is_dir():
        raise ValueError(f"-o {out}: is a file, not a folder")
    rows = run_sweep(points, out_dir=out, cache=args.cache, workers=args.workers,
                     address=args.address, cache_dir=args.cache_dir,
                     rerun_failed=args.rerun_failed,
                     log=lambda m: print(m, file=sys.stderr, flush=True))
    paths = write_outputs(rows, out, plot=not args.no_plot)
    for r in rows:
        mark = "*" if r.get("pareto_resources") or r.get("pareto_accuracy") else " "
        if r["status"] != "ok":
            print(f" {mark} {_label(r)}: FAILED: {r['reason']}")
            continue
        lut = f"{r['lut4']:,} {r['lut4_name']}, Fmax {r['fmax_mhz']:.1f} MHz" \
              f"{'' if r.get('timing_met') else ' (timing NOT met)'}, " if r.get("board") else ""
        acc = f"accuracy {r['accuracy'] * 100:.2f}%" if r.get("accuracy") is not None else ""
        print(f" {mark} {_label(r)}: {lut}{r['cycles_per_image']:,.0f} cycles/image, "
              f"{r['images_per_s']:,.1f} images/s at {r['clock_mhz']:.4g} MHz, {acc}"
              f"{' (cached)' if r.get('cached') else ''}")
    print(f"(* Pareto set) wrote {', '.join(str(p) for p in paths.values())}")
    return 0 if all(r["status"] == "ok" for r in rows) else 1
