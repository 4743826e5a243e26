"""``augsnn paper``: the paper's tables and figures, regenerated with our integer golden model.

Writes ``docs/results.md`` and its PNGs (``docs/img/paper_*.png``), every number beside the
paper's (Yu et al., Tables II-IV, Figs. 2, 3, 6, 7, Section E). Sources:

- Table III, Table IV, Figs. 2/3: the zoo manifests (``golden/zoo/<net>-<method>.json``,
  written by ``augsnn zoo build``), or with ``--rebuild`` a fresh ``zoo build`` into the work
  folder. Table IV re-simulates the AugMapping model on TerMapping's test images (full run).
- Table II: DataNorm on ReLU ANNs (``augsnn train netN --act relu``), TerMapping from the zoo.
- Fig. 6, Section E (ANN): the float checkpoints; Fig. 7, Section E (SNN): the zoo models.

Checkpoints are looked up in the work folder, then in ``--checkpoints`` (default ``out/zoo``,
where ``augsnn zoo build`` leaves them), and trained into the work folder when missing.
``--quick`` trains a missing checkpoint for 1 epoch on a few thousand images and simulates
small subsets: it checks the pipeline in minutes; its numbers are not a reproduction.
Simulation results are cached in ``<workdir>/cache`` keyed by model content and settings.

This module assembles the page; the sections are in ``paper_tables``, ``paper_figures`` and
``paper_differences``, the run (cache, checkpoints, simulations) in ``paper_run``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from augsnn.golden.modelfile import ZOO_DIR

from .curves import first_T
from .paper_differences import differences
from .paper_figures import fig6, fig7, figs23
from .paper_numbers import NETS_HERE, NOT_MEASURED, PAPER_T3, pct
from .paper_run import FULL, QUICK, Run
from .paper_tables import section_e, table2, table3, table4
from .runinfo import command_line, machine
from .zoo import build

__all__ = ["run"]


def run(*, workdir: Path, docs: Path, quick: bool = False, checkpoints: Path | None = None,
        zoo_dir: Path = ZOO_DIR, rebuild: bool = False, progress: bool = True,
        nets=NETS_HERE, log=sys.stderr) -> Path:
    """Regenerate ``docs/results.md`` and ``docs/img/paper_*.png``; return the page's path."""
    settings = QUICK if quick else FULL
    workdir.mkdir(parents=True, exist_ok=True)
    img = docs / "img"
    img.mkdir(parents=True, exist_ok=True)
    bad = sorted(set(nets) - set(NETS_HERE))
    if bad or not nets:
        raise ValueError(f"nets must be among {', '.join(NETS_HERE)}, not {bad or nets}")
    r = Run(workdir, settings, checkpoints=checkpoints, zoo_dir=zoo_dir, progress=progress,
            nets=nets, log=log)
    if rebuild:
        r.zoo_dir = workdir / "zoo"
        for net in r.nets:
            if not (r.zoo_dir / f"{net}-ter.json").is_file():
                ck = r.checkpoint(net)
                build(net, ["aug", "ter"], workdir=workdir, checkpoint=str(ck), out_dir=r.zoo_dir,
                      log=log)
    timings = {}

    def timed(name, fn, *a):
        t0 = time.time()
        r.say(f"{name} ...")
        v = fn(*a)
        timings[name] = time.time() - t0
        return v
    t3, curves = timed("Table III", table3, r)
    timed("Figs. 2, 3", figs23, r, curves, img)
    t4, t4res = timed("Table IV", table4, r, curves)
    t2, t2res = timed("Table II", table2, r)
    f6 = timed("Fig. 6", fig6, r, img)
    f7, _ = timed("Fig. 7", fig7, r, img)
    te, _ = timed("Section E", section_e, r)
    page = _page(r, settings, t2, t3, t4, f6, f7, te, differences(curves, t2res, t4res), curves,
                 timings, rebuild)
    out = docs / "results.md"
    out.write_text(page)
    r.say(f"wrote {out}")
    return out


def _bar(curves: dict) -> list[str]:
    lines = ["| network | paper ANN | our ANN (full test set) | ANN bar (≥ paper − 0.5) | "
             "AugMapping T ≤ paper's with SNN ≥ own ANN − 0.1 (full test set) | verdict |",
             "|---|---|---|---|---|---|"]
    for net in ("net3", "net4"):
        c = curves.get((net, "aug"))
        if c is None:
            lines.append(f"| {net} | {pct(PAPER_T3[net]['ann'])} | — | — | — | not measured |")
            continue
        ann_ok = c["ann_accuracy"] >= PAPER_T3[net]["ann"] - 0.005
        T = first_T(c["accuracy_per_step"], c["ann_accuracy"], 0.001)
        snn_ok = T is not None and T <= PAPER_T3[net]["aug"][1] and c["images"] == 10000
        snn = ("never within T ≤ " + str(len(c["accuracy_per_step"])) if T is None else
               f"T={T}: {pct(c['accuracy_per_step'][T - 1])} (paper T={PAPER_T3[net]['aug'][1]})")
        lines.append(f"| {net} | {pct(PAPER_T3[net]['ann'])} | {pct(c['ann_accuracy'])} "
                     f"({c['images']:,} images) | {'yes' if ann_ok else 'NO'} | {snn} | "
                     f"{'met' if ann_ok and snn_ok else 'NOT met'} |")
    return lines


def _coverage(curves: dict) -> str:
    """Which test images and steps each zoo curve covers, e.g. 'AugMapping: net1 first 10,000
    images, T ≤ 64, ...'."""
    parts = []
    for method, label in (("aug", "AugMapping"), ("ter", "TerMapping")):
        cells = [f"{net} first {c['images']:,} images, T ≤ {len(c['accuracy_per_step'])}"
                 for (net, m), c in sorted(curves.items()) if m == method]
        if cells:
            parts.append(f"{label}: " + ", ".join(cells))
    return "; ".join(parts) if parts else "no zoo entries"


def _page(r, s, t2, t3, t4, f6, f7, te, diffs, curves, timings, rebuild) -> str:
    total = time.time() - r.t0
    mode = ("**quick** (`--quick`: small subsets, missing checkpoints trained 1 epoch on "
            f"{s.train[1]:,} images, Fig. 7 and Section E at most T={s.f6_aug[0]} (AugMapping) "
            f"and T={s.f6_ter[0]} (TerMapping); a pipeline check, not a reproduction)" if s.quick else
            "full")
    zoo = "a fresh `zoo build` in the work folder" if rebuild else "the zoo manifests `golden/zoo/*.json`"
    L = ["# The paper's results, regenerated", "",
         "Generated by `augsnn paper` (repro/paper.py); do not edit by hand. Yu et al.'s numbers "
         "(paper) beside ours (integer golden model, 8-bit weights; AugMapping 8-bit coefficients, "
         "TerMapping/DataNorm ternary/binary spikes). Net5/Net6 (CIFAR10): " + NOT_MEASURED +
         " — their architectures and conversion are implemented and tested on random weights.", "",
         f"- command: `{command_line()}`",
         f"- date: {time.strftime('%Y-%m-%d %H:%M %Z')}",
         f"- machine: {machine()}",
         f"- mode: {mode}",
         f"- run time: {total / 60:.1f} min (" + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items())
         + "); cached simulation results reused from the work folder count as 0",
         f"- Tables III/IV and Figs. 2/3 come from {zoo}: " + _coverage(curves)
         + "; each manifest holds its reproduce commands (`repro/zoo.py` PLAN, NET_PLAN).", "",
         "## Bar of issue 6 (Net3, Net4 on Fashion-MNIST)", ""] + _bar(curves) + [
         "", "## Table II: DataNorm vs TerMapping", "",
         "DataNorm: ReLU ANN (`augsnn train netN --act relu`), single threshold, binary spikes, "
         f"evaluated up to T={s.t2_T} on the first {s.t2_images:,} test images; TerMapping: the "
         "LeakyReLU ANN's zoo model. The paper's Table II cell for Net1 TerMapping SNN is "
         "garbled in our copy; 98.77% is its Table III value.", ""] + t2 + [
         "", "## Table III: conversion results", "",
         "SNN acc. is the best accuracy over the evaluated steps, latency the first T reaching it, "
         "events the cumulative events per image (all layers, output included) at that T. "
         "The paper gives events in 10^6 per image.", ""] + t3 + [
         "", "## Table IV: early decision", "",
         "For each tolerance the first T whose accuracy is within it of the ANN on the same "
         "images (AugMapping / TerMapping), and the reductions T_ter/T_aug and "
         "events_ter/events_aug." + (" AugMapping is re-simulated on TerMapping's images." if
                                      s.same_images else
                                      " Quick mode: AugMapping's and TerMapping's image sets "
                                      "differ (aug: all 10,000, ter: the subset)."), ""] + t4 + [
         "", "## Fig. 2 and Fig. 3: error vs T and error vs events", "",
         "Dotted: the ANN on the same images; stars: the paper's (latency or events, accuracy) "
         "from Table III.", "",
         "![Fig. 2](img/paper_fig2_error_vs_T.png)", "",
         "![Fig. 3](img/paper_fig3_error_vs_events.png)", "",
         "## Fig. 6: similarity of SNN output rates and ANN outputs", "",
         f"Eq. (14), mean over images, for the deepest network trained here ({f6[1]['net']}; the "
         f"paper uses Net5): AugMapping T={f6[1]['aug'][0]} on {f6[1]['aug'][1]:,} images, "
         f"TerMapping T={f6[1]['ter'][0]} on {f6[1]['ter'][1]:,} images. Paper: both approach 1, "
         "AugMapping much sooner.", "", "![Fig. 6](img/paper_fig6_cosine.png)", ""] + f6[0] + [
         "", "## Fig. 7: boundary constraint M_aug", "",
         "Accuracy at the best T with every layer's coefficient limited to M (coefficient widths "
         "2..8 bits: M = 1, 3, ..., 127), divided by the accuracy without a constraint "
         "(16-bit coefficients). Paper: M_aug up to about 40 is very close to unconstrained; "
         "M_aug = 1 loses most in the deepest networks.", "",
         "![Fig. 7](img/paper_fig7_maug.png)", ""] + f7 + [
         "", "## Section E: role of double-threshold firing", "",
         "ANN: every LeakyReLU replaced by ReLU (negative activations suppressed), on "
         + ("the full test set" if not s.quick else "2,000 test images") +
         ". SNN: every layer's negative threshold removed (single threshold), at the model's "
         "best T. The paper measures Net5/Net6 only.", ""] + te + [
         "", "## Where we differ from the paper", "",
         "Differences above 0.3 points of accuracy or 2× in latency/events, with the measured "
         "reason or our best explanation:", ""] + (diffs or ["- none"]) + [""]
    return "\n".join(L)
