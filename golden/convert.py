"""Conversion rules: a float ANN (NumPy arrays) to an integer SNN :class:`Model`.

The rules and their decisions are those of docs/golden-model.md ("Conversion decisions").

The front ends (:mod:`augsnn.golden.ann` for an ``nn.Sequential``, :mod:`augsnn.frontends`
for any torch.fx-traceable module and ONNX files; docs/frontends.md) turn a network into the
float layer list used here; everything below is NumPy, so a model from any framework converts
once it is written as that list:

``{"type": "dense", "weight": (out, in)}``, ``{"type": "conv2d", "weight": (oc, ic, k, k)}``
(optional ``"padding": p``, zero padding on every side, default 0),
``{"type": "leaky_relu", "alpha": a}``, ``{"type": "relu"}``, ``{"type": "avgpool",
"size": 2}``, ``{"type": "flatten"}``. No biases. The ANN's input is ``pixels / 255``.

Units. Let ``u_l`` be the ANN value that one unit of layer ``l``'s spike coefficient stands
for (``u_0 = 1/255``: one pixel level). AugMapping: ``u_l = 1`` (``theta_p = 1/alpha_p = 1``).
TerMapping and DataNorm: ``u_l = max(max|w_l|, max|z_l|)`` over the calibration set
(Algorithm 1's ``post_factor``; its ``lambda_l = u_l / u_{l-1}``). Layer ``l`` then fires one
unit for every ``u_l`` of pre-activation (positive side) and one negative unit for every
``u_l / alpha_n`` (negative side; ``alpha_n`` is the LeakyReLU slope, 1 for an output layer
without activation).

Integers. Per weighted layer a scale ``k``: ``W_int = round(w_eff * k)`` with ``w_eff`` the
float weight (divided by ``size**2`` when a sum-pool precedes it), ``theta_p =
round(k * u_l / u_{l-1})``, ``theta_n = round(theta_p_real / alpha_n)``. By default ``k`` makes
``max|W_int| = 2**(weight_bits-1) - 1``; with ``pow2_theta`` the largest ``k`` whose
``theta_p`` is a power of two (a shift instead of a divider in hardware).
"""

from __future__ import annotations

import math

import numpy as np

from .checks import signed_bits
from .model import Conv2d, Dense, Flatten, Model, SumPool
from .neuron import NeuronParams

__all__ = ["check_float_net", "ann_forward", "calibrate", "convert", "DEFAULT_COEF_BITS"]

DEFAULT_COEF_BITS = {"aug": 8, "ter": 2, "datanorm": 2}
_WEIGHTED = ("dense", "conv2d")
_ACTS = ("leaky_relu", "relu")


def check_float_net(layers: list[dict]) -> list[dict]:
    """Validate a float layer list and return it grouped as blocks.

    Each block is ``{"layer": weighted, "act": activation or None, "post": [pool/flatten]}``.
    The rule: weighted layer, optional activation, then any avgpool/flatten, repeated.

    Raises
    ------
    ValueError
        Naming the index and type of the offending layer.
    """
    blocks = []
    for i, layer in enumerate(layers):
        kind = layer.get("type")
        where = f"layer {i} ({kind})"
        if kind in _WEIGHTED:
            w = np.asarray(layer.get("weight"))
            want = 2 if kind == "dense" else 4
            if w.ndim != want or not np.issubdtype(w.dtype, np.floating):
                raise ValueError(f"{where}: weight must be a {want}-d float array, not {w.shape} {w.dtype}")
            if kind == "conv2d" and w.shape[2] != w.shape[3]:
                raise ValueError(f"{where}: only square kernels are supported, not {w.shape[2:]}")
            pad = layer.get("padding", 0)
            if kind == "conv2d" and (isinstance(pad, bool) or not isinstance(pad, int)
                                     or not 0 <= pad < w.shape[2]):
                raise ValueError(f"{where}: padding must be an integer in [0, {w.shape[2] - 1}], "
                                 f"not {pad!r}")
            if kind == "dense" and "padding" in layer:
                raise ValueError(f"{where}: only conv2d layers have padding")
            if not np.all(np.isfinite(w)):
                raise ValueError(f"{where}: weight has non-finite values")
            if layer.get("bias") is not None:
                raise ValueError(f"{where}: biases are not supported (train with bias=False)")
            blocks.append({"layer": layer, "act": None, "post": [], "index": i})
        elif kind in _ACTS:
            if not blocks or blocks[-1]["act"] is not None or blocks[-1]["post"]:
                raise ValueError(f"{where}: an activation must directly follow a weighted layer")
            if kind == "leaky_relu":
                a = layer.get("alpha")
                if not isinstance(a, (int, float)) or not 0 < a <= 1:
                    raise ValueError(f"{where}: LeakyReLU slope must be in (0, 1], not {a!r}")
            blocks[-1]["act"] = layer
        elif kind == "avgpool":
            if not blocks:
                raise ValueError(f"{where}: pooling before the first weighted layer is not supported")
            if layer.get("size") not in (2, 3, 4):
                raise ValueError(f"{where}: pooling size must be 2, 3 or 4, not {layer.get('size')!r}")
            blocks[-1]["post"].append(layer)
        elif kind == "flatten":
            if blocks:
                blocks[-1]["post"].append(layer)
            # a leading flatten (MLP on images) is kept by convert(), a no-op here
        else:
            raise ValueError(f"{where}: unsupported layer type")
    if not blocks:
        raise ValueError("the network has no weighted (dense/conv2d) layer")
    if blocks[-1]["post"]:
        raise ValueError("the network must end with a weighted layer (optionally activated)")
    return blocks


def _im2col(x, k):
    b, c, h, w = x.shape
    win = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))
    return win.transpose(0, 2, 3, 1, 4, 5).reshape(b * (h - k + 1) * (w - k + 1), c * k * k)


def _apply(layer, x):
    kind = layer["type"]
    if kind == "dense":
        return x @ np.asarray(layer["weight"], dtype=np.float32).T
    if kind == "conv2d":
        w = np.asarray(layer["weight"], dtype=np.float32)
        oc, _, k, _ = w.shape
        p = layer.get("padding", 0)
        if p:
            x = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
        b, _, h, wd = x.shape
        y = _im2col(x, k) @ w.reshape(oc, -1).T
        return y.reshape(b, h - k + 1, wd - k + 1, oc).transpose(0, 3, 1, 2)
    if kind == "relu":
        return np.maximum(x, 0)
    if kind == "leaky_relu":
        return np.where(x >= 0, x, x * np.float32(layer["alpha"]))
    if kind == "avgpool":
        s = layer["size"]
        b, c, h, w = x.shape
        x = x[:, :, :h // s * s, :w // s * s]
        return x.reshape(b, c, h // s, s, w // s, s).mean(axis=(3, 5))
    if kind == "flatten":
        return x.reshape(x.shape[0], -1)
    raise ValueError(f"unsupported layer type {kind!r}")


def ann_forward(layers: list[dict], images, *, batch_size: int = 500, return_act_max=False):
    """Float32 forward pass on uint8 images (input ``pixels / 255``).

    Returns the logits ``(N, n_out)``; with ``return_act_max`` also the max |z| of every
    weighted block's output (after its activation) over all images.
    """
    blocks = check_float_net(layers)
    images = np.asarray(images)
    logits, act_max = [], np.zeros(len(blocks))
    first = next(i for i, layer in enumerate(layers) if layer["type"] in _WEIGHTED)
    for s in range(0, images.shape[0], batch_size):
        x = images[s:s + batch_size].astype(np.float32) / np.float32(255)
        if first:  # leading flatten
            x = x.reshape(x.shape[0], -1)
        for bi, block in enumerate(blocks):
            x = _apply(block["layer"], x)
            if block["act"] is not None:
                x = _apply(block["act"], x)
            act_max[bi] = max(act_max[bi], float(np.abs(x).max()))
            for p in block["post"]:
                x = _apply(p, x)
        logits.append(x)
    logits = np.concatenate(logits)
    return (logits, act_max) if return_act_max else logits


def calibrate(layers: list[dict], images) -> list[float]:
    """Algorithm 1's ``post_factor`` per weighted layer: ``max(max|w|, max|z|)``."""
    blocks = check_float_net(layers)
    _, act_max = ann_forward(layers, images, return_act_max=True)
    return [max(float(np.abs(b["layer"]["weight"]).max()), float(a))
            for b, a in zip(blocks, act_max)]


def convert(layers: list[dict], method: str, *, input_shape, name: str = "model",
            weight_bits: int = 8, coef_bits: int | None = None, pot_bits: int | None = None,
            pow2_theta: bool = False, calib_images=None, output: str = "spiking",
            meta: dict | None = None) -> Model:
    """Convert a float ANN to an integer SNN.

    Parameters
    ----------
    layers : list of dict
        Float layers (module docstring).
    method : str
        ``aug`` (AugMapping), ``ter`` (TerMapping, double threshold, Algorithm 1) or
        ``datanorm`` (single threshold, Algorithm 1; the ANN must use ReLU only).
    input_shape : tuple
        ``(C, H, W)`` of the uint8 images.
    weight_bits : int
        Signed weight width, 2..16.
    coef_bits : int or None
        Spike coefficient width; default 8 for ``aug`` and 2 for ``ter``/``datanorm`` (which
        require 2).
    pot_bits : int or None
        Membrane width; default: room for the layer's largest step input and ``(M+1)`` times
        its largest threshold, times two.
    pow2_theta : bool
        Choose every layer's scale so that ``theta_p`` is a power of two.
    calib_images : uint8 array
        Calibration set (the training set) for ``ter``/``datanorm``.
    output : str
        ``spiking`` or ``membrane`` (non-spiking output layer).
    """
    if method not in DEFAULT_COEF_BITS:
        raise ValueError(f"method must be one of {tuple(DEFAULT_COEF_BITS)}, not {method!r}")
    if isinstance(weight_bits, bool) or not isinstance(weight_bits, int) or not 2 <= weight_bits <= 16:
        raise ValueError(f"weight_bits must be an integer in 2..16, not {weight_bits!r}")
    if coef_bits is None:
        coef_bits = DEFAULT_COEF_BITS[method]
    if isinstance(coef_bits, bool) or not isinstance(coef_bits, int) or not 2 <= coef_bits <= 16:
        raise ValueError(f"coef_bits must be an integer in 2..16, not {coef_bits!r}")
    if method != "aug" and coef_bits != 2:
        raise ValueError(f"{method} uses binary spikes: coef_bits must be 2, not {coef_bits!r}")
    blocks = check_float_net(layers)
    if method == "datanorm":
        for b in blocks:
            if b["act"] is not None and b["act"]["type"] != "relu":
                raise ValueError(f"layer {b['index'] + 1} ({b['act']['type']}): DataNorm needs a "
                                 "ReLU ANN (single threshold cannot carry negative values)")
    if method == "aug":
        units = [1.0] * len(blocks)
    else:
        if calib_images is None:
            raise ValueError(f"{method} needs calib_images (the training set) for Algorithm 1")
        units = calibrate(layers, calib_images)
    meta = dict(meta or {})
    meta.setdefault("units", units)

    wmax = (1 << (weight_bits - 1)) - 1
    out_layers = []
    shape = tuple(input_shape)
    if layers[0]["type"] == "flatten":
        out_layers.append(Flatten())
        shape = out_layers[0].out_shape(shape)
    u_prev = 1.0 / 255.0
    pool_div = 1.0
    M = (1 << (coef_bits - 1)) - 1
    for bi, block in enumerate(blocks):
        src = block["layer"]
        w_eff = np.asarray(src["weight"], dtype=np.float64) / pool_div
        absmax = float(np.abs(w_eff).max())
        if absmax == 0:
            raise ValueError(f"layer {block['index']} ({src['type']}): all weights are zero")
        ratio = units[bi] / u_prev  # threshold in units of "w_eff * input integer"
        k = wmax / absmax
        if pow2_theta:
            n = math.floor(math.log2(k * ratio))
            if n < 0:
                raise ValueError(f"layer {block['index']}: no power-of-two threshold >= 1 fits "
                                 f"{weight_bits}-bit weights")
            k = 2.0 ** n / ratio
        w_int = np.rint(w_eff * k)
        w_int = np.clip(w_int, -wmax, wmax).astype(np.int16 if weight_bits > 8 else np.int8)
        act = block["act"]
        theta_p_real = k * ratio
        theta_p = max(1, int(round(theta_p_real)))
        if method == "datanorm":
            theta_n = None
        else:
            alpha = 1.0 if act is None else (act["alpha"] if act["type"] == "leaky_relu" else None)
            if alpha is None:
                theta_n = None  # ReLU layer: nothing negative to carry
            else:
                theta_n = max(1, int(round(theta_p_real / alpha)))
        params = NeuronParams(theta_p, theta_n, coef_bits, 62)
        probe = (Dense(w_int, params, weight_bits) if src["type"] == "dense" else
                 Conv2d(w_int, params, weight_bits, int(src.get("padding", 0))))
        out_layers.append(probe)
        shape = probe.out_shape(shape)
        pool_div = 1.0
        for p in block["post"]:
            if p["type"] == "avgpool":
                out_layers.append(SumPool(p["size"]))
                pool_div *= p["size"] ** 2
            else:
                out_layers.append(Flatten())
            shape = out_layers[-1].out_shape(shape)
        u_prev = units[bi]
    model = Model(name, method, tuple(input_shape), out_layers, output, meta)
    # Membrane width: fits the largest step input plus (M+1) thresholds, with 2x headroom.
    for layer, bound in zip(model.weighted, model.current_bounds()):
        n = layer.neuron
        need = max(bound, (M + 1) * max(n.theta_p, n.theta_n or 0))
        pb = pot_bits if pot_bits is not None else signed_bits(2 * need)
        layer.neuron = NeuronParams(n.theta_p, n.theta_n, coef_bits, pb)
    return model
