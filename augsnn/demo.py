"""``augsnn demo``: the main job on defaults, in a few minutes.

1. Golden model: the zoo's Net2 models (AugMapping and TerMapping) on MNIST test images;
   accuracy vs T and events, a JSON report and a PNG of error vs T in ``out/demo/``.
2. Hardware: the Net2-AugMapping accelerator's Verilog (``out/demo/net2-aug.v`` and its
   ``$readmemh`` weight files), then a Verilator simulation of a few images compared with the
   golden model on every layer's spikes at every step (``augsnn sim``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("demo", help="run the main flow on defaults (golden model on the zoo's Net2)")
    p.add_argument("--images", type=int, default=500, help="MNIST test images (default 500)")
    p.add_argument("--sim-images", type=int, default=5,
                   help="images simulated on the RTL (default 5; 0 skips the hardware part)")
    p.add_argument("--out", default="out/demo", help="output folder (default out/demo)")
    p.set_defaults(func=cmd_demo)


def cmd_demo(args) -> int:
    from augsnn.golden.evaluate import evaluate, load_test_images, plot_accuracy, report_table
    from augsnn.golden.modelfile import load
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    reports = []
    for name, T in (("net2-aug", 64), ("net2-ter", 200)):
        model = load(name)
        x, y, idx = load_test_images(model, None, args.images)
        print(f"== golden model: {name}, {len(y)} MNIST test images, T={T}", file=sys.stderr)
        report, _ = evaluate(model, x, y, T, indices=idx, progress=True)
        print(report_table(report))
        reports.append(report)
    (out / "golden.json").write_text(json.dumps(reports, indent=1))
    plot_accuracy(reports, out / "error_vs_T.png", title="Net2 on MNIST: error vs T")
    print(f"wrote {out / 'golden.json'} and {out / 'error_vs_T.png'}")
    if args.sim_images == 0:
        return 0
    from augsnn.cli import main as cli
    print("== accelerator: Verilog for net2-aug (8 lanes)", file=sys.stderr)
    rc = cli(["verilog", "net2-aug", "--lanes", "8", "-o", str(out / "net2-aug.v")])
    if rc:
        return rc
    print(f"== accelerator: Verilator simulation of {args.sim_images} images vs the golden model",
          file=sys.stderr)
    return cli(["sim", "net2-aug", "--lanes", "8", "--images", str(args.sim_images),
                "--json", str(out / "sim.json")])
