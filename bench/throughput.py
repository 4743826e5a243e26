"""Design-space table of the ULX3S lane accelerator: parallelism vs resources, Fmax, images/s.

    python bench/throughput.py                          # simulate; read builds in out/throughput
    python bench/throughput.py --build                  # also build the settings not built yet
    python bench/throughput.py --settings 8 16,64,16 --images 100
    python bench/throughput.py --resim                  # simulate again (kept in out/throughput)

For each lane setting of Net2-aug (one count, or one per weighted layer): the cycles per image
in Verilator over the first ``--images`` MNIST test images (every image compared with the
golden model, at the model's T and with the early-exit rule ``augsnn build --early-exit auto``
picks: the fewest mean steps within 0.1 point of the fixed-T test-set accuracy), and, where
``out/throughput/<setting>/report.json`` exists (``augsnn build net2-aug --board ulx3s-85f
--lanes <setting> -o out/throughput/<setting>``, or ``--build``), its LUT4 / FF / DP16KD /
MULT18 use, Fmax and images/s at the design clock, computing and over the UART. Net1 on the
ULX3S: the fit check's refusal (its weights do not fit the block RAM). Writes
docs/throughput.md and docs/img/throughput.png (images/s vs LUT4, the Pareto set marked).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = ["8", "4,16,4", "8,16,8", "8,32,8", "16,64,16"]


def _lanes(text: str):
    parts = [int(p) for p in text.split(",")]
    return parts[0] if len(parts) == 1 else tuple(parts)


def simulate(model, lanes, T: int, images: int, rule) -> dict:
    """Cycles per image in Verilator, at T and under ``rule`` (mismatches are an error)."""
    from augsnn.golden.datasets import load_dataset
    from augsnn.sim.accelerator import build, compare, run_images
    x, y = load_dataset("mnist", "test")
    x, y = x[:images], y[:images]
    t0 = time.time()
    bld = build(model, lanes=lanes, trace=False, quiet=True)
    out = {"build_s": time.time() - t0}
    for key, r in (("fixed", None), ("early", rule)):
        run = run_images(model, x, T, lanes=lanes, build=bld, progress=0, quiet=True,
                         early_exit=r)
        rep = compare(model, x, run, labels=y)
        if rep["mismatches"]:
            raise RuntimeError(f"lanes {lanes}, {key}: {rep['mismatches']} mismatches")
        out[key] = {"cycles": rep["cycles_per_image"], "steps": rep["mean_steps"],
                    "busiest": 1 / rep["critical_efficiency"]}
    return out


def build_report(setting: str, build: bool) -> dict | None:
    folder = ROOT / "out" / "throughput" / setting.replace(",", "-")
    report = folder / "report.json"
    if not report.exists() and build:
        cmd = [sys.executable, "-m", "augsnn", "build", "net2-aug", "--board", "ulx3s-85f",
               "--lanes", setting, "-o", str(folder), "--cycle-images", "0",
               "--early-exit", "none"]
        print("$ " + " ".join(cmd[2:]), flush=True)
        subprocess.call(cmd, cwd=ROOT)
    if not report.exists():
        return None
    r = json.loads(report.read_text())
    return r if r.get("built") else None


def net1_line() -> str:
    from augsnn.boards.targets import BOARDS, DoesNotFit, fit
    from augsnn.golden.modelfile import load
    try:
        fit(load("net1-aug"), BOARDS["ulx3s-85f"], lanes=8)
    except DoesNotFit as exc:
        return str(exc)
    return "net1-aug fits the ULX3S at 8 lanes"


def pareto(points: list[tuple[float, float]]) -> list[bool]:
    """Points (cost, value) not dominated by another (less or equal cost, more value)."""
    return [not any(c2 <= c and v2 >= v and (c2, v2) != (c, v) for c2, v2 in points)
            for c, v in points]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--settings", nargs="+", default=SETTINGS)
    ap.add_argument("--images", type=int, default=100)
    ap.add_argument("--build", action="store_true", help="build settings not built yet")
    ap.add_argument("--resim", action="store_true",
                    help="simulate again even where out/throughput holds a simulation")
    ap.add_argument("--out", default=str(ROOT / "docs" / "throughput.md"))
    args = ap.parse_args()
    from augsnn.boards.build import exit_rule
    from augsnn.boards.protocol import answer_bytes
    from augsnn.boards.targets import BOARDS
    from augsnn.golden.modelfile import load
    from augsnn.hw.plan import HEADER_BYTES
    model = load("net2-aug")
    T = int(model.meta["T"])
    rule, acc = exit_rule(model, T, "auto")
    board = BOARDS["ulx3s-85f"]
    link = board.baud / (10 * (HEADER_BYTES + 784 + answer_bytes(10, 3)))
    rows = []
    for s in args.settings:
        # Simulations are kept beside the builds (``--resim`` runs them again).
        saved = ROOT / "out" / "throughput" / f"sim-{s.replace(',', '-')}-{args.images}.json"
        if saved.exists() and not args.resim:
            sim = json.loads(saved.read_text())
        else:
            print(f"lanes {s}: simulating {args.images} images ...", flush=True)
            sim = simulate(model, _lanes(s), T, args.images, rule)
            saved.parent.mkdir(parents=True, exist_ok=True)
            saved.write_text(json.dumps(sim, indent=1))
        rows.append({"setting": s, "sim": sim})
    for r in rows:          # read after the simulations: builds may finish meanwhile
        r["build"] = build_report(r["setting"], args.build)
    lines = ["# Throughput: the ULX3S lane accelerator's design space", "",
             "Generated by `python bench/throughput.py` (Verilator cycles over the first "
             f"{args.images} MNIST test images, every image compared with the golden model: 0 "
             "mismatches; resources and Fmax from `augsnn build net2-aug --board ulx3s-85f "
             "--lanes <setting>`); do not edit by hand.", "",
             f"Net2-aug, T = {T}; early exit: {rule.describe()} "
             f"(`augsnn build --early-exit auto`: test-set accuracy {acc['accuracy'] * 100:.2f}% "
             f"vs {acc['fixed'] * 100:.2f}% at T = {T}, {acc['images']:,} images). "
             f"UART: {board.baud:,} baud, {link:,.0f} images/s at most. Rows \"not built\": "
             "images/s at a hypothetical 100 MHz clock, for comparison only (no build, no "
             "timing; docs/boards.md \"Timing\" has what is known of them).", "",
             "| lanes | LUT4 | FF | DP16KD | MULT18 | clock | Fmax | cycles/image (T) | "
             "images/s (T) | cycles/image (early exit) | mean steps | images/s (early exit) |"
             " end to end (early exit, UART-bound) | cycles / busiest layer's bound |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    plot = []
    for r in rows:
        sim, b = r["sim"], r["build"]
        if b:
            res, tm = b["resources"], b["timing"]
            clock = tm["clock_mhz"] if tm["met"] else tm["fmax_mhz"]
            hw = (f"{res['logic']['used']:,} | {res['ff']:,} | {res['bram']['used']} | "
                  f"{res['multipliers']['used']} | {tm['clock_mhz']:.4g} MHz | "
                  f"{tm['fmax_mhz']:.1f} MHz{'' if tm['met'] else ' (not met)'}")
            ips = [clock * 1e6 / sim[k]["cycles"] for k in ("fixed", "early")]
            plot.append((res["logic"]["used"], ips[1], r["setting"]))
            f = [f"{v:,.0f}" for v in ips]
            e2e = f"{min(ips[1], link):,.0f}"
        else:
            hw = "not built | | | | | "
            f = [f"{100e6 / sim[k]['cycles']:,.0f} at 100 MHz" for k in ("fixed", "early")]
            e2e = ""
        lines.append(f"| {r['setting']} | {hw} | {sim['fixed']['cycles']:,.0f} | {f[0]} | "
                     f"{sim['early']['cycles']:,.0f} | {sim['early']['steps']:.2f} | {f[1]} | "
                     f"{e2e} | {sim['fixed']['busiest']:.2f}x / {sim['early']['busiest']:.2f}x |")
    built = [(r["setting"], r["build"]) for r in rows if r["build"]]
    if built:
        lines += ["", "Builds (`out/throughput/<setting>/report.md`): " + "; ".join(
            f"{s}: {b['date']}, sources {b.get('commit') or 'unknown'}, "
            f"{b['timing']['clock_mhz']:.4g} MHz clock, {b['baud']:,} baud, {b['abc']}"
            for s, b in built) + "."]
    lines += ["", "Net1 on the ULX3S: " + net1_line().rstrip(".") + ". Net1 would need its 2.4 M weights "
              "(19.2 Mbit at 8 bits) off chip, e.g. in the ULX3S's 32 MB SDRAM (16 bits at "
              "up to ~100 MHz: ~0.2 G weights/s, so reading every weight once per time step "
              "would bound Net1 at ~8 images/s at T = 10; an event-driven read of only the "
              "rows that fire would do better), which the lane engine does not support.", ""]
    if plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        keep = pareto([(c, v) for c, v, _ in plot])
        fig, ax = plt.subplots(figsize=(5, 3.5))
        for (c, v, s), k in zip(plot, keep):
            ax.scatter([c], [v], color="C1" if k else "C0")
            ax.annotate(s, (c, v), fontsize=8)
        ax.set_xlabel("LUT4")
        ax.set_ylabel("images/s (early exit)")
        ax.set_title("Net2-aug on the ULX3S (orange: Pareto set)")
        fig.tight_layout()
        png = ROOT / "docs" / "img" / "throughput.png"
        fig.savefig(png, dpi=100)
        lines += ["![images/s vs LUT4](img/throughput.png)", ""]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
