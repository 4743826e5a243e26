"""Per-image early exit (adaptive T): stop an image once its output counts are decided.

Layer: ``golden`` (NumPy only). The rule (docs/golden-model.md, "Early exit"): after step
``t`` (1-based) of an image, with ``c`` its output coefficients accumulated over steps
``1..t``, the leader the lowest index of ``max(c)`` and the runner-up the largest count of the
other classes, the image stops when

    t >= t_min  and  c[leader] - c[runner-up] >= margin           (margin >= 1)

and otherwise runs to ``t_max``. Its decision is the leader at the step it stops. A tie
(``c[leader] == c[runner-up]``) never stops an image. The network is feed-forward with no
synaptic delay, so step ``t`` does not depend on later steps: the run of ``t_max`` steps,
cut after each image's exit step, is exactly what an engine that stops there computes.
:func:`apply` does that cut on a :class:`~augsnn.golden.network.RunResult` and reports the
steps, decisions, events and synops each image used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .checks import check_int

__all__ = ["ExitRule", "ExitResult", "exit_steps", "apply", "choose_rule"]


@dataclass(frozen=True)
class ExitRule:
    """An early-exit rule: ``margin`` (>= 1) and ``t_min`` (>= 1); ``t_max`` is the run's T.

    Raises
    ------
    TypeError, ValueError
        A parameter that is not an integer, or out of range (the message names it).
    """

    margin: int
    t_min: int = 1

    def __post_init__(self):
        object.__setattr__(self, "margin", check_int("early-exit margin", self.margin, 1))
        object.__setattr__(self, "t_min", check_int("early-exit t_min", self.t_min, 1))

    @classmethod
    def parse(cls, text: str) -> "ExitRule":
        """``MARGIN`` or ``MARGIN,T_MIN`` (the ``--early-exit`` option)."""
        parts = str(text).split(",")
        try:
            values = [int(p) for p in parts]
        except ValueError:
            raise ValueError(f"early exit must be MARGIN or MARGIN,T_MIN (integers), not "
                             f"{text!r}") from None
        if len(values) not in (1, 2):
            raise ValueError(f"early exit must be MARGIN or MARGIN,T_MIN, not {text!r}")
        return cls(*values)

    def describe(self) -> str:
        return f"margin {self.margin}, t_min {self.t_min}"


@dataclass
class ExitResult:
    """What each image used under an early-exit rule.

    Members
    -------
    steps : int64 (B,)
        Steps run (``1..T``).
    pred : int64 (B,)
        Decision at the exit step.
    counts : int64 (B, classes)
        Output counts at the exit step.
    events, synops : int64 (L, B)
        Events and synops of every weighted layer over the steps run (the first layer's
        constant current counted once, as in ``RunResult.synops``).
    """

    steps: np.ndarray
    pred: np.ndarray
    counts: np.ndarray
    events: np.ndarray
    synops: np.ndarray


def exit_steps(out: np.ndarray, rule: ExitRule) -> np.ndarray:
    """Steps each image runs under ``rule``, from the per-step output coefficients.

    ``out``: ``(T, B, classes)`` (``RunResult.out``). Returns int64 ``(B,)`` in ``1..T``.
    """
    out = np.asarray(out, dtype=np.int64)
    T, B, n = out.shape
    counts = np.cumsum(out, axis=0)                          # (T, B, n)
    if n < 2:
        return np.full(B, min(rule.t_min, T), dtype=np.int64)
    top2 = -np.sort(-counts, axis=2)[..., :2]                # the two largest counts
    decided = (top2[..., 0] - top2[..., 1]) >= rule.margin     # (T, B)
    decided &= (np.arange(1, T + 1) >= rule.t_min)[:, None]
    decided[-1] = True                                        # t_max: every image stops
    return (np.argmax(decided, axis=0) + 1).astype(np.int64)


def apply(run, rule: ExitRule) -> ExitResult:
    """Cut ``run`` (a :class:`~augsnn.golden.network.RunResult` of ``t_max`` steps) at each
    image's exit step."""
    steps = exit_steps(run.out, rule)
    T, B, _ = run.out.shape
    b = np.arange(B)
    counts = np.cumsum(np.asarray(run.out, dtype=np.int64), axis=0)[steps - 1, b]
    pred = np.asarray(run.pred_per_step)[steps - 1, b].astype(np.int64)
    ran = (np.arange(T)[:, None] < steps[None, :])            # (T, B): step t was run
    events = (np.asarray(run.events, dtype=np.int64) * ran[None]).sum(axis=1)
    synops = (np.asarray(run.synops, dtype=np.int64) * ran[None]).sum(axis=1)
    return ExitResult(steps=steps, pred=pred, counts=counts, events=events, synops=synops)


def choose_rule(run, labels, *, tolerance: float = 0.001,
                margins=range(1, 65), t_mins=(1, 2, 3)) -> tuple[ExitRule | None, dict]:
    """The rule with the fewest mean steps whose accuracy is within ``tolerance`` (a fraction:
    0.001 = 0.1 point) of the full run's, from ``run`` (a
    :class:`~augsnn.golden.network.RunResult` of ``T_max`` steps) and the ``labels``;
    ``None`` when no rule saves a step.

    Returns the rule and ``{"fixed": accuracy at T_max, "accuracy": with the rule,
    "mean_steps": ..., "images": B}``.
    """
    out = np.asarray(run.out, dtype=np.int64)
    labels = np.asarray(labels)
    T, B, _ = out.shape
    pred_t = np.asarray(run.pred_per_step)                   # (T, B)
    fixed = float((pred_t[-1] == labels).mean())
    best, info = None, {"fixed": fixed, "accuracy": fixed, "mean_steps": float(T),
                        "images": int(B)}
    for t_min in t_mins:
        for margin in margins:
            rule = ExitRule(margin, t_min)
            steps = exit_steps(out, rule)
            acc = float((pred_t[steps - 1, np.arange(B)] == labels).mean())
            mean = float(steps.mean())
            if acc >= fixed - tolerance and mean < info["mean_steps"]:
                best, info = rule, {"fixed": fixed, "accuracy": acc, "mean_steps": mean,
                                    "images": int(B)}
    return best, info
