"""Pareto sets of a sweep and its outputs: ``sweep.csv``, ``sweep.json``, ``pareto.png``.

Layer: ``scaleout``. Two trade-offs are marked (docs/scale-out.md):

- ``pareto_resources``: images/s (higher is better) against LUT4s (fewer is better), over the
  built points that met timing;
- ``pareto_accuracy``: golden accuracy at T against images/s (both higher is better), over
  every successful point (built points that met timing, simulated points).

A point is in the set when no other eligible point is at least as good in both and better
in one. Matplotlib is imported only to draw.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

__all__ = ["pareto_mask", "mark_pareto", "CSV_COLUMNS", "write_outputs"]

CSV_COLUMNS = ("key", "status", "reason", "model", "board", "engine", "lanes", "T", "seed",
               "clock_mhz", "abc", "images", "accuracy_images", "lut4", "lut4_name", "ff",
               "bram", "multipliers", "fmax_mhz", "timing_met", "cycles_per_image",
               "images_per_s", "accuracy", "rtl_accuracy", "mismatches", "seconds", "cached",
               "pareto_resources", "pareto_accuracy", "build_dir")


def pareto_mask(points: list[tuple[float, float]], maximize: tuple[bool, bool]) -> list[bool]:
    """For each ``(a, b)``: True when no other point dominates it (ties do not dominate)."""
    sign = [1 if m else -1 for m in maximize]
    vals = [(p[0] * sign[0], p[1] * sign[1]) for p in points]
    out = []
    for i, (a, b) in enumerate(vals):
        dominated = any(c >= a and d >= b and (c > a or d > b)
                        for j, (c, d) in enumerate(vals) if j != i)
        out.append(not dominated)
    return out


def _eligible(row: dict, need_lut: bool) -> bool:
    if row.get("status") != "ok" or row.get("images_per_s") is None:
        return False
    if row.get("board") and row.get("timing_met") is False:
        return False
    if need_lut:
        return bool(row.get("board")) and row.get("lut4") is not None
    return row.get("accuracy") is not None


def mark_pareto(rows: list[dict]) -> None:
    """Set ``pareto_resources`` and ``pareto_accuracy`` (True/False) on every row."""
    for name, need_lut, fields, maximize in (
            ("pareto_resources", True, ("lut4", "images_per_s"), (False, True)),
            ("pareto_accuracy", False, ("images_per_s", "accuracy"), (True, True))):
        idx = [i for i, r in enumerate(rows) if _eligible(r, need_lut)]
        mask = pareto_mask([(rows[i][fields[0]], rows[i][fields[1]]) for i in idx], maximize)
        for r in rows:
            r[name] = False
        for i, m in zip(idx, mask):
            rows[i][name] = m


def _cell(v):
    if v is None:
        return ""
    if isinstance(v, (list, tuple)):
        return ",".join(map(str, v))
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def _atomic_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_outputs(rows: list[dict], out_dir, *, plot: bool = True) -> dict:
    """Mark the Pareto sets and write ``sweep.csv``, ``sweep.json`` and ``pareto.png``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    mark_pareto(rows)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for r in rows:
        w.writerow([_cell(r.get(c)) for c in CSV_COLUMNS])
    paths = {"csv": out_dir / "sweep.csv", "json": out_dir / "sweep.json"}
    _atomic_text(paths["csv"], buf.getvalue())
    _atomic_text(paths["json"], json.dumps(rows, indent=1, default=list))
    if plot:
        paths["png"] = out_dir / "pareto.png"
        _plot(rows, paths["png"])
    return paths


def _plot(rows: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    panels = (("pareto_resources", "lut4", "images_per_s", "LUT4s (logic cells)", "images/s",
               True), ("pareto_accuracy", "images_per_s", "accuracy", "images/s",
                       "golden accuracy at T", False))
    for ax, (flag, xf, yf, xl, yl, need_lut) in zip(axes, panels):
        pts = [r for r in rows if _eligible(r, need_lut)]
        rest = [r for r in pts if not r[flag]]
        front = sorted((r for r in pts if r[flag]), key=lambda r: r[xf])
        ax.scatter([r[xf] for r in rest], [r[yf] for r in rest], c="0.6", label="point")
        ax.scatter([r[xf] for r in front], [r[yf] for r in front], c="tab:red", zorder=3,
                   label="Pareto set")
        if front:
            ax.step([r[xf] for r in front], [r[yf] for r in front], where="post",
                    c="tab:red", lw=1)
        for r in pts:
            ax.annotate(f"{r['model']} {r.get('board') or 'sim'} T={r.get('T')}",
                        (r[xf], r[yf]), fontsize=6, xytext=(3, 3), textcoords="offset points")
        ax.set_xlabel(xl)
        ax.set_ylabel(yl)
        ax.grid(alpha=0.3)
        if not pts:
            ax.text(0.5, 0.5, "no eligible points", ha="center", transform=ax.transAxes)
        else:
            ax.legend(fontsize=7)
    failed = sum(r.get("status") != "ok" for r in rows)
    fig.suptitle(f"augsnn sweep: {len(rows)} points, {failed} failed")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
