"""ONNX files to the float layer list (``augsnn convert model.onnx``).

:func:`onnx_float_layers` reads an ONNX graph (the ``onnx`` package) that is a chain of
``Conv`` (no bias; stride 1, no dilation, one group, equal padding), ``MatMul`` / ``Gemm``
(a weight initializer, no bias), ``Relu``, ``LeakyRelu``, ``AveragePool`` (square,
non-overlapping, unpadded), ``Flatten`` (axis 1), ``Reshape`` (to ``(batch, -1)``),
``Identity`` and ``Dropout``, and returns the float layers of :mod:`augsnn.golden.convert`.
The small shape computations the PyTorch exporter writes for ``x.view(x.size(0), -1)``
(``Shape``, ``Gather``, ``Unsqueeze``, ``Concat``, ``Constant``, ``Cast``) are evaluated
here. Anything else is refused with ``ValueError``: ``<file>: node <name> (<op>): <why>``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

__all__ = ["onnx_float_layers"]

_SHAPE_OPS = ("Shape", "Gather", "Unsqueeze", "Concat", "Constant", "Cast", "Squeeze")


def _attrs(node) -> dict:
    import onnx
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def onnx_float_layers(path, image_shape=None) -> tuple[list[dict], tuple]:
    """``(float layers, input shape)`` of the ONNX file ``path``.

    ``image_shape``: the data set's ``(C, H, W)``; a graph whose input is a flat vector of
    the same size gets a leading flatten and takes the images as they are.
    """
    import onnx
    from onnx import numpy_helper
    name = Path(path).name
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # noqa: BLE001 - protobuf's errors vary
        raise ValueError(f"{name}: not a readable ONNX file ({type(exc).__name__}: "
                         f"{' '.join(str(exc).split())[:200]})") from None
    g = model.graph
    consts = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    inputs = [i for i in g.input if i.name not in consts]
    if len(inputs) != 1 or len(g.output) != 1:
        raise ValueError(f"{name}: only a graph of one input and one output converts, not "
                         f"{len(inputs)} inputs and {len(g.output)} outputs")
    dims = [d.dim_value if d.HasField("dim_value") else None
            for d in inputs[0].type.tensor_type.shape.dim]
    if len(dims) not in (2, 3, 4) or any(d is None or d < 1 for d in dims[1:]):
        raise ValueError(f"{name}: the input {inputs[0].name!r} must have a batch dimension "
                         f"and fixed sizes, not {dims}")
    shape = tuple(dims[1:])
    layers: list[dict] = []
    input_shape = shape
    if len(shape) == 1 and image_shape is not None and math.prod(image_shape) == shape[0]:
        input_shape = tuple(image_shape)
        layers.append({"type": "flatten"})
    batch = dims[0] or 1
    prev = inputs[0].name
    shapes = {prev: (batch, *shape)}  # full shapes of known tensors (for Shape ops)
    for i, node in enumerate(g.node):
        where = f"{name}: node {node.name or '#' + str(i)} ({node.op_type})"
        a = _attrs(node)
        if node.op_type in _SHAPE_OPS:
            _shape_op(node, a, consts, shapes, where)
            continue
        data = [x for x in node.input if x and x not in consts]
        if data != [prev]:
            raise ValueError(f"{where}: reads {', '.join(data) or 'no tensor'}, not {prev!r}: "
                             "only a chain of layers converts (no residual add or branch)")
        layer, shape = _layer(node, a, consts, shape, where)
        if layer is not None:
            layers.append(layer)
        prev = node.output[0]
        shapes[prev] = (batch, *shape)
    if prev != g.output[0].name:
        raise ValueError(f"{name}: the graph's output {g.output[0].name!r} is not the last "
                         "layer's output")
    return layers, input_shape


def _shape_op(node, a, consts, shapes, where) -> None:
    """Evaluate a shape computation on constants (the exporter's ``x.size(0)``)."""
    op = node.op_type
    try:
        if op == "Constant":
            from onnx import numpy_helper
            value = numpy_helper.to_array(a["value"]) if "value" in a else \
                np.asarray(a.get("value_ints", a.get("value_int")))
        elif op == "Shape":
            value = np.asarray(shapes[node.input[0]], dtype=np.int64)
        else:
            args = [consts[x] for x in node.input if x]
            if op == "Gather":
                value = np.take(args[0], args[1], axis=a.get("axis", 0))
            elif op == "Unsqueeze":
                axes = a["axes"] if "axes" in a else args[1]
                value = np.expand_dims(args[0], tuple(int(x) for x in np.ravel(axes)))
            elif op == "Squeeze":
                value = np.squeeze(args[0])
            elif op == "Concat":
                value = np.concatenate([np.atleast_1d(x) for x in args], axis=a.get("axis", 0))
            else:  # Cast
                value = args[0]
    except KeyError:
        raise ValueError(f"{where}: computes on a tensor that is not a constant shape; only "
                         "shape computations for a reshape convert") from None
    consts[node.output[0]] = np.asarray(value)


def _weight(consts, node, index, where, ndim) -> np.ndarray:
    if len(node.input) <= index or node.input[index] not in consts:
        raise ValueError(f"{where}: its weight must be a constant (initializer)")
    w = np.asarray(consts[node.input[index]], dtype=np.float64)
    if w.ndim != ndim:
        raise ValueError(f"{where}: weight of {w.ndim} dimensions, not {ndim}")
    return w


def _no_bias(node, index, where) -> None:
    if len(node.input) > index and node.input[index]:
        raise ValueError(f"{where}: has a bias; only bias-free layers convert (bias=False)")


def _layer(node, a, consts, shape, where):
    op = node.op_type
    if op == "Conv":
        _no_bias(node, 2, where)
        w = _weight(consts, node, 1, where, 4)
        k = w.shape[2]
        pads = list(a.get("pads", [0, 0, 0, 0]))
        auto = a.get("auto_pad", b"NOTSET")
        auto = auto.decode() if isinstance(auto, bytes) else auto
        if auto in ("SAME_UPPER", "SAME_LOWER") and k % 2 == 1:
            pads = [k // 2] * 4
        bad = {key: v for key, v, ok in (
            ("strides", a.get("strides"), a.get("strides", [1, 1]) in ([1, 1],)),
            ("dilations", a.get("dilations"), a.get("dilations", [1, 1]) in ([1, 1],)),
            ("group", a.get("group"), a.get("group", 1) == 1),
            ("pads", pads, len(set(pads)) == 1 and 0 <= pads[0] < k),
            ("kernel", w.shape[2:], w.shape[2] == w.shape[3]),
            ("auto_pad", auto, auto in ("NOTSET", "VALID") or k % 2 == 1)) if not ok}
        if bad:
            raise ValueError(f"{where}: only square kernels, stride 1, equal zero padding "
                             f"smaller than the kernel, no dilation, group 1 convert, not {bad}")
        if len(shape) != 3 or shape[0] != w.shape[1]:
            raise ValueError(f"{where}: weight {w.shape} does not fit its input {shape}")
        p = pads[0]
        layer = {"type": "conv2d", "weight": w}
        if p:
            layer["padding"] = int(p)
        return layer, (w.shape[0], shape[1] + 2 * p - k + 1, shape[2] + 2 * p - k + 1)
    if op in ("MatMul", "Gemm"):
        if op == "Gemm":
            _no_bias(node, 2, where)
            if a.get("transA", 0) or a.get("alpha", 1.0) != 1.0:
                raise ValueError(f"{where}: only transA=0 and alpha=1 convert")
        w = _weight(consts, node, 1, where, 2)
        w = w if op == "Gemm" and a.get("transB", 0) else w.T  # to (out, in)
        if len(shape) != 1 or shape[0] != w.shape[1]:
            raise ValueError(f"{where}: weight (out, in) = {w.shape} does not fit its input "
                             f"{shape}")
        return {"type": "dense", "weight": np.ascontiguousarray(w)}, (w.shape[0],)
    if op == "Relu":
        return {"type": "relu"}, shape
    if op == "LeakyRelu":
        # ONNX stores the slope as float32: its shortest decimal (0.01, not 0.0099999998)
        return {"type": "leaky_relu", "alpha": float(str(np.float32(a.get("alpha", 0.01))))}, shape
    if op == "AveragePool":
        ks = list(a.get("kernel_shape", []))
        if len(ks) != 2 or ks[0] != ks[1] or list(a.get("strides", [1, 1])) != ks \
                or any(a.get("pads", [0])) or a.get("ceil_mode", 0):
            raise ValueError(f"{where}: only square, non-overlapping, unpadded average pooling "
                             "converts")
        s = ks[0]
        return {"type": "avgpool", "size": int(s)}, (shape[0], shape[1] // s, shape[2] // s)
    if op in ("Flatten", "Reshape"):
        if op == "Flatten" and a.get("axis", 1) != 1:
            raise ValueError(f"{where}: only axis 1 (keep the batch) converts")
        if op == "Reshape":
            if len(node.input) < 2 or node.input[1] not in consts:
                raise ValueError(f"{where}: its shape must be a constant")
            t = [int(x) for x in np.ravel(consts[node.input[1]])]
            n = math.prod(shape)
            if not (len(t) == 2 and t[0] in (0, -1, 1) and t[1] in (-1, n)
                    and not (t[0] == -1 and t[1] == -1)):
                raise ValueError(f"{where}: reshapes {shape} to {t}; only flattening "
                                 "(batch kept, the rest joined) converts")
        if len(shape) == 1:
            return None, shape
        return {"type": "flatten"}, (math.prod(shape),)
    if op in ("Identity", "Dropout"):
        return None, shape
    if op in ("MaxPool", "GlobalMaxPool"):
        raise ValueError(f"{where}: max pooling does not convert; use average pooling")
    if op == "BatchNormalization":
        raise ValueError(f"{where}: BatchNorm must be folded into the preceding weights")
    if op in ("Add", "Sum", "Concat"):
        raise ValueError(f"{where}: a residual add or branch does not convert")
    raise ValueError(f"{where}: unsupported operator")
