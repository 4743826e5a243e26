"""Where we differ from the paper: one line per difference above 0.3 points of accuracy or 2x
in latency/events, with the measured reason or our best explanation.
"""

from __future__ import annotations

from .curves import best_of
from .paper_numbers import PAPER_T2, PAPER_T3, PAPER_T4, pct

__all__ = ["ANN_NOTES", "differences"]

ANN_NOTES = {"net3": "Recipes measured on the full test set are in docs/net3-recipes.md (89.11% "
                     "to 89.42% with plain Adam at 20-60 epochs; 90.2-90.5% with 80-100 epochs, "
                     "label smoothing, weight decay and a weight average).",
             "net4": "Measured: 91.54% after 10 epochs, 91.76% after 15 (+ flips; the shipped one)."}


def differences(t3_curves: dict, t2: dict, t4: dict | None = None) -> list[str]:
    out, seen = [], set()
    for (net, method), c in sorted(t3_curves.items()):
        p = PAPER_T3[net]
        pa, pt, pe = p[method]
        acc, t, ev = best_of(c)
        label = "AugMapping" if method == "aug" else "TerMapping"
        if abs(c["ann_accuracy"] - p["ann"]) > 0.003 and net not in seen:
            seen.add(net)
            out.append(f"- {net}: our ANN {pct(c['ann_accuracy'])} on the {label} images "
                       f"vs the paper's {pct(p['ann'])}. Our recipe (Adam, one-cycle, seed 0, no "
                       "bias; `golden/ann.py` NETS) is not the paper's, which is not given. "
                       + ANN_NOTES.get(net, "The SNN follows its own ANN, see its loss."))
        if abs(acc - pa) > 0.003:
            own = acc - c["ann_accuracy"]
            a_all = c["accuracy_per_step"]
            rise = (a_all[-1] - a_all[max(0, len(a_all) - 9)]) * 100
            why = (f"the SNN's best is above its own ANN: the best of {len(c['accuracy_per_step'])} "
                   "per-step accuracies is an optimistic pick on a finite test set, and the "
                   "integer SNN is not the float ANN, so it can land on either side."
                   if own > 0.003 else
                   "so the gap comes from the ANN on these images." if own > -0.003 else
                   f"the SNN has not converged: our run stops at T={len(a_all)} and the curve still "
                   f"rises ({rise:+.2f} points over its last 8 steps); the paper needs T={pt}.")
            out.append(f"- {net} {label}: best SNN {pct(acc)} vs paper {pct(pa)}; against our own "
                       f"ANN on the same images ({pct(c['ann_accuracy'])}) the difference is "
                       f"{own * 100:+.2f} points, {why}")
        ratio = t / pt
        n_img = c["images"]
        if ratio > 2 or ratio < 0.5:
            at_p = (c["accuracy_per_step"][pt - 1] if pt <= len(c["accuracy_per_step"]) else None)
            extra = (f" Measured: our accuracy at the paper's T={pt} is {pct(at_p)}."
                     if at_p is not None else
                     f" The paper's T={pt} is beyond our evaluated range (T ≤ {len(c['accuracy_per_step'])}).")
            if method == "aug":
                why = ("Latency is the first T reaching the best accuracy; after the curve reaches "
                       "its plateau the best moves by ±0.01–0.1 points with noise on a finite test "
                       "set, so this T is ill-conditioned (the early-decision T of Table IV is the "
                       "stable measure).")
            elif ratio < 0.5:
                why = (f"Our TerMapping reaches its best sooner. Latency is the first T at which the "
                       f"best accuracy on our {n_img:,} images is reached, i.e. the step at which the "
                       f"slowest of them settles: a maximum over images, which grows with their "
                       f"number (the paper uses all 10,000; one image is "
                       f"{100 / n_img:.2g} point{'' if n_img == 100 else 's'} here). Table IV's "
                       "tolerance T are the steadier measure.")
            else:
                why = ("TerMapping needs hundreds of steps; our run ends at the stated T_max on a "
                       "subset.")
            out.append(f"- {net} {label}: latency {t} vs paper {pt} ({ratio:.2g}×). {why}{extra}")
        eratio = ev / pe
        if eratio > 2 or eratio < 0.5:
            counted = ("our events count every non-zero coefficient of every layer, output "
                       "included (an augmented spike is one event).")
            if 0.5 <= ratio <= 2:
                why = (f"Not a latency effect (T {t} vs {pt}). Events per image follow how many "
                       "neurons are active per step, which depends on the trained ANN's "
                       "activations (our recipe is not the paper's) and the thresholds; the paper "
                       "gives no per-layer counts to compare. " + counted[0].upper() + counted[1:])
            else:
                per_t = c["events_per_image"]
                at_p = (f" At the paper's T={pt} ours are {per_t[pt - 1]:,.0f} events/image "
                        f"({per_t[pt - 1] / pe:.2g}× the paper's)." if pt <= len(per_t) else "")
                why = (f"Events grow about linearly with T (Fig. 3), so this follows the latency "
                       f"difference (T {t} vs {pt}); {counted}{at_p}")
            out.append(f"- {net} {label}: {ev:,.0f} events/image at T={t} vs paper {pe:,.0f} "
                       f"({eratio:.2g}×). {why}")
    for net, (lat, evs, tpairs) in sorted((t4 or {}).items()):
        pl, pe = PAPER_T4[net]
        off = [i for i, (a, b) in enumerate(zip(pl, lat)) if b is not None and not 0.5 <= b / a <= 2]
        offe = [i for i, (a, b) in enumerate(zip(pe, evs)) if b is not None and not 0.5 <= b / a <= 2]
        if not off and not offe:
            continue
        tol = ("<1%", "<0.1%", "0%")
        pt_ter, pt_aug = PAPER_T3[net]["ter"][1], PAPER_T3[net]["aug"][1]
        parts = []
        if off:
            parts.append("latency reduction " + ", ".join(
                f"{tol[i]}: {lat[i]:.1f}× vs {pl[i]}×" for i in off))
        if offe:
            parts.append("events reduction " + ", ".join(
                f"{tol[i]}: {evs[i]:.1f}× vs {pe[i]}×" for i in offe))
        steps = ", ".join(f"{tol[i]} T={a} / {b}" for i, (a, b) in enumerate(tpairs) if a and b)
        out.append(
            f"- Table IV {net}: {'; '.join(parts)}. The ratios are T_ter/T_aug and "
            f"events_ter/events_aug, so they move with whichever side differs from the paper. Ours "
            f"(AugMapping / TerMapping): {steps}; the paper's best-accuracy latencies (Table III) "
            f"are {pt_aug} / {pt_ter}. "
            + ("Our TerMapping settles far sooner than the paper's (its latency is more than 2× "
               "shorter, see Table III above), which shrinks both ratios; "
               if t3_curves.get((net, "ter")) and best_of(t3_curves[net, "ter"])[1] * 2 < pt_ter else "")
            + ("an events ratio below 1× means our TerMapping, with ternary spikes, spent fewer "
               "events than AugMapping to reach that tolerance."
               if any(e is not None and e < 1 for e in evs) else ""))
    for (net, method), (ann_acc, acc, t, n, t_max) in sorted(t2.items()):
        pa, ps = PAPER_T2[net][method]
        if abs(acc - ps) > 0.003:
            own = acc - ann_acc
            why = ("so the gap comes from the ANN (and the image subset)" if own > -0.003 else
                   f"the SNN stays {-own * 100:.2f} points below its own ANN within T ≤ "
                   f"{t_max}")
            out.append(f"- Table II {net} {method}: SNN {pct(acc)} vs paper {pct(ps)}; our ANN "
                       f"has {pct(ann_acc)} on the same {n:,} images (SNN {own * 100:+.2f} "
                       f"points against it), {why}. The paper's ANN for this row has {pct(pa)}.")
    return out
