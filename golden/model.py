"""The converted integer network: a small, validated intermediate representation.

Every back end (golden simulation, RTL generators, board builds) reads only this
representation, which is what a model file (:mod:`augsnn.golden.modelfile`) holds.

Layer types (found by name, ``LAYER_TYPES``):

- ``dense``: integer weight ``(out_features, in_features)``, spiking neurons.
- ``conv2d``: integer weight ``(out_channels, in_channels, k, k)``, stride 1, zero padding of
  ``padding`` pixels on every side (default 0: valid convolution), spiking neurons; output
  ``(out_channels, H+2*padding-k+1, W+2*padding-k+1)``.
- ``sumpool``: ``size x size`` sum of spike coefficients, stride ``size`` (odd edges are
  dropped, as ``torch.nn.AvgPool2d`` does); the ``1/size**2`` of average pooling is folded
  into the next layer's weights at conversion time.
- ``flatten``: ``(C, H, W)`` to ``C*H*W`` in C, H, W order (PyTorch's order).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .neuron import NeuronParams

__all__ = ["Dense", "Conv2d", "SumPool", "Flatten", "Model", "Stage", "LAYER_TYPES", "METHODS",
           "ann_correct_mask"]

METHODS = ("aug", "ter", "datanorm")


@dataclass
class Dense:
    weight: np.ndarray
    neuron: NeuronParams
    weight_bits: int
    type = "dense"

    def out_shape(self, in_shape):
        if len(in_shape) != 1 or in_shape[0] != self.weight.shape[1]:
            raise ValueError(
                f"dense layer expects an input of shape ({self.weight.shape[1]},), "
                f"not {tuple(in_shape)}")
        return (self.weight.shape[0],)

    def fan_out(self, in_shape) -> np.ndarray:
        """Synaptic fan-out of every input position (the work one input event causes)."""
        return np.full(in_shape, self.weight.shape[0], dtype=np.int64)


@dataclass
class Conv2d:
    weight: np.ndarray
    neuron: NeuronParams
    weight_bits: int
    padding: int = 0
    type = "conv2d"

    def __post_init__(self):
        k = self.weight.shape[-1]
        if isinstance(self.padding, (bool, np.bool_)) or not isinstance(self.padding, (int, np.integer)) \
                or not 0 <= self.padding < k:
            raise ValueError(f"conv2d padding must be an integer in [0, {k - 1}] for kernel {k}, "
                             f"not {self.padding!r}")
        self.padding = int(self.padding)

    def out_shape(self, in_shape):
        oc, ic, k, _ = self.weight.shape
        p = self.padding
        if len(in_shape) != 3 or in_shape[0] != ic or in_shape[1] + 2 * p < k \
                or in_shape[2] + 2 * p < k:
            raise ValueError(
                f"conv2d layer ({ic} input channels, kernel {k}, padding {p}) cannot take an "
                f"input of shape {tuple(in_shape)}")
        return (oc, in_shape[1] + 2 * p - k + 1, in_shape[2] + 2 * p - k + 1)

    def fan_out(self, in_shape) -> np.ndarray:
        oc, _, k, _ = self.weight.shape
        _, h, w = in_shape
        p = self.padding

        def cover(n):  # how many output rows (columns) a given input row (column) feeds
            idx = np.arange(n) + p  # position in the padded input
            return np.minimum(idx, n + 2 * p - k) - np.maximum(idx - k + 1, 0) + 1

        f = oc * np.outer(cover(h), cover(w))
        return np.broadcast_to(f, in_shape).astype(np.int64)


@dataclass
class SumPool:
    size: int = 2
    type = "sumpool"

    def out_shape(self, in_shape):
        if len(in_shape) != 3 or in_shape[1] < self.size or in_shape[2] < self.size:
            raise ValueError(f"sumpool({self.size}) cannot take an input of shape {tuple(in_shape)}")
        return (in_shape[0], in_shape[1] // self.size, in_shape[2] // self.size)


@dataclass
class Flatten:
    type = "flatten"

    def out_shape(self, in_shape):
        return (int(np.prod(in_shape)),)


LAYER_TYPES = {cls.type: cls for cls in (Dense, Conv2d, SumPool, Flatten)}


def _grid(shape) -> tuple:
    """A shape as ``(C, H, W)``: ``(N,)`` is ``(N, 1, 1)``, ``(H, W)`` is ``(1, H, W)``."""
    shape = tuple(int(v) for v in shape)
    return {1: shape + (1, 1), 2: (1,) + shape}.get(len(shape), shape)


@dataclass(frozen=True)
class Stage:
    """A weighted layer with the sum-poolings (and flattens) up to the next weighted layer:
    what a hardware engine runs as one unit (:meth:`Model.stages`).

    ``number``: its place among the weighted layers; ``index``: the layer's index in
    ``Model.layers``; ``pools``: the sizes of the sum-poolings after it, in order (consecutive
    poolings compose: ``pool``, their product, is the merged window); ``in_grid``: its input as
    ``(C, H, W)`` before any flatten (the image's, or what the previous stage hands on);
    ``in_shape``: its input as the layer takes it (flattened for a dense layer after a
    convolution); ``out_grid``: its output ``(C, H, W)`` before pooling (dense: ``(N, 1,
    1)``); ``pooled_grid``: after the poolings (the next stage's ``in_grid``).
    """

    number: int
    index: int
    layer: Any
    pools: tuple
    in_grid: tuple
    in_shape: tuple
    out_grid: tuple
    pooled_grid: tuple

    @property
    def pool(self) -> int:
        """The merged sum-pooling window's size (1: none)."""
        return int(np.prod(self.pools, dtype=np.int64)) if self.pools else 1


@dataclass
class Model:
    """A converted integer SNN.

    Parameters
    ----------
    name : str
        Short name (``net2-aug``).
    method : str
        ``aug`` (AugMapping), ``ter`` (TerMapping) or ``datanorm``.
    input_shape : tuple
        ``(C, H, W)`` of the uint8 input image.
    layers : list
        ``Dense``, ``Conv2d``, ``SumPool`` and ``Flatten`` layers; the first and the last
        are weighted layers.
    output : str
        ``spiking`` (decision: argmax of accumulated output coefficients, ties to the lowest
        index) or ``membrane`` (non-spiking output layer, decision: argmax of V).
    meta : dict
        Provenance: source ANN accuracy, alpha_n, dataset, command, seed, ... (JSON-able).
    """

    name: str
    method: str
    input_shape: tuple
    layers: list
    output: str = "spiking"
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, not {self.method!r}")
        if self.output not in ("spiking", "membrane"):
            raise ValueError(f"output must be 'spiking' or 'membrane', not {self.output!r}")
        self.input_shape = tuple(int(s) for s in self.input_shape)
        for i, layer in enumerate(self.layers):
            if type(layer).__name__ not in {c.__name__ for c in LAYER_TYPES.values()}:
                raise ValueError(f"layers[{i}]: unknown layer type {type(layer).__name__}")
        if not self.weighted or not hasattr(self.layers[-1], "weight"):
            raise ValueError("a model must end with a weighted (dense/conv2d) layer")
        for i in range(self.first_weighted):
            if not isinstance(self.layers[i], Flatten):
                raise ValueError(f"layers[{i}]: only flatten may precede the first weighted layer")
        self.shapes()  # validates the chain of shapes

    @property
    def first_weighted(self) -> int:
        """Index of the first weighted layer (only flatten layers may come before it)."""
        return next((i for i, layer in enumerate(self.layers) if hasattr(layer, "weight")), 0)

    @property
    def weighted(self) -> list:
        """The layers with weights and neurons, in order."""
        return [layer for layer in self.layers if hasattr(layer, "weight")]

    def shapes(self) -> list[tuple]:
        """Input shape of every layer, then the output shape (len(layers) + 1 entries)."""
        shapes = [self.input_shape]
        for i, layer in enumerate(self.layers):
            try:
                shapes.append(tuple(layer.out_shape(shapes[-1])))
            except ValueError as exc:
                raise ValueError(f"layers[{i}]: {exc}") from None
        return shapes

    def stages(self) -> list[Stage]:
        """The weighted layers, each with the sum-poolings after it and its grids (:class:`Stage`)."""
        shapes = self.shapes()
        weighted = [i for i, layer in enumerate(self.layers) if hasattr(layer, "weight")]
        out, grid = [], _grid(self.input_shape)
        for number, i in enumerate(weighted):
            end = weighted[number + 1] if number + 1 < len(weighted) else len(self.layers)
            pools = tuple(int(layer.size) for layer in self.layers[i + 1:end]
                          if isinstance(layer, SumPool))
            pooled = shapes[i + 1]
            for j in range(i + 1, end):
                if isinstance(self.layers[j], SumPool):
                    pooled = shapes[j + 1]
            stage = Stage(number=number, index=i, layer=self.layers[i], pools=pools,
                          in_grid=grid, in_shape=tuple(shapes[i]),
                          out_grid=_grid(shapes[i + 1]), pooled_grid=_grid(pooled))
            out.append(stage)
            grid = stage.pooled_grid
        return out

    @property
    def n_classes(self) -> int:
        return self.shapes()[-1][0]

    def digest(self) -> str:
        """16 hex digits of SHA-256 over everything that decides the model's spikes.

        The input shape, output mode, method, and every layer's type, size, neuron
        parameters, weight width and weights; not the name or the metadata. The one cache
        key of runs and builds of this model.
        """
        import hashlib
        import json
        h = hashlib.sha256(json.dumps([list(self.input_shape), self.output, self.method])
                           .encode())
        for layer in self.layers:
            h.update(layer.type.encode())
            if hasattr(layer, "weight"):
                w = np.ascontiguousarray(layer.weight)
                h.update(str((w.shape, str(w.dtype), layer.weight_bits, layer.neuron)).encode())
                h.update(w.tobytes())
            elif hasattr(layer, "size"):
                h.update(str(layer.size).encode())
        return h.hexdigest()[:16]

    def input_bounds(self) -> list[int]:
        """Largest input magnitude each layer can receive in one step (static bound)."""
        bounds, b = [], 255
        for layer in self.layers:
            bounds.append(b)
            if isinstance(layer, SumPool):
                b = b * layer.size ** 2
            elif hasattr(layer, "weight"):
                b = layer.neuron.M
        return bounds

    def current_bounds(self) -> list[int]:
        """Per weighted layer: max over neurons of sum_j |w_ij| times the largest input."""
        out = []
        for layer, b in zip(self.layers, self.input_bounds()):
            if hasattr(layer, "weight"):
                w = np.abs(layer.weight.astype(np.int64)).reshape(layer.weight.shape[0], -1)
                out.append(int(w.sum(axis=1).max()) * b)
        return out

    def summary(self) -> str:
        """A readable table of the layers."""
        lines = [f"{self.name}: method={self.method} input={self.input_shape} output={self.output}"]
        shapes = self.shapes()
        for i, layer in enumerate(self.layers):
            desc = f"  [{i}] {layer.type:8s} {str(shapes[i]):>16s} -> {str(shapes[i + 1]):<16s}"
            if hasattr(layer, "weight"):
                n = layer.neuron
                desc += (f" w{layer.weight_bits} theta_p={n.theta_p} theta_n={n.theta_n} "
                         f"coef_bits={n.coef_bits} pot_bits={n.pot_bits}")
            lines.append(desc)
        return "\n".join(lines)


def ann_correct_mask(model: Model, n: int | None = None) -> np.ndarray | None:
    """Per test image, whether the source ANN was right (``meta['ann_test_correct']``).

    The converter records it as packed bits (hex) with ``meta['ann_test_images']``, so that a
    run on a subset compares the SNN with the ANN on exactly the same images. Returns the
    first ``n`` entries (all when ``n`` is None), or None when the model does not record it.
    """
    packed = model.meta.get("ann_test_correct")
    if packed is None:
        return None
    bits = np.unpackbits(np.frombuffer(bytes.fromhex(packed), dtype=np.uint8)).astype(bool)
    total = model.meta.get("ann_test_images", len(bits))
    return bits[:total][:n] if n is not None else bits[:total]
