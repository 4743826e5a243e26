"""One chunk of a sharded ``augsnn sim`` run, and the merge of chunks into one report.

Layer: ``scaleout`` (uses ``sim``). :func:`simulate_chunk` runs a chunk of images through a
Verilator build with :func:`augsnn.sim.accelerator.run_images` and compares it with the
golden model with :func:`augsnn.sim.accelerator.compare` (so the golden comparison runs on
the workers too); it also records the per-image arrays that the report's means are taken
over (cycle bound, busiest-layer bound, synops), by handing ``compare`` a plan that records
what it computes. :func:`merge_reports` then makes exactly the report that one ``compare``
over all the images gives: counts summed, the first mismatches in image order, every mean
and ratio taken over the concatenated per-image arrays with the same expression (so the
floats are bit-identical). A report key it does not know is an error, not a silent gap.
"""

from __future__ import annotations

import time

import numpy as np

__all__ = ["simulate_chunk", "merge_reports", "MERGE_RULES"]


class _RecordingPlan:
    """A plan that records the per-image arrays :func:`compare` computes from it."""

    def __init__(self, plan):
        self._plan = plan
        self.rec_synops = self.rec_bound = self.rec_critical = self.rec_steps = None

    def __getattr__(self, name):
        return getattr(self._plan, name)

    def cycles(self, synops, T):
        self.rec_synops = np.asarray(synops)
        # T: the steps run per image (an array with early exit) or one count for all
        self.rec_steps = np.broadcast_to(np.asarray(T), self.rec_synops.shape[2:]).copy()
        self.rec_bound = np.asarray(self._plan.cycles(synops, T))
        return self.rec_bound

    def critical(self, synops, T):
        self.rec_critical = np.asarray(self._plan.critical(synops, T))
        return self.rec_critical


def simulate_chunk(model, bld, images, labels, indices, T: int, early_exit=None) -> dict:
    """Simulate ``images`` on the build ``bld`` and compare them with the golden model
    (``early_exit``: an :class:`~augsnn.golden.early_exit.ExitRule` sent with every image).

    Returns a dict of plain arrays and the chunk's report (picklable, JSON for the report).
    """
    from augsnn.sim import accelerator as accel
    run = accel.run_images(model, images, T, build=bld, progress=0, quiet=True,
                           **({"early_exit": early_exit} if early_exit is not None else {}))
    out = run.out
    plan = run.plan
    recorder = _RecordingPlan(plan)
    run.plan = recorder
    t0 = time.time()
    try:
        report = accel.compare(model, images, run, indices=indices, labels=labels)
    finally:
        run.plan = plan
    if recorder.rec_bound is None or recorder.rec_critical is None:
        raise RuntimeError("compare() no longer asks the plan for the cycle bounds; the shard "
                           "merge (augsnn/scaleout/merge.py) must learn its new report")
    n_classes = plan.n_classes
    return {
        "report": report,
        "index": np.asarray(indices, dtype=np.int64), "label": np.asarray(labels, np.int64),
        "pred": run.pred.astype(np.int64), "counts": run.counts.astype(np.int64),
        "events": run.events.astype(np.int64), "cycles": run.cycles.astype(np.int64),
        "out": out if out is not None else np.zeros((T, len(images), n_classes), np.int64),
        "synops": recorder.rec_synops, "bound": recorder.rec_bound,
        "critical": recorder.rec_critical, "steps": recorder.rec_steps,
        "sim_seconds": float(run.sim_seconds), "compare_seconds": time.time() - t0,
    }


def _same(key):
    def rule(reports, chunks):
        values = [r[key] for r in reports]
        if any(v != values[0] for v in values[1:]):
            raise RuntimeError(f"the chunks disagree on {key!r}: {values}")
        return values[0]
    return rule


def _total(key):
    return lambda reports, chunks: sum(r[key] for r in reports)


def _cat(chunks, name, axis=0):
    return np.concatenate([c[name] for c in chunks], axis=axis)


def _first_mismatches(reports, chunks, max_report: int = 50):
    out = []
    for r in reports:
        out.extend(r["first_mismatches"])
    return out[:max_report]


def _golden_accuracy(reports, chunks):
    if reports[0]["golden_accuracy"] is None:
        return None
    right = sum(int(round(r["golden_accuracy"] * r["images"])) for r in reports)
    return float(right / sum(r["images"] for r in reports))


def _accuracy(reports, chunks):
    if reports[0]["accuracy"] is None:
        return None
    return float((_cat(chunks, "pred") == _cat(chunks, "label")).mean())


#: How each key of :func:`augsnn.sim.accelerator.compare`'s report is merged; each rule is
#: the expression ``compare`` uses, over the concatenated per-image arrays.
MERGE_RULES = {
    "model": _same("model"), "T": _same("T"), "lanes": _same("lanes"), "taps": _same("taps"),
    "images": _total("images"), "mismatches": _total("mismatches"),
    "spike_mismatches": _total("spike_mismatches"),
    "spike_mismatches_per_layer": lambda rs, cs: [
        int(sum(v)) for v in zip(*(r["spike_mismatches_per_layer"] for r in rs))],
    "class_mismatches": _total("class_mismatches"),
    "count_mismatches": _total("count_mismatches"),
    "event_mismatches": _total("event_mismatches"),
    "step_count_errors": _total("step_count_errors"),
    "first_mismatches": _first_mismatches,
    "full_state_compared": _same("full_state_compared"),
    "accuracy": _accuracy, "golden_accuracy": _golden_accuracy,
    "cycles_per_image": lambda rs, cs: float(_cat(cs, "cycles").mean()),
    "cycles_min": lambda rs, cs: int(_cat(cs, "cycles").min()),
    "cycles_max": lambda rs, cs: int(_cat(cs, "cycles").max()),
    "bound_per_image": lambda rs, cs: float(_cat(cs, "bound").mean()),
    "efficiency": lambda rs, cs: float(_cat(cs, "bound").sum() / _cat(cs, "cycles").sum()),
    "critical_bound_per_image": lambda rs, cs: float(_cat(cs, "critical").mean()),
    "critical_efficiency": lambda rs, cs: float(_cat(cs, "critical").sum()
                                                / _cat(cs, "cycles").sum()),
    "synops_per_image": lambda rs, cs: [
        float(x) for x in _cat(cs, "synops", axis=2).sum(axis=1).mean(axis=1)],
    "events_per_image": lambda rs, cs: [
        float(x) for x in _cat(cs, "events", axis=1).mean(axis=1)],
    "early_exit": _same("early_exit"),
    "mean_steps": lambda rs, cs: float(_cat(cs, "steps").mean()),
    # wall time: the simulation time of all chunks together (they ran on several workers)
    "sim_seconds": lambda rs, cs: round(sum(c["sim_seconds"] for c in cs), 1),
}


def merge_reports(chunks: list) -> dict:
    """The report of :func:`compare` over all images of ``chunks`` (in image order)."""
    if not chunks:
        raise ValueError("no chunks to merge")
    reports = [c["report"] for c in chunks]
    unknown = [k for k in reports[0] if k not in MERGE_RULES]
    if unknown:
        raise RuntimeError(f"compare()'s report has keys the shard merge does not know: "
                           f"{unknown} (add their rule to augsnn/scaleout/merge.py)")
    return {key: MERGE_RULES[key](reports, chunks) for key in reports[0]}
