"""Whole-network golden simulation of a converted integer SNN, vectorised over images.

Semantics (SPEC §3): every step, layers update in order, and layer ``l`` integrates the
spikes layer ``l-1`` fired in the same step. The first weighted layer receives the image as a
constant current every step (``uint8`` pixels times integer weights), computed once per
image. Neuron arithmetic is :mod:`augsnn.golden.neuron`'s.

Order of work: the network is feed-forward, so each layer runs over a whole window of steps
before the next one (one matrix product per layer over all image-steps of the window, then
the layer's neurons step through the stored currents); the result is the step-by-step one.
Batches run on one worker thread per core. docs/golden-model.md ("Speed") has the details.

Exactness: currents are dot products of integers, computed with float BLAS. Every product
and partial sum is an integer of magnitude at most the layer's static bound
(:meth:`Model.current_bounds`); a layer whose bound is below ``2**24`` is computed in float32,
any other in float64, and :func:`simulate` refuses a model whose bound reaches ``2**53``, so
every float operation is exact and the result equals integer arithmetic. Internal integer
types are the narrowest the bounds allow; every reported array is ``int64`` (decisions
``int16``).
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from . import intmm
from .model import Dense, Flatten, Model, SumPool
from .neuron import constant_current_spikes, run, state_dtype
from .threads import blas_single_thread, cpus

__all__ = ["RunResult", "simulate"]

_EXACT = 2 ** 53
_EXACT32 = 2 ** 24  # float32 holds every integer of magnitude <= 2**24 exactly
_GEMM_ROWS = 1024  # rows per matrix product: its operands stay in the core's cache
_INT8_ROWS = 8192  # rows per int8 product (a quarter of the float32 operand's bytes)
_WINDOW = 1 << 23  # elements of the widest layer's activations held per batch and time window


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


def _pool(x: np.ndarray, size: int, dtype, split: int = 0) -> np.ndarray:
    """Sum-pool ``(N, H, W, C)`` (channels last), stride ``size``, as sums of strided views.

    Odd edges are dropped; ``dtype`` holds the largest sum. ``split``: ``x`` is laid out as
    ``(N, s, s, H/s, W/s, C)`` (see ``_Weighted``) and the pool adds its ``s*s`` contiguous
    ``(H/s, W/s, C)`` blocks.
    """
    if split:
        n, shape = x.shape[0], x.shape[3:]
        x = x.reshape(n, size * size, -1)
        if size == 1:
            return x[:, 0].astype(dtype).reshape((n,) + shape)
        out = np.add(x[:, 0], x[:, 1], dtype=dtype)  # x is of this type already (_Weighted)
        for j in range(2, size * size):
            np.add(out, x[:, j], out=out)
        return out.reshape((n,) + shape)
    h2, w2 = x.shape[1] // size, x.shape[2] // size
    out = x[:, :h2 * size:size, :w2 * size:size].astype(dtype)
    for dy in range(size):
        for dx in range(size):
            if dy or dx:
                np.add(out, x[:, dy:h2 * size:size, dx:w2 * size:size], out=out)
    return out


def _check_exact(model: Model) -> None:
    for i, bound in enumerate(model.current_bounds()):
        if bound >= _EXACT:
            raise ValueError(
                f"weighted layer {i}: current bound {bound} reaches 2**53; the golden model "
                "cannot guarantee exact arithmetic for it")


def _int_dtype(bound: int):
    """Narrowest signed integer type holding every value of magnitude <= bound."""
    for dt in (np.int8, np.int16, np.int32):
        if bound <= np.iinfo(dt).max:
            return dt
    return np.int64


class _Weighted:
    """One weighted layer prepared for the simulation (internal layouts, float weights)."""

    def __init__(self, layer, in_shape, out_shape, in_perm, bound: int, split: int = 0,
                 in_bound: int = 0, mm=None):
        self.layer = layer
        self.n = layer.neuron
        self.conv = not isinstance(layer, Dense)
        self.ftype = np.float32 if bound < _EXACT32 else np.float64
        self.state = state_dtype(self.n, bound)
        self.out_shape = out_shape          # logical (C, H, W) or (F,)
        w = layer.weight
        if self.conv:
            oc, ic, k, _ = w.shape
            self.k, self.pad = k, layer.padding
            # rows in (dy, dx, c) order: the channels-last im2col order
            self.w = np.ascontiguousarray(w.transpose(2, 3, 1, 0).reshape(k * k * ic, oc),
                                          dtype=self.ftype)
            fan = layer.fan_out(in_shape).transpose(1, 2, 0).reshape(-1)  # channels last
            oc, ho, wo = out_shape
            # split: a sum-pool of this size follows and divides H and W; the output is then
            # kept as (s, s, H/s, W/s, C) (position y = (y/s) s + y%s), so that the pool adds
            # s*s contiguous blocks
            self.split = split
            self.out_int = ((split, split, ho // split, wo // split, oc) if split
                            else (ho, wo, oc))
        else:
            self.split = 0
            wt = w.T if in_perm is None else w[:, in_perm].T
            self.w = np.ascontiguousarray(wt, dtype=self.ftype)
            fan = layer.fan_out(in_shape).reshape(-1)
            self.out_int = out_shape
        self.uniform_fan = int(fan[0]) if fan.size and (fan == fan[0]).all() else None
        # synops per image and step are at most (inputs) * max fan-out: pick an exact float
        self.fan = fan.astype(np.float32 if fan.size * int(fan.max(initial=0)) < _EXACT32
                              else np.float64)
        # a layer that feeds a pool fires in the pool's type: the pool then adds same-type blocks
        self.spike_dtype = _int_dtype(self.n.M * max(1, self.split) ** 2)
        # exact int8 products (golden/intmm.py) where the weights fit; the inputs are checked
        # per call unless their static bound fits
        self.mm = self.w8 = None
        rowsum = int(np.abs(w.astype(np.int64)).reshape(w.shape[0], -1).sum(1).max(initial=0))
        if mm is not None and intmm.fits(rowsum, int(w.min(initial=0)), int(w.max(initial=0))):
            self.mm = mm
            self.w8 = intmm.weights(mm, self.w.astype(np.int8))
            self.in8 = in_bound <= 127
        # synops as an int8 product too: the non-zero inputs (0/1) times fan / g
        self.fan8 = None
        g = int(np.gcd.reduce(fan)) if fan.size else 0
        if mm is not None and self.uniform_fan is None and g and fan.max() // g <= 127 and \
                intmm.fits(int(fan.sum() // g), 0, 127):
            self.fan8 = intmm.weights(mm, (fan // g).astype(np.int8)[:, None])
            self.fan_g = g
            self.fan_mm = mm

    def synops(self, x: np.ndarray, count=None) -> tuple[np.ndarray, np.ndarray]:
        """Synops of every row of ``x`` (rows: image-steps) and whether the row has an input.

        ``count``: the non-zero values of every row, when the caller has them.
        """
        if self.uniform_fan is not None:
            if count is None:
                count = _count_rows(x.reshape(1, x.shape[0], -1))[0]
            return count * self.uniform_fan, count > 0
        nz = x.reshape(x.shape[0], -1) != 0
        if self.fan8 is not None:
            syn = np.empty((nz.shape[0], 1), dtype=np.int32)
            intmm.matmul(self.fan_mm, nz.view(np.int8), self.fan8, syn)
            syn = syn[:, 0].astype(np.int64) * self.fan_g
        else:
            syn = nz.astype(self.fan.dtype) @ self.fan
        return syn, syn > 0 if self.fan.min(initial=1) > 0 else nz.any(axis=1)

    def current(self, x: np.ndarray, rows_any: np.ndarray | None, out: np.ndarray) -> None:
        """Exact integer currents of the rows (image-steps) of ``x`` into ``out`` (int)."""
        R = x.shape[0]
        if rows_any is not None and rows_any.mean() < 0.9:  # skip image-steps without input
            idx = np.flatnonzero(rows_any)
            out[...] = 0
            if idx.size:
                sub = np.empty((idx.size,) + out.shape[1:], dtype=out.dtype)
                self.current(x[idx], None, sub)
                out[idx] = sub
            return
        if self.mm is not None and R and (self.in8 or _fits_int8(x)):
            if out.dtype != np.int32:  # an int64 state: products in int32, then widened
                tmp = np.empty(out.shape, dtype=np.int32)
                self.current(x, None, tmp)
                out[...] = tmp
            elif self.conv:  # int8 first: the windows are then copied without a cast
                self._conv(x.astype(np.int8, copy=False), out, np.int8, _INT8_ROWS)
            else:
                xa = np.ascontiguousarray(x.reshape(R, -1), dtype=np.int8)
                intmm.matmul(self.mm, xa, self.w8, out.reshape(R, -1))
            return
        if not self.conv:
            chunk = _GEMM_ROWS
            for s in range(0, R, chunk):
                xf = x[s:s + chunk].astype(self.ftype)
                np.copyto(out[s:s + chunk], xf @ self.w, casting="unsafe")
            return
        self._conv(x, out, self.ftype, _GEMM_ROWS)

    def _conv(self, x: np.ndarray, out: np.ndarray, dtype, rows: int) -> None:
        """A convolution's currents: im2col products of ``rows`` rows in ``dtype``."""
        R = x.shape[0]
        k, p = self.k, self.pad
        x = np.ascontiguousarray(x)  # the windows below assume (W, C) contiguous
        if p:
            x = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
        _, h, w, c = x.shape
        ho, wo = h - k + 1, w - k + 1
        chunk = max(1, rows // (ho * wo))  # im2col rows per product: cache-sized
        it = x.itemsize  # strides from the shape: numpy may report any stride for a size-1 axis
        s_img, s_row, s_col = h * w * c * it, w * c * it, c * it
        sp = self.split
        if sp:  # output positions in (y%s, x%s, y/s, x/s) order
            shape = (sp, sp, ho // sp, wo // sp, k, k * c)
            strides = (s_row, s_col, sp * s_row, sp * s_col, s_row, it)
        else:
            shape = (ho, wo, k, k * c)
            strides = (s_row, s_col, s_row, it)
        buf = np.empty((min(chunk, R),) + shape, dtype=dtype)
        for s in range(0, R, chunk):
            xs = x[s:s + chunk]
            n = xs.shape[0]
            win = np.lib.stride_tricks.as_strided(xs, (n,) + shape, (s_img,) + strides,
                                                  writeable=False)
            b = buf[:n]
            np.copyto(b, win, casting="unsafe")
            a = b.reshape(n * ho * wo, k * k * c)
            if dtype == np.int8:
                intmm.matmul(self.mm, a, self.w8, out[s:s + n].reshape(n * ho * wo, -1))
            else:
                np.copyto(out[s:s + n].reshape(n * ho * wo, -1), a @ self.w, casting="unsafe")


def _fits_int8(x: np.ndarray) -> bool:
    """Whether every value of the integer array ``x`` lies in [-128, 127]."""
    if x.dtype == np.int8:
        return True
    if x.dtype == np.uint8:
        return int(x.max(initial=0)) <= 127
    return int(x.min(initial=0)) >= -128 and int(x.max(initial=0)) <= 127


def _prepare(model: Model, mm=None) -> tuple[list, list]:
    """The layers in simulation order: ``_Weighted``, ``("pool", size)`` or ``("flatten",)``.

    ``mm``: torch for int8 products (golden/intmm.py) in the layers after the first, or None.
    """
    shapes = model.shapes()
    bounds = iter(model.current_bounds())
    in_bounds = model.input_bounds()
    steps, perm = [], None
    for i in range(model.first_weighted, len(model.layers)):
        layer = model.layers[i]
        if hasattr(layer, "weight"):
            nxt = model.layers[i + 1] if i + 1 < len(model.layers) else None
            split = 0
            if isinstance(nxt, SumPool) and len(shapes[i + 1]) == 3 and \
                    shapes[i + 1][1] % nxt.size == 0 and shapes[i + 1][2] % nxt.size == 0:
                split = nxt.size
            first = not any(isinstance(st, _Weighted) for st in steps)
            steps.append(_Weighted(layer, shapes[i], shapes[i + 1], perm, next(bounds), split,
                                   in_bounds[i], None if first else mm))
            perm = None
        elif isinstance(layer, SumPool):
            steps.append(("pool", layer.size, _int_dtype(in_bounds[i + 1])))
        elif isinstance(layer, Flatten):
            s = shapes[i]
            if len(s) == 3:  # a channels-last (H, W, C) input: each position's C, H, W index
                perm = np.arange(int(np.prod(s))).reshape(s).transpose(1, 2, 0).reshape(-1)
            steps.append(("flatten",))
        else:  # pragma: no cover - Model validates layer types
            raise TypeError(f"unknown layer {layer!r}")
    return steps, shapes


def _count_rows(o: np.ndarray) -> np.ndarray:
    """Non-zero values of every (t, b) row of ``o`` (T, B, N)."""
    if o.shape[2] < 512:
        return np.count_nonzero(o, axis=2)
    rows = o.reshape(-1, o.shape[2])
    if hasattr(np, "bitwise_count"):  # numpy >= 2: the rows' bits packed, then counted
        packed = np.packbits(rows != 0, axis=1)
        return np.bitwise_count(packed).sum(axis=1, dtype=np.int64).reshape(o.shape[:2])
    return np.fromiter((np.count_nonzero(r) for r in rows), np.int64, len(rows)).reshape(
        o.shape[:2])


def _logical(o: np.ndarray, wl: "_Weighted") -> np.ndarray:
    """(Tc, B, *internal) spikes to (Tc, B, *logical shape)."""
    if not wl.conv:
        return o
    if wl.split:  # (s, s, H/s, W/s, C): y = (y/s) s + y%s
        tc, b, s, _, h2, w2, c = o.shape
        return o.transpose(0, 1, 6, 4, 2, 5, 3).reshape(tc, b, c, h2 * s, w2 * s)
    return o.transpose(0, 1, 4, 2, 3)


def _step_macs(model: Model) -> int:
    """Multiply-adds of one image-step in the weighted layers after the first."""
    shapes, total, first = model.shapes(), 0, True
    for i, layer in enumerate(model.layers):
        if hasattr(layer, "weight"):
            if not first:
                total += layer.weight.size * int(np.prod(shapes[i + 1][1:]))
            first = False
    return total


def _batch_plan(model: Model, n_images: int, T: int, batch_size) -> tuple[int, int]:
    """Images per batch and steps per time window, sized for memory and cache."""
    sizes = [int(np.prod(s)) for s in model.shapes()[model.first_weighted:]]
    per = max(sizes)  # activations of the widest layer per image and step
    budget = _WINDOW
    B = max(1, min(n_images, 1024, budget // (per * min(T, 32))))
    if batch_size is not None:
        B = min(B, batch_size)
    batches = max(-(-n_images // B), min(cpus(), n_images))  # at least one per core
    B = -(-n_images // batches)                                # and all about equal
    Tc = max(1, min(T, budget // (per * B)))
    return B, Tc


def _run_batch(model: Model, images: np.ndarray, T: int, trace: bool, Tc: int,
               steps=None) -> RunResult:
    B = images.shape[0]
    steps, shapes = steps or _prepare(model)
    weighted = [s for s in steps if isinstance(s, _Weighted)]
    L = len(weighted)
    n_out = shapes[-1][0]
    membrane_out = model.output == "membrane"
    events = np.zeros((L, T, B), dtype=np.int64)
    synops = np.zeros((L, T, B), dtype=np.int64)
    out = np.zeros((T, B, n_out), dtype=np.int64)
    traces = [np.zeros((T, B) + wl.out_shape, dtype=np.int64) for wl in weighted] if trace \
        else None
    v = [np.full((B,) + wl.out_int, wl.n.v_init, dtype=wl.state) for wl in weighted]
    # the first weighted layer: a constant current per image, computed once
    w0 = weighted[0]
    x0 = images.reshape((B,) + shapes[model.first_weighted])
    if w0.conv:
        x0 = x0.transpose(0, 2, 3, 1)  # channels last
    syn0, _ = w0.synops(x0)
    synops[0, 0] = syn0
    i0 = np.empty((B,) + w0.out_int, dtype=np.int64)
    w0.current(x0, None, i0)
    bad = None
    for t0 in range(0, T, Tc):
        tc = min(Tc, T - t0)
        li = 0
        x = count = None  # a layer's input, and its non-zero values per row when known
        split = 0         # the pool layout of x (see _Weighted)
        for st in steps:
            if isinstance(st, tuple):
                if st[0] == "pool":
                    # the split layout holds only for the first pool after the layer
                    x = _pool(x.reshape((tc * B,) + x.shape[2:]), st[1], st[2], split)
                    split = 0
                    x = x.reshape((tc, B) + x.shape[1:])
                    count = None
                else:
                    x = x.reshape(tc, B, -1)
                continue
            wl = st
            last = li == L - 1
            if last and membrane_out:
                o = np.empty((tc, B) + wl.out_int, dtype=np.int64)
            else:
                o = np.empty((tc, B) + wl.out_int, dtype=wl.spike_dtype)
            if li == 0:
                if last and membrane_out:
                    run(v[0], i0.astype(wl.state), wl.n, o, membrane=True)
                else:
                    if bad is None:
                        bad = constant_current_spikes(i0, wl.n, t0, tc, o,
                                                      horizon=T).reshape(-1)
                        bad_idx = np.flatnonzero(bad)
                        v_bad = np.full(bad_idx.size, wl.n.v_init, dtype=np.int64)
                        i_bad = i0.reshape(-1)[bad_idx]
                    else:
                        constant_current_spikes(i0, wl.n, t0, tc, o, horizon=T)
                    if bad_idx.size:
                        o_bad = np.empty((tc, bad_idx.size), dtype=o.dtype)
                        run(v_bad, i_bad, wl.n, o_bad)
                        o.reshape(tc, -1)[:, bad_idx] = o_bad
            else:
                xr = x.reshape((tc * B,) + x.shape[2:])
                syn, rows_any = wl.synops(xr, count)
                synops[li, t0:t0 + tc] = syn.reshape(tc, B)
                cur = np.empty((tc * B,) + wl.out_int, dtype=wl.state)
                wl.current(xr, rows_any, cur)
                run(v[li], cur.reshape((tc, B) + wl.out_int), wl.n, o,
                    membrane=last and membrane_out)
            if not (last and membrane_out):
                count = _count_rows(o.reshape(tc, B, -1))
                events[li, t0:t0 + tc] = count
                count = count.reshape(-1)
            if traces is not None:
                traces[li][t0:t0 + tc] = _logical(o, wl)
            if last:
                out[t0:t0 + tc] = o
            x, split = o, wl.split
            li += 1
    if membrane_out:
        acc = out
        counts = out[-1].copy()
    else:
        acc = np.cumsum(out, axis=0)
        counts = acc[-1].copy()
    pred = np.argmax(acc, axis=2).astype(np.int16)
    return RunResult(out, counts, pred, events, synops, traces)


def simulate(model: Model, images, T: int, *, batch_size: int | None = None,
             trace: bool = False, progress: bool = False) -> RunResult:
    """Run the integer SNN on uint8 images for T steps.

    Parameters
    ----------
    model : Model
    images : uint8 array (B, C, H, W) or (C, H, W)
    T : int
        Number of time steps, >= 1.
    batch_size : int or None
        The most images simulated together (a memory bound). Below it the batch is chosen
        from the model's widest layer and T so that a batch's activations stay cache- and
        memory-friendly; ``None``: no bound. Results never depend on it.
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
    if batch_size is not None and (isinstance(batch_size, bool) or
                                   not isinstance(batch_size, (int, np.integer)) or batch_size < 1):
        raise ValueError(f"batch_size must be an integer >= 1 or None, not {batch_size!r}")
    _check_exact(model)
    T = int(T)
    B, Tc = _batch_plan(model, images.shape[0], T, batch_size)
    prepared = _prepare(model, intmm.backend(_step_macs(model) * T * images.shape[0]))
    starts = list(range(0, images.shape[0], B))
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(starts), desc=f"{model.name} T={T}", unit="batch", file=sys.stderr)

    def one(s):
        r = _run_batch(model, images[s:s + B], T, trace, Tc, prepared)
        if bar is not None:
            bar.update()
        return r

    workers = min(len(starts), cpus())
    try:
        if workers > 1:  # one batch per core at a time; BLAS single-threaded meanwhile
            with blas_single_thread(), ThreadPoolExecutor(workers) as pool:
                parts = list(pool.map(one, starts))
        else:
            parts = [one(s) for s in starts]
    finally:
        if bar is not None:
            bar.close()
    return parts[0] if len(parts) == 1 else RunResult.concat(parts)
