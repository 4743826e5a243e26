"""The paper's tables beside ours: Table II (DataNorm vs TerMapping), Table III (conversion
results), Table IV (early decision) and Section E (role of double-threshold firing).

Each function takes the :class:`~augsnn.repro.paper_run.Run` and returns the table's
Markdown lines and the measured values the other sections need.
"""

from __future__ import annotations

from .curves import best_of, curve, first_T
from .paper_numbers import (CIFAR_NETS, LOSSES, NETS_HERE, NOT_MEASURED, PAPER_E, PAPER_T2,
                            PAPER_T3, PAPER_T4, num, pct)
from .paper_run import Run
from .variants import with_neurons

__all__ = ["table2", "table3", "table4", "section_e"]


def table3(run: Run) -> tuple[list[str], dict]:
    lines = ["| network | ANN acc. (paper / ours) | method | SNN acc. (paper / ours) | "
             "latency T (paper / ours) | events/image (paper / ours) | our test images |",
             "|---|---|---|---|---|---|---|"]
    curves = {}
    for net in run.nets + CIFAR_NETS:
        p = PAPER_T3[net]
        for method, label in (("ter", "TerMapping"), ("aug", "AugMapping")):
            pa, pt, pe = p[method]
            m = run.manifest(net, method) if net in NETS_HERE else None
            if m is None:
                why = NOT_MEASURED if net in CIFAR_NETS else f"not measured: no zoo entry {net}-{method}"
                lines.append(f"| {net} | {pct(p['ann'])} / — | {label} | {pct(pa)} / — | {pt} / — "
                             f"| {num(pe)} / — | {why} |")
                continue
            c = curve(m)
            curves[net, method] = c
            acc, t, ev = best_of(c)
            lines.append(f"| {net} | {pct(p['ann'])} / {pct(m['ann_accuracy'])} | {label} | "
                         f"{pct(pa)} / {pct(acc)} | {pt} / {t} | {num(pe)} / {num(ev)} | "
                         f"first {c['images']:,} (ANN {pct(c['ann_accuracy'])} on them), "
                         f"T ≤ {len(c['accuracy_per_step'])} |")
    return lines, curves


def table4(run: Run, curves: dict) -> tuple[list[str], dict]:
    head = ["| network | images | T aug / ter (<1%, <0.1%, 0%) | latency reduction (paper / ours) "
            "| events reduction (paper / ours) |", "|---|---|---|---|---|"]
    rows, found = [], {}
    for net in run.nets:
        if (net, "aug") not in curves or (net, "ter") not in curves:
            rows.append(f"| {net} | — | not measured: zoo entries missing | — | — |")
            continue
        ter = curves[net, "ter"]
        aug = curves[net, "aug"]
        n_img = ter["images"]
        if run.s.same_images and aug["images"] != n_img:
            model = run.zoo_model(net, "aug")
            rep = run.evaluate(model, n_img, len(aug["accuracy_per_step"]), " (Table IV)")
            aug = {"model": model.name, "accuracy_per_step": rep["accuracy_per_step"],
                   "events_per_image": rep["events_per_image"], "ann_accuracy": rep["ann_accuracy"],
                   "images": n_img}
        same = aug["images"] == n_img
        ts, lat, evs, tpairs = [], [], [], []
        for loss in LOSSES:
            ta = first_T(aug["accuracy_per_step"], aug["ann_accuracy"], loss)
            tt = first_T(ter["accuracy_per_step"], ter["ann_accuracy"], loss)
            ts.append(f"{ta or '—'} / {tt or '—'}")
            tpairs.append((ta, tt))
            if ta and tt:
                lat.append(tt / ta)
                evs.append(ter["events_per_image"][tt - 1] / max(aug["events_per_image"][ta - 1], 1))
            else:
                lat.append(None)
                evs.append(None)
        found[net] = (lat, evs, tpairs)
        pl, pe = PAPER_T4[net]

        def fmt(paper, ours):
            return ", ".join(f"{a}× / " + ("—" if b is None else f"{b:.1f}×")
                             for a, b in zip(paper, ours))
        imgs = f"first {n_img:,}" if same else f"aug {aug['images']:,}, ter {n_img:,}"
        rows.append(f"| {net} | {imgs} | {'; '.join(ts)} | {fmt(pl, lat)} | {fmt(pe, evs)} |")
    rows += [f"| {n} | — | {NOT_MEASURED} | paper: <1.5%/<1%/<0.5%: "
             + ("6.3×, 6×, 8.7×" if n == "net5" else "7×, —, —") + " / — | "
             + ("0.9×, 0.8×, 1.2×" if n == "net5" else "2.3×, —, —") + " / — |" for n in CIFAR_NETS]
    return head + rows, found


def table2(run: Run) -> tuple[list[str], dict]:
    lines = ["| network | method | ANN acc. (paper / ours) | SNN acc. (paper / ours) | "
             "our T of best | our images |", "|---|---|---|---|---|---|"]
    out = {}
    for net in (n for n in ("net1", "net2") if n in run.nets):
        for method in ("datanorm", "ter"):
            pa, ps = PAPER_T2[net][method]
            label = "DataNorm (ReLU ANN)" if method == "datanorm" else "TerMapping"
            if method == "ter":
                m = run.manifest(net, "ter")
                if m is None:
                    lines.append(f"| {net} | {label} | {pct(pa)} / — | {pct(ps)} / — | — | "
                                 f"no zoo entry |")
                    continue
                c = curve(m)
                acc, t, _ = best_of(c)
                ann_acc, n = c["ann_accuracy"], c["images"]
            else:
                model, _ = run.converted(net, "datanorm", act="relu")
                n = min(run.s.t2_images, 10000)
                rep = run.evaluate(model, n, run.s.t2_T)
                c = {"accuracy_per_step": rep["accuracy_per_step"],
                     "events_per_image": rep["events_per_image"]}
                acc, t, _ = best_of(c)
                ann_acc = rep["ann_accuracy"]
            out[net, method] = (ann_acc, acc, t, n, len(c["accuracy_per_step"]))
            lines.append(f"| {net} | {label} | {pct(pa)} / {pct(ann_acc)} | {pct(ps)} / "
                         f"{pct(acc)} | {t} | first {n:,} |")
    return lines, out


def section_e(run: Run) -> tuple[list[str], dict]:
    from augsnn.golden.ann import to_float_layers
    from augsnn.golden.convert import ann_forward
    lines = ["| network | ANN acc. | ANN, negative activations suppressed | AugMapping SNN "
             "(T) | without negative threshold | TerMapping SNN (T) | without negative threshold |",
             "|---|---|---|---|---|---|---|"]
    res = {}
    for net in run.nets:
        row = {}
        try:
            _, tnet = run.converted(net, "aug")
        except (FileNotFoundError, ValueError) as exc:
            lines.append(f"| {net} | — | {exc} | | | | |")
            continue
        layers = to_float_layers(tnet)
        from augsnn.golden import ann
        dataset = ann.NETS[net][1]
        x, y = run.data(dataset)
        n_ann = len(y) if not run.s.quick else 2000

        def ann_acc(suppress, layers=layers, x=x, y=y, n=n_ann):
            ls = [{"type": "relu"} if (suppress and l["type"] == "leaky_relu") else l for l in layers]
            return float((ann_forward(ls, x[:n]).argmax(1) == y[:n]).mean())
        ck = run.checkpoint(net)
        key = f"annE|{net}|{ck}|{ck.stat().st_mtime}|{n_ann}"
        row["ann"] = run.cached(key + "|0", lambda: ann_acc(False))
        row["ann_suppressed"] = run.cached(key + "|1", lambda: ann_acc(True))
        for method, n in (("aug", run.s.e_images), ("ter", run.s.e_ter_images)):
            m, model = run.manifest(net, method), run.zoo_model(net, method)
            if m is None or model is None:
                row[method] = None
                continue
            T = best_of(curve(m))[1]
            if run.s.quick:  # a pipeline check: Fig. 6's step counts bound the runs
                T = min(T, (run.s.f6_aug if method == "aug" else run.s.f6_ter)[0])
            full = run.evaluate(model, n, T)["accuracy_per_step"][-1]
            single = run.evaluate(with_neurons(model, double=False), n, T,
                                  " (no negative threshold)")["accuracy_per_step"][-1]
            row[method] = (full, single, T, n)
        res[net] = row

        def snn(v):
            return ("— | —" if v is None else
                    f"{pct(v[0])} (T={v[2]}, {v[3]:,} images) | {pct(v[1])}")
        lines.append(f"| {net} | {pct(row['ann'])} | {pct(row['ann_suppressed'])} | "
                     f"{snn(row['aug'])} | {snn(row['ter'])} |")
    for net in CIFAR_NETS:
        a, g, t = PAPER_E[net]
        lines.append(f"| {net} | paper {pct(PAPER_T3[net]['ann'])} | paper {a} | "
                     f"paper {pct(PAPER_T3[net]['aug'][0])} | paper {g} | paper "
                     f"{pct(PAPER_T3[net]['ter'][0])} | paper {t} |")
    return lines, res
