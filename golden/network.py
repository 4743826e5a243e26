"""Whole-network golden simulation of a converted integer SNN, vectorised over images.

Semantics (SPEC §3): every step, layers update in order, and layer ``l`` integrates the
spikes layer ``l-1`` fired in the same step. The first weighted layer receives the image as a
constant current every step (``uint8`` pixels times integer weights), computed once per
image. Neuron arithmetic is :mod:`augsnn.golden.neuron`'s.

Exactness: currents are dot products of integers, computed with float BLAS. Every product
and partial sum is an integer of magnitude at most the layer's static bound
(:meth:`Model.current_bounds`); a layer whose bound is below ``2**24`` is computed in float32
(twice as fast), any other in float64, and :func:`simulate` refuses a model whose bound
reaches ``2**53``, so every float operation is exact and the result equals integer arithmetic.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

from .model import Dense, Flatten, Model, SumPool
from .neuron import fire, integrate

__all__ = ["RunResult", "simulate"]

_EXACT = 2 ** 53
_EXACT32 = 2 ** 24  # float32 holds every integer of magnitude <= 2**24 exactly


@dataclass
class RunResult:
    """What one run of the golden model reports.

    Members
    -------
    out : int64 array (T, B, n_classes)
        Output layer coefficients fired at each step (``membrane`` output: V after each step).
    counts : int64 array (B, n_classes)
        Accumulated output coefficients after T steps (``membrane`` output: final V).
    pred_per_step : int16 array (T, B)
        Decision after each step (argmax of the accumulated counts, ties to the lowest index).
    events : int64 array (L, T, B)
        Non-zero spikes fired by each of the L weighted layers at each step, per image.
    synops : int64 array (L, T, B)
        Synaptic operations of each weighted layer per step (non-zero inputs times their
        fan-out). The first layer's constant input current is counted once, at step 0.
    trace : list of int64 arrays (T, B, ...) or None
        With ``trace=True``: every weighted layer's coefficients at every step.
    """

    out: np.ndarray
    counts: np.ndarray
    pred_per_step: np.ndarray
    events: np.ndarray
    synops: np.ndarray
    trace: list | None = None

    @property
    def pred(self) -> np.ndarray:
        return self.pred_per_step[-1]

    def accuracy_per_step(self, labels) -> np.ndarray:
        return (self.pred_per_step == np.asarray(labels)[None, :]).mean(axis=1)

    @staticmethod
    def concat(parts: list["RunResult"]) -> "RunResult":
        trace = None
        if parts[0].trace is not None:
            trace = [np.concatenate([p.trace[i] for p in parts], axis=1)
                     for i in range(len(parts[0].trace))]
        return RunResult(
            out=np.concatenate([p.out for p in parts], axis=1),
            counts=np.concatenate([p.counts for p in parts], axis=0),
            pred_per_step=np.concatenate([p.pred_per_step for p in parts], axis=1),
            events=np.concatenate([p.events for p in parts], axis=2),
            synops=np.concatenate([p.synops for p in parts], axis=2),
            trace=trace)


def _im2col(x: np.ndarray, k: int) -> np.ndarray:
    """(B, C, H, W) -> (B*H'*W', C*k*k) patches, C-major within a patch like weight.reshape."""
    b, c, h, w = x.shape
    win = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))  # B,C,H',W',k,k
    return win.transpose(0, 2, 3, 1, 4, 5).reshape(b * (h - k + 1) * (w - k + 1), c * k * k)


def _linear(layer, wf: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Exact integer current of a weighted layer (float64 weights ``wf``) for integer inputs."""
    if isinstance(layer, Dense):
        return x @ wf.T
    if layer.padding:
        p = layer.padding
        x = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    b, _, h, w = x.shape
    oc, _, k, _ = layer.weight.shape
    y = _im2col(x, k) @ wf.reshape(oc, -1).T
    return y.reshape(b, h - k + 1, w - k + 1, oc).transpose(0, 3, 1, 2)


def _pool(x: np.ndarray, size: int) -> np.ndarray:
    b, c, h, w = x.shape
    h2, w2 = h // size, w // size
    x = x[:, :, :h2 * size, :w2 * size]
    return x.reshape(b, c, h2, size, w2, size).sum(axis=(3, 5))


def _check_exact(model: Model) -> None:
    for i, bound in enumerate(model.current_bounds()):
        if bound >= _EXACT:
            raise ValueError(
                f"weighted layer {i}: current bound {bound} reaches 2**53; the golden model "
                "cannot guarantee exact arithmetic for it")


def _run_batch(model: Model, images: np.ndarray, T: int, trace: bool) -> RunResult:
    B = images.shape[0]
    layers = model.layers
    weighted = [i for i, layer in enumerate(layers) if hasattr(layer, "weight")]
    shapes = model.shapes()
    fanouts = {i: layers[i].fan_out(shapes[i]).reshape(-1).astype(np.float64) for i in weighted}
    # per layer the narrowest float type in which every product and partial sum is exact
    ftype = {i: np.float32 if b < _EXACT32 else np.float64
             for i, b in zip(weighted, model.current_bounds())}
    wf = {i: layers[i].weight.astype(ftype[i]) for i in weighted}
    n_out = shapes[-1][0]
    L = len(weighted)
    events = np.zeros((L, T, B), dtype=np.int64)
    synops = np.zeros((L, T, B), dtype=np.int64)
    out = np.zeros((T, B, n_out), dtype=np.int64)
    traces = [np.zeros((T, B) + shapes[i + 1], dtype=np.int64) for i in weighted] if trace else None
    v = [np.full((B,) + shapes[i + 1], layers[i].neuron.v_init, dtype=np.int64) for i in weighted]
    first = model.first_weighted
    x0 = images.reshape((B,) + shapes[first]).astype(ftype[first])  # leading flatten layers
    i0_current = _linear(layers[first], wf[first], x0).astype(np.int64)
    synops[0, 0] = (x0 != 0).reshape(B, -1).astype(np.float64) @ fanouts[first]
    last = weighted[-1]
    membrane_out = model.output == "membrane"
    for t in range(T):
        x = None
        li = 0
        for i in range(first, len(layers)):
            layer = layers[i]
            if i == first:
                cur = i0_current
            elif hasattr(layer, "weight"):
                xf = x.astype(ftype[i])
                synops[li, t] = (x != 0).reshape(B, -1).astype(np.float64) @ fanouts[i]  # exact: < 2**53
                cur = _linear(layer, wf[i], xf).astype(np.int64)
            elif isinstance(layer, SumPool):
                x = _pool(x, layer.size)
                continue
            elif isinstance(layer, Flatten):
                x = x.reshape(B, -1)
                continue
            else:  # pragma: no cover - Model validates layer types
                raise TypeError(f"unknown layer {layer!r}")
            n = layer.neuron
            if i == last and membrane_out:
                v[li] = integrate(v[li], cur, n)
                out[t] = v[li]
                if traces is not None:
                    traces[li][t] = v[li]
                li += 1
                continue
            o, v[li] = fire(integrate(v[li], cur, n), n)
            events[li, t] = (o != 0).reshape(B, -1).sum(axis=1)
            if traces is not None:
                traces[li][t] = o
            if i == last:
                out[t] = o
            x = o
            li += 1
    if membrane_out:
        acc = out
        counts = out[-1].copy()
    else:
        acc = np.cumsum(out, axis=0)
        counts = acc[-1].copy()
    pred = np.argmax(acc, axis=2).astype(np.int16)
    return RunResult(out, counts, pred, events, synops, traces)


def simulate(model: Model, images, T: int, *, batch_size: int = 250, trace: bool = False,
             progress: bool = False) -> RunResult:
    """Run the integer SNN on uint8 images for T steps.

    Parameters
    ----------
    model : Model
    images : uint8 array (B, C, H, W) or (C, H, W)
    T : int
        Number of time steps, >= 1.
    batch_size : int
        Images simulated together (memory vs speed).
    trace : bool
        Keep every weighted layer's coefficients at every step (for RTL comparison).
    progress : bool
        Show a progress bar on stderr.
    """
    images = np.asarray(images)
    if images.ndim == len(model.input_shape):
        images = images[None]
    if images.dtype != np.uint8:
        raise TypeError(f"images must be uint8 pixels, not {images.dtype}")
    if images.shape[1:] != model.input_shape:
        raise ValueError(
            f"images of shape {images.shape[1:]} do not match the model's input {model.input_shape}")
    if isinstance(T, bool) or not isinstance(T, (int, np.integer)) or T < 1:
        raise ValueError(f"T must be an integer >= 1, not {T!r}")
    _check_exact(model)
    parts = []
    starts = range(0, images.shape[0], batch_size)
    if progress:
        from tqdm import tqdm
        starts = tqdm(starts, desc=f"{model.name} T={T}", unit="batch", file=sys.stderr)
    for s in starts:
        parts.append(_run_batch(model, images[s:s + batch_size], int(T), trace))
    return parts[0] if len(parts) == 1 else RunResult.concat(parts)

