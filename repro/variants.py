"""Model variants for the paper's experiments: other spike widths, no negative threshold.

Fig. 7 limits every layer's augmented spike to ``M`` (narrower coefficients); Section E
removes the negative threshold. The variants are ordinary :class:`~augsnn.golden.model.Model`
objects, simulated by the golden model like any converted network.
"""

from __future__ import annotations

import dataclasses

from augsnn.golden.checks import signed_bits
from augsnn.golden.model import Model
from augsnn.golden.neuron import NeuronParams

__all__ = ["with_neurons"]


def with_neurons(model, *, coef_bits: int | None = None, double: bool = True):
    """A copy of ``model`` with other spike widths and/or without negative thresholds.

    ``coef_bits`` sets every layer's coefficient width (``M = 2**(coef_bits-1) - 1``);
    ``double=False`` removes the negative threshold of every layer (Section E). Membrane
    widths are re-derived with the converter's rule (room for twice the larger of the step
    input bound and ``(M+1)`` times the largest threshold).
    """
    layers = []
    for layer in model.layers:
        if hasattr(layer, "weight"):
            n = layer.neuron
            layer = dataclasses.replace(layer, neuron=NeuronParams(
                n.theta_p, n.theta_n if double else None,
                n.coef_bits if coef_bits is None else coef_bits, 62, 0))
        layers.append(layer)
    out = Model(model.name, model.method, model.input_shape, layers, model.output,
                dict(model.meta))
    for layer, bound in zip(out.weighted, out.current_bounds()):
        n = layer.neuron
        need = max(bound, (n.M + 1) * max(n.theta_p, n.theta_n or 0))
        layer.neuron = NeuronParams(n.theta_p, n.theta_n, n.coef_bits,
                                    min(62, signed_bits(2 * need)), 0)
    return out
