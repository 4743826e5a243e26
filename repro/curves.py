"""Reading accuracy curves: Eq. (14)'s cosine per step, first T within a loss, best point.

A *curve* is the report-like view of a zoo manifest or an evaluation report: accuracy and
cumulative events per step, the ANN's accuracy on the same images, and their number.
"""

from __future__ import annotations

import numpy as np

__all__ = ["cosine_per_step", "first_T", "curve", "best_of"]


def cosine_per_step(out: np.ndarray, ann: np.ndarray) -> np.ndarray:
    """Eq. (14) per step: mean over images of cos(SNN output rate after t steps, ANN output).

    ``out``: output coefficients per step ``(T, B, C)``; ``ann``: ANN outputs ``(B, C)``.
    An image with no output spike yet counts as similarity 0.
    """
    counts = np.cumsum(out, axis=0).astype(np.float64)
    ann = np.asarray(ann, dtype=np.float64)
    dot = (counts * ann[None]).sum(axis=2)
    norm = np.linalg.norm(counts, axis=2) * np.linalg.norm(ann, axis=1)[None]
    cos = np.divide(dot, norm, out=np.zeros_like(dot), where=norm > 0)
    return cos.mean(axis=1)


def first_T(acc, ann_acc: float, loss: float) -> int | None:
    """First step (1-based) whose accuracy is at least ``ann_acc - loss``; None if never."""
    hit = np.nonzero(np.asarray(acc) >= ann_acc - loss - 1e-12)[0]
    return int(hit[0]) + 1 if hit.size else None


def curve(m: dict) -> dict:
    """The report-like view of a zoo manifest used by the plots and tables."""
    return {"model": m["name"], "accuracy_per_step": m["accuracy_per_step"],
            "events_per_image": m["events_per_image_per_step"],
            "ann_accuracy": m["ann_accuracy_on_evaluated"], "images": m["images_evaluated"]}


def best_of(c: dict) -> tuple[float, int, float]:
    """``(best accuracy, first step reaching it, cumulative events per image at that step)``."""
    acc = np.asarray(c["accuracy_per_step"])
    t = int(np.argmax(acc)) + 1
    return float(acc[t - 1]), t, float(c["events_per_image"][t - 1])

