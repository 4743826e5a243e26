"""``augsnn eval``: golden-model accuracy vs T, events, synops; JSON, PNG and per-image output.

The evaluation itself is :func:`evaluate`, a plain function used by the CLI, the docs
generators and the benchmarks alike.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from .model import Model
from .network import RunResult, simulate

__all__ = ["evaluate", "report_table", "save_outputs", "plot_accuracy", "register_eval"]


def evaluate(model: Model, images, labels, T: int, *, indices=None, progress: bool = False,
             batch_size: int | None = None) -> tuple[dict, RunResult]:
    """Run the golden model and summarise accuracy, events and synops per step.

    Returns ``(report, result)``; ``report`` is JSON-able. ``events_per_image[t]`` and
    ``synops_per_image[t]`` are cumulative over steps ``0..t`` (all weighted layers), averaged
    over the images. ``indices`` (test-set indices of the images, default ``0..N-1``) let the
    report give the source ANN's accuracy on exactly these images (``ann_accuracy``), when the
    model file records it; ``ann_accuracy_full`` is the ANN's on the whole test set.
    """
    labels = np.asarray(labels)
    t0 = time.time()
    res = simulate(model, images, T, progress=progress, batch_size=batch_size)
    seconds = time.time() - t0
    acc = res.accuracy_per_step(labels)
    n = len(labels)
    ev_layer = res.events.sum(axis=2) / n  # (L, T)
    sy_layer = res.synops.sum(axis=2) / n
    ann_full = model.meta.get("ann_accuracy")
    ann = ann_full
    from .model import ann_correct_mask
    mask = ann_correct_mask(model)
    if mask is not None:
        idx = np.arange(n) if indices is None else np.asarray(indices)
        if len(mask) > int(idx.max()):
            ann = float(mask[idx].mean())
    best = int(np.argmax(acc))  # first step reaching the best accuracy
    report = {
        "model": model.name, "method": model.method, "dataset": model.meta.get("dataset"),
        "images": n, "T": T, "ann_accuracy": ann, "ann_accuracy_full": ann_full,
        "accuracy_per_step": [float(a) for a in acc],
        "events_per_image": [float(e) for e in np.cumsum(ev_layer.sum(0))],
        "synops_per_image": [float(s) for s in np.cumsum(sy_layer.sum(0))],
        "events_per_layer_per_image": [float(e) for e in ev_layer.sum(1)],
        "synops_per_layer_per_image": [float(s) for s in sy_layer.sum(1)],
        "best": {"T": best + 1, "accuracy": float(acc[best]),
                 "events_per_image": float(ev_layer[:, :best + 1].sum())},
        "seconds": round(seconds, 2), "images_per_second": round(n / seconds, 2),
    }
    if ann is not None:
        within = {}
        for tol in (0.01, 0.001, 0.0):
            hit = np.nonzero(acc >= ann - tol - 1e-12)[0]
            within[str(tol)] = None if hit.size == 0 else int(hit[0]) + 1
        report["first_T_within_loss_of_ann"] = within
    return report, res


def early_exit_report(res: RunResult, labels, rule) -> dict:
    """Accuracy, steps, events and synops per image under an early-exit ``rule``."""
    from .early_exit import apply
    ex = apply(res, rule)
    T = res.out.shape[0]
    return {"margin": rule.margin, "t_min": rule.t_min, "t_max": int(T),
            "accuracy": float((ex.pred == np.asarray(labels)).mean()),
            "accuracy_fixed_T": float((res.pred == np.asarray(labels)).mean()),
            "mean_steps": float(ex.steps.mean()),
            "steps_histogram": np.bincount(ex.steps, minlength=T + 1)[1:].tolist(),
            "events_per_image": float(ex.events.sum(axis=0).mean()),
            "synops_per_image": float(ex.synops.sum(axis=0).mean()),
            "synops_per_layer_per_image": [float(v) for v in ex.synops.mean(axis=1)]}


def early_exit_line(r: dict, T: int) -> str:
    return (f"early exit (margin {r['margin']}, t_min {r['t_min']}, t_max {T}): accuracy "
            f"{r['accuracy'] * 100:.2f}% (fixed T: {r['accuracy_fixed_T'] * 100:.2f}%), mean steps "
            f"{r['mean_steps']:.2f}, events/image {r['events_per_image']:,.0f}, synops/image "
            f"{r['synops_per_image']:,.0f}")


def _report_steps(T: int) -> list[int]:
    steps = sorted({t for t in (1, 2, 4, 8, 12, 16, 20, 24, 32, 48, 64, 96, 128, 192, 256, 384,
                                512, 768, 1000, 1024, 1500, 2048, 3000, 4096) if t <= T} | {T})
    return steps


def report_table(report: dict) -> str:
    """A readable accuracy/events vs T table."""
    lines = [f"{report['model']} ({report['method']}) on {report['images']} "
             f"{report['dataset'] or ''} images",
             f"{'T':>6} {'accuracy':>9} {'events/img':>11} {'synops/img':>12}"]
    for t in _report_steps(report["T"]):
        lines.append(f"{t:6d} {report['accuracy_per_step'][t - 1] * 100:8.2f}% "
                     f"{report['events_per_image'][t - 1]:11.0f} "
                     f"{report['synops_per_image'][t - 1]:12.0f}")
    if report.get("ann_accuracy") is not None:
        lines.append(f"ANN accuracy {report['ann_accuracy'] * 100:.2f}% on these images; "
                     "first T within 1% / "
                     f"0.1% / 0 of it: {report['first_T_within_loss_of_ann']}")
    b = report["best"]
    lines.append(f"best {b['accuracy'] * 100:.2f}% at T={b['T']} "
                 f"({b['events_per_image']:.0f} events/image); "
                 f"{report['images_per_second']:.1f} images/s")
    return "\n".join(lines)


def save_outputs(path, res: RunResult, labels, indices) -> None:
    """Per-image outputs for comparison with other simulators (``augsnn sim`` writes the same).

    Arrays: ``index`` (test-set index), ``label``, ``pred`` (final decision), ``counts``
    (final accumulated output coefficients, ``(N, classes)``), ``out`` (output coefficients per
    step, ``(T, N, classes)``), ``events`` (per weighted layer, summed over steps, ``(L, N)``).
    """
    np.savez_compressed(path, index=np.asarray(indices), label=np.asarray(labels),
                        pred=res.pred.astype(np.int64), counts=res.counts, out=res.out,
                        events=res.events.sum(axis=1))


def plot_accuracy(reports: list[dict], path=None, *, title: str | None = None, ax=None,
                  x: str = "T", marks: list[dict] | None = None) -> None:
    """Error vs T (log-log) for one or more reports, with the ANN accuracy dotted (Fig. 2).

    With ``x="events"`` the x axis is the cumulative events per image (``events_per_image``
    of each report; Fig. 3). ``marks``: extra points ``{"x", "accuracy", "label"}`` drawn as
    stars (e.g. the paper's figure). With ``ax`` the plot goes onto that matplotlib axes and
    nothing is saved; otherwise a PNG is written to ``path``.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    if x not in ("T", "events"):
        raise ValueError(f"x must be 'T' or 'events', not {x!r}")
    own = ax is None
    if own:
        fig, ax = plt.subplots(figsize=(6, 4))
    for r in reports:
        acc = np.asarray(r["accuracy_per_step"]) * 100
        xs = (np.arange(1, len(acc) + 1) if x == "T"
              else np.maximum(np.asarray(r["events_per_image"][:len(acc)], dtype=float), 1))
        err = np.maximum(100 - acc, 1e-2)  # a log axis cannot show 0% error
        line, = ax.plot(xs, err, label=f"{r['model']}")
        if r.get("ann_accuracy") is not None:
            ax.axhline(max(100 - r["ann_accuracy"] * 100, 1e-2), ls=":", color=line.get_color())
    for m in marks or []:
        ax.plot([m["x"]], [max(100 - m["accuracy"] * 100, 1e-2)], marker="*", ms=11, ls="none",
                color=m.get("color", "k"), label=m.get("label"))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("time steps T" if x == "T" else "events per image")
    ax.set_ylabel("test error (%)")
    ax.set_title(title or f"error vs {x} (dotted: ANN)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    if own:
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)


def register_eval(sub) -> None:
    p = sub.add_parser("eval", help="golden-model accuracy vs T and events of a model file")
    p.add_argument("model", help="model file (.npz) or zoo name (net1-aug, net2-ter, ...)")
    p.add_argument("--T", type=int, default=None, help="time steps (default: the model's own)")
    p.add_argument("--images", type=int, default=None, help="first N test images (default: all)")
    p.add_argument("--offset", type=int, default=0, help="index of the first test image")
    p.add_argument("--dataset", help="data set (default: the model's)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="most images simulated together (default: sized for the cache)")
    p.add_argument("--json", help="write the report as JSON")
    p.add_argument("--plot", help="write a PNG of error vs T")
    p.add_argument("--save-outputs", help="write per-image outputs (.npz)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--early-exit", metavar="MARGIN[,T_MIN]",
                   help="also report per-image early exit: an image stops once its leading "
                        "output count is MARGIN ahead of the runner-up after at least T_MIN "
                        "steps (default 1), else at --T (docs/golden-model.md)")
    p.set_defaults(func=cmd_eval)


def load_test_images(model: Model, dataset: str | None, images: int | None, offset: int = 0):
    """The model's test images ``offset .. offset+images`` as ``(images, labels, indices)``."""
    from .datasets import load_dataset
    dataset = dataset or model.meta.get("dataset")
    if dataset is None:
        raise ValueError("the model file names no data set: pass --dataset")
    x, y = load_dataset(dataset, "test")
    if offset < 0 or offset >= len(x):
        raise ValueError(f"--offset must be in [0, {len(x) - 1}], not {offset}")
    n = len(x) - offset if images is None else images
    if n < 1 or offset + n > len(x):
        raise ValueError(f"--images must be in [1, {len(x) - offset}], not {images}")
    idx = np.arange(offset, offset + n)
    return x[idx], y[idx], idx


def cmd_eval(args) -> int:
    from .modelfile import load
    model = load(args.model)
    T = args.T or model.meta.get("T") or 64
    if T < 1:
        raise ValueError(f"--T must be >= 1, not {T}")
    for opt in (args.json, args.plot, args.save_outputs):
        if opt and not Path(opt).parent.is_dir():
            raise FileNotFoundError(f"output folder {Path(opt).parent} does not exist")
    rule = None
    if getattr(args, "early_exit", None):
        from .early_exit import ExitRule
        rule = ExitRule.parse(args.early_exit)
        if model.output != "spiking":
            raise ValueError(f"--early-exit needs a spiking output layer; {model.name} has "
                             f"output {model.output!r}")
    x, y, idx = load_test_images(model, args.dataset, args.images, args.offset)
    report, res = evaluate(model, x, y, T, indices=idx, progress=not args.no_progress,
                           batch_size=args.batch_size)
    print(report_table(report))
    if rule is not None:
        report["early_exit"] = early_exit_report(res, y, rule)
        print(early_exit_line(report["early_exit"], T))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
        print(f"wrote {args.json}", file=sys.stderr)
    if args.plot:
        plot_accuracy([report], args.plot)
        print(f"wrote {args.plot}", file=sys.stderr)
    if args.save_outputs:
        save_outputs(args.save_outputs, res, y, idx)
        print(f"wrote {args.save_outputs}", file=sys.stderr)
    return 0
