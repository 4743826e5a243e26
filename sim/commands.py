"""``augsnn sim``: run the generated accelerator (Verilator) on test images, compare with golden.

Layer: ``sim``. Imports nothing heavy at import time: Amaranth, cocotb and the golden model
are loaded by the handler only.

    augsnn sim net2-aug --images 200 --lanes 8 --json report.json --save-outputs out.npz

Exit status: 0 when the RTL equals the golden model on every compared value, 1 when there
are mismatches, 2 on a usage error (bad model, options or data).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from augsnn.hw.engine import engine_names
from augsnn.hw.lanes.folding import lanes_option, taps_option
from augsnn.hw.lanes.plan import lanes_text

__all__ = ["register"]


def register(subparsers) -> None:
    """Add the ``sim`` sub-command to the CLI's ``subparsers``."""
    p = subparsers.add_parser(
        "sim", help="simulate the generated accelerator (Verilator) against the golden model",
        description="Generate the accelerator for MODEL, build it with Verilator (cached per "
                    "model and options), run MNIST test images through it and compare every "
                    "layer's spikes at every step, the output counts and the class with the "
                    "golden model; report cycles per image and the efficiency against the "
                    "lower bound (docs/accelerator.md).")
    p.add_argument("model", metavar="MODEL", help="model file (.npz) or zoo name (net2-aug, ...)")
    p.add_argument("--images", type=int, default=20, help="test images (default: %(default)s)")
    p.add_argument("--offset", type=int, default=0, help="index of the first test image")
    p.add_argument("--T", type=int, default=None,
                   help="time steps (default: the model's meta T, else 16)")
    p.add_argument("--lanes", type=lanes_option, default=8,
                   help="parallel synaptic updates per layer, a power of two: one count, one "
                        "per weighted layer (16,64,16) or auto (folding chosen from the golden "
                        "model's synops; docs/accelerator.md) (default: %(default)s)")
    p.add_argument("--taps", type=taps_option, default=1,
                   help="output columns a conv layer updates per cycle (tap parallelism; its "
                        "core gets lanes x taps lanes), a power of two up to the kernel size: "
                        "one count for every conv layer or one per weighted layer (1,2,1; "
                        "dense layers 1) (default: %(default)s)")
    p.add_argument("--engine", choices=engine_names(), default="lanes",
                   help="lanes: the lane accelerator (one neuron core per layer); compact: the "
                        "one-datapath engine of the iCE40 UP5K build, weights loaded over the "
                        "link (docs/compact-engine.md; --lanes does not apply) "
                        "(default: %(default)s)")
    p.add_argument("--no-padding", action="store_true",
                   help="refuse layers whose channel count the lanes do not divide (default: "
                        "pad them with idle neurons)")
    p.add_argument("--memory-budget-bits", type=int, default=None, metavar="N",
                   help="refuse a model needing more on-chip memory bits")
    p.add_argument("--dataset", help="data set (default: the model's)")
    p.add_argument("--no-trace", action="store_true",
                   help="compare only the results (class, counts, events), not every spike")
    p.add_argument("--cache-dir", default=None,
                   help="Verilator build cache (default: $AUGSNN_SIM_CACHE or "
                        "sim_build/verilator)")
    p.add_argument("--progress", type=int, default=10, metavar="N",
                   help="print a progress line every N images (0: none)")
    p.add_argument("--save-outputs", metavar="FILE",
                   help="write per-image outputs (.npz, the layout of augsnn eval)")
    p.add_argument("--json", metavar="FILE", help="write the report as JSON")
    p.add_argument("--uart", action="store_true",
                   help="simulate the board design instead (augsnn.boards.top.UartAccelerator): "
                        "images in and answers out over the serial protocol, answers compared "
                        "with the golden model")
    p.add_argument("--divisor", type=int, default=8, metavar="N",
                   help="with --uart: clock cycles per UART bit (default: %(default)s)")
    p.add_argument("--early-exit", metavar="MARGIN[,T_MIN]",
                   help="per-image early exit, sent in every image header: an image stops once "
                        "its leading output count is MARGIN ahead of the runner-up after at "
                        "least T_MIN steps (docs/golden-model.md, \"Early exit\"); compared with "
                        "the golden model's same rule")
    p.add_argument("--workers", type=int, default=None, metavar="K",
                   help="shard the images over K Ray actors (a local Ray instance, or the "
                        "cluster of --address); the report is the one-process report "
                        "(docs/scale-out.md) (default: one process, no Ray)")
    p.add_argument("--address", metavar="ADDR",
                   help="with --workers: a Ray cluster (auto, HOST:PORT of `ray start --head`, "
                        "ray://HOST:10001) instead of a local instance")
    p.add_argument("--chunk", type=int, default=None, metavar="N",
                   help="with --workers: images per chunk (default: about four chunks per "
                        "worker, at most 50)")
    p.add_argument("--checkpoint", metavar="DIR",
                   help="with --workers: folder of the finished chunks (default: "
                        "out/sim-chunks/<model>)")
    p.add_argument("--resume", action="store_true",
                   help="with --workers: take the finished chunks of an interrupted run from "
                        "--checkpoint and simulate only the others")
    p.set_defaults(func=cmd_sim, outputs=("json", "save_outputs"), inputs=("model",))


def _table(report: dict) -> str:
    lines = [
        f"{report['model']}: {report['images']} images, T={report['T']}, "
        f"{report.get('engine', 'lanes')} engine, {lanes_text(report['lanes'])} lanes"
        + (f", taps {lanes_text(report['taps'])}" if report.get("taps", 1) != 1 else ""),
        f"  mismatches: {report['mismatches']} "
        f"(spikes {report['spike_mismatches']} per layer {report['spike_mismatches_per_layer']}, "
        f"class {report['class_mismatches']}, counts {report['count_mismatches']}, "
        f"events {report['event_mismatches']}, steps {report['step_count_errors']}; "
        f"full state {'compared' if report['full_state_compared'] else 'NOT compared'})",
        f"  accuracy: RTL {report['accuracy'] * 100:.2f}%, golden "
        f"{report['golden_accuracy'] * 100:.2f}%" if report.get("accuracy") is not None else
        "  accuracy: -",
        f"  cycles/image: {report['cycles_per_image']:,.0f} (min {report['cycles_min']:,}, "
        f"max {report['cycles_max']:,})",
        (f"  {report.get('cycle_model', 'cycle bound')}: "
         f"{report['bound_per_image']:,.0f} cycles/image -> efficiency "
         f"{report['efficiency'] * 100:.1f}% of the measured cycles (busiest layer alone: "
         f"{report['critical_efficiency'] * 100:.1f}%, the cycles are "
         f"{1 / report['critical_efficiency']:.2f}x its bound)"),
        *([f"  early exit ({report['early_exit']}): {report['mean_steps']:.2f} steps/image of "
           f"T={report['T']}"] if report.get("early_exit") else []),
        f"  synops/image per layer: {[round(s) for s in report['synops_per_image']]}, "
        f"events/image per layer: {[round(e, 1) for e in report['events_per_image']]}",
        f"  wall time: build {report['build_seconds']:.0f} s"
        f"{' (cached)' if report['build_cached'] else ''}, simulation "
        f"{report['sim_seconds']:.0f} s, golden comparison {report['compare_seconds']:.0f} s",
    ]
    for m in report["first_mismatches"][:10]:
        lines.append(f"  mismatch: {m}")
    return "\n".join(lines)


def cmd_sim(args: argparse.Namespace) -> int:
    from augsnn.golden.evaluate import load_test_images
    from augsnn.golden.modelfile import load
    from augsnn.hw.engine import get_engine

    from . import accelerator as accel

    model = load(args.model)
    T = args.T if args.T is not None else int(model.meta.get("T") or 16)
    if T < 1 or T >= 2 ** 16:
        raise ValueError(f"--T must be between 1 and 65535, not {T}")
    if args.images < 1:
        raise ValueError(f"--images must be >= 1, not {args.images}")
    for opt in (args.json, args.save_outputs):
        if opt and not Path(opt).resolve().parent.is_dir():
            raise FileNotFoundError(f"output folder {Path(opt).parent} does not exist")
    engine = get_engine(args.engine)
    if args.lanes == "auto":
        from augsnn.hw.lanes.folding import auto_lanes
        args.lanes = auto_lanes(model, T, dataset=args.dataset)
    if args.taps != 1 and "taps" not in engine.options:
        raise ValueError(f"--taps does not apply to the {engine.title}")
    plan = engine.plan(model, **engine.select(                         # refuse before any work
        lanes=args.lanes, taps=args.taps, padding=not args.no_padding,
        memory_budget_bits=args.memory_budget_bits))
    print(plan.describe(), file=sys.stderr)
    args.lanes = plan.lanes
    args.taps = getattr(plan, "taps", 1)
    rule = None
    if args.early_exit:
        from augsnn.golden.early_exit import ExitRule
        rule = ExitRule.parse(args.early_exit)
        if not engine.early_exit:
            raise ValueError(f"--early-exit: the {engine.title} has no early exit")
        if args.uart:
            raise ValueError("--early-exit applies to the accelerator's simulation, not --uart")
    if args.uart:
        if args.taps != 1:
            raise ValueError("--taps applies to the accelerator's simulation, not --uart")
        if args.workers is not None:
            raise ValueError("--workers does not apply to --uart (one board design, one link)")
        return _cmd_uart(args, model, T)
    if args.workers is not None:
        return _cmd_sharded(args, model, T, engine, plan, rule)
    for opt in ("address", "chunk", "checkpoint", "resume"):
        if getattr(args, opt):
            raise ValueError(f"--{opt} needs --workers")
    x, y, idx = load_test_images(model, args.dataset, args.images, args.offset)
    t0 = time.time()
    bld = accel.build(model, lanes=args.lanes, trace=not args.no_trace,
                      padding=not args.no_padding, cache_dir=args.cache_dir, engine=args.engine,
                      taps=args.taps)
    t1 = time.time()
    run = accel.run_images(model, x, T, args.lanes, build=bld, progress=args.progress,
                           early_exit=rule)
    t2 = time.time()
    report = accel.compare(model, x, run, indices=idx, labels=y)
    t3 = time.time()
    report.update(build_seconds=round(t1 - t0, 1), build_cached=bld.cached,
                  build_dir=str(bld.dir), run_seconds=round(t2 - t1, 1),
                  compare_seconds=round(t3 - t2, 1), offset=args.offset, engine=engine.name,
                  cycle_model=f"{engine.cycles_name} of {engine.doc}",
                  memory_bits=plan.memory_bits())
    print(_table(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
        print(f"wrote {args.json}", file=sys.stderr)
    if args.save_outputs:
        accel.save_outputs(args.save_outputs, run, y, idx)
        print(f"wrote {args.save_outputs}", file=sys.stderr)
    return 0 if report["mismatches"] == 0 else 1


def _cmd_uart(args: argparse.Namespace, model, T: int) -> int:
    from augsnn.golden.evaluate import load_test_images

    from .board import run_uart
    x, y, idx = load_test_images(model, args.dataset, args.images, args.offset)
    t0 = time.time()
    r = run_uart(model, x, T, lanes=args.lanes, divisor=args.divisor, cache_dir=args.cache_dir,
                 engine=args.engine)
    acc = sum(a["class"] == int(label) for a, label in zip(r["answers"], y)) / len(y)
    cycles = r["cycles"]
    print(f"{model.name} over UART (divisor {args.divisor}, {args.engine} engine, "
          f"{lanes_text(args.lanes)} lanes): {len(x)} images, "
          f"T={T}: {len(r['mismatches'])} answers differ from the golden model "
          f"(class, counts, events per layer); accuracy {acc * 100:.2f}%; "
          f"cycles/image {sum(cycles) / len(cycles):,.0f}; bytes lost: {r['lost']}; "
          f"{time.time() - t0:.0f} s")
    for m in r["mismatches"][:10]:
        print(f"  mismatch: image {int(idx[m['image']])} {m['field']}: expected {m['expected']}, "
              f"got {m['actual']}")
    if args.json:
        Path(args.json).write_text(json.dumps({**r, "indices": idx.tolist(), "T": T,
                                               "accuracy": acc}, indent=1))
    return 0 if not r["mismatches"] and not r["lost"] else 1


def _cmd_sharded(args: argparse.Namespace, model, T: int, engine, plan, rule) -> int:
    """``--workers K``: the images sharded over Ray actors (augsnn.scaleout.shards)."""
    from types import SimpleNamespace

    from augsnn.golden.atomic import safe_component
    from augsnn.scaleout.shards import run_sharded

    from . import accelerator as accel
    if args.workers < 1:
        raise ValueError(f"--workers must be >= 1, not {args.workers}")
    folder = args.checkpoint or f"out/sim-chunks/{safe_component(model.name)}"
    options = {"lanes": args.lanes, "trace": not args.no_trace, "padding": not args.no_padding,
               "engine": args.engine}
    if args.taps != 1:
        options["taps"] = args.taps
    r = run_sharded(model, T=T, images=args.images, offset=args.offset, dataset=args.dataset,
                    options=options, workers=args.workers, checkpoint=folder,
                    resume=args.resume, chunk=args.chunk,
                    cache_dir=Path(args.cache_dir).resolve() if args.cache_dir else None,
                    address=args.address, progress=args.progress > 0, early_exit=rule)
    print(f"augsnn sim: {r.chunks} chunks: {len(r.resumed)} from checkpoints, "
          f"{len(r.simulated)} simulated on {args.workers} worker(s) in {r.seconds:.1f} s",
          file=sys.stderr)
    report = r.report
    report.update(build_seconds=r.build_seconds, build_cached=r.build_cached,
                  build_dir=r.build_dir, run_seconds=r.seconds,
                  compare_seconds=r.compare_seconds, offset=args.offset, engine=engine.name,
                  cycle_model=f"{engine.cycles_name} of {engine.doc}",
                  memory_bits=plan.memory_bits())
    print(_table(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
        print(f"wrote {args.json}", file=sys.stderr)
    if args.save_outputs:
        a = r.arrays
        run = SimpleNamespace(out=a["out"], pred=a["pred"], counts=a["counts"],
                              events=a["events"], cycles=a["cycles"], T=T, plan=plan)
        accel.save_outputs(args.save_outputs, run, a["label"], a["index"])
        print(f"wrote {args.save_outputs}", file=sys.stderr)
    return 0 if report["mismatches"] == 0 else 1
