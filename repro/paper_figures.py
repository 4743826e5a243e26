"""The paper's figures beside ours: Figs. 2 and 3 (error vs T and vs events), Fig. 6 (cosine
similarity of SNN output rates and ANN outputs) and Fig. 7 (boundary constraint M_aug).

Each writes its PNG into the ``img`` folder; Figs. 6 and 7 also return their table lines.
matplotlib is imported when a figure is drawn (Agg back end).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .curves import best_of, cosine_per_step, curve
from .paper_numbers import CIFAR_NETS, M_VALUES, NETS_HERE, NOT_MEASURED, PAPER_T3, pct
from .paper_run import Run, model_digest
from .variants import with_neurons

__all__ = ["figs23", "fig6", "fig7"]


def figs23(run: Run, curves: dict, img: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from augsnn.golden.evaluate import plot_accuracy
    for x, fname, fig_no in (("T", "paper_fig2_error_vs_T.png", 2),
                             ("events", "paper_fig3_error_vs_events.png", 3)):
        fig, axes = plt.subplots(2, 3, figsize=(15, 8))
        for ax, net in zip(axes.flat, NETS_HERE + CIFAR_NETS):
            if net not in run.nets + CIFAR_NETS:
                ax.set_axis_off()
                continue
            reps = [curves[net, m] for m in ("aug", "ter") if (net, m) in curves]
            p = PAPER_T3[net]
            marks = [{"x": p[m][1] if x == "T" else p[m][2], "accuracy": p[m][0],
                      "label": f"paper {m}", "color": c}
                     for m, c in (("aug", "tab:blue"), ("ter", "tab:orange"))]
            if not reps:
                ax.text(0.5, 0.5, f"{net}: {NOT_MEASURED}\n(stars: the paper's latency/events)",
                        ha="center", va="center", transform=ax.transAxes, fontsize=8)
            plot_accuracy(reps, title=f"Fig. {fig_no}: {net}", ax=ax, x=x, marks=marks)
        fig.tight_layout()
        fig.savefig(img / fname, dpi=100)
        plt.close(fig)



def fig6(run: Run, img: Path) -> tuple[list[str], dict]:
    """Cosine similarity of SNN output rates with ANN outputs over T (deepest net here)."""
    from augsnn.golden.ann import to_float_layers
    from augsnn.golden.convert import ann_forward
    from augsnn.golden.network import simulate
    net = next(n for n in ("net4", "net2", "net1", "net3") if n in run.nets)
    results = {}
    for method, (T, n) in (("aug", run.s.f6_aug), ("ter", run.s.f6_ter)):
        model, tnet = run.converted(net, method)

        def go(model=model, tnet=tnet, T=T, n=n):
            x, _ = run.data(model.meta["dataset"])
            run.say(f"Fig. 6: simulating {model.name}: {n} images, T={T}")
            logits = ann_forward(to_float_layers(tnet), x[:n])
            res = simulate(model, x[:n], T, progress=run.progress)
            return [float(c) for c in cosine_per_step(res.out, logits)]
        results[method] = run.cached(f"fig6|{model_digest(model)}|{n}|{T}", go)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    for method, label in (("aug", "AugMapping"), ("ter", "TerMapping")):
        cos = results[method]
        ax.plot(np.arange(1, len(cos) + 1), cos, label=f"{net} {label} (ours)")
    ax.axhline(1.0, ls=":", color="k", label="perfect match")
    ax.set_xscale("log")
    ax.set_xlabel("time steps T")
    ax.set_ylabel("cosine similarity (Eq. 14)")
    ax.set_title(f"Fig. 6: SNN output rate vs ANN output, {net} "
                 "(paper: Net5, both approach 1)", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(img / "paper_fig6_cosine.png", dpi=120)
    plt.close(fig)
    lines = ["| T | " + " | ".join(f"{net} {m}" for m in ("aug", "ter")) + " |", "|---|---|---|"]
    for t in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000, 1500):
        cells = [f"{results[m][t - 1]:.4f}" if t <= len(results[m]) else "" for m in ("aug", "ter")]
        if any(cells):
            lines.append(f"| {t} | " + " | ".join(cells) + " |")
    return lines, {"net": net, "aug": run.s.f6_aug, "ter": run.s.f6_ter, "cos": results}


def fig7(run: Run, img: Path) -> tuple[list[str], dict]:
    """Accuracy fraction vs M_aug at the best T of each AugMapping model."""
    res = {}
    for net in run.nets:
        m = run.manifest(net, "aug")
        model = run.zoo_model(net, "aug")
        if m is None or model is None:
            continue
        T = best_of(curve(m))[1]
        if run.s.quick:  # a pipeline check: at most Fig. 6's AugMapping steps
            T = min(T, run.s.f6_aug[0])
        n = min(run.s.f7_images, 10000)
        ref = run.evaluate(with_neurons(model, coef_bits=16), n, T, " (M unconstrained)")
        ref_acc = ref["accuracy_per_step"][-1]
        fr = []
        for M in M_VALUES:
            bits = int(M + 1).bit_length()
            rep = run.evaluate(with_neurons(model, coef_bits=bits), n, T, f" (M={M})")
            fr.append(rep["accuracy_per_step"][-1] / ref_acc)
        res[net] = {"T": T, "images": n, "unconstrained": ref_acc, "fraction": fr}
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    for net, r in res.items():
        ax.plot(M_VALUES, r["fraction"], marker="o", label=f"{net} (T={r['T']})")
    ax.axvline(40, ls=":", color="k", label="paper: M_aug ≈ 40 is close to unconstrained")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("M_aug (largest spike coefficient)")
    ax.set_ylabel("accuracy / unconstrained accuracy")
    ax.set_title("Fig. 7: boundary constraint on augmented spikes (ours)", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(img / "paper_fig7_maug.png", dpi=120)
    plt.close(fig)
    lines = ["| network | T | images | unconstrained acc. | " + " | ".join(f"M={M}" for M in M_VALUES)
             + " |", "|---" * (4 + len(M_VALUES)) + "|"]
    for net, r in res.items():
        lines.append(f"| {net} | {r['T']} | {r['images']:,} | {pct(r['unconstrained'])} | "
                     + " | ".join(f"{f:.4f}" for f in r["fraction"]) + " |")
    return lines, res
