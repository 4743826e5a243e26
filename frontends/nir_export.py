"""A model file as a NIR graph (``augsnn export MODEL -o model.nir``).

The graph, one node per model layer plus the neurons:

``input`` (``Input``, the image shape) -> ``scale`` (``Scale`` by 255: the graph's input is
``pixels / 255``, what the ANN saw; the model integrates whole pixel values) ->
``layer<i>`` (``Conv2d`` stride 1 with the model's padding and a zero bias, ``Linear``,
``SumPool2d`` stride = size, ``Flatten``) -> after every weighted layer ``layer<i>.if``
(``IF``: ``r = 1``, ``v_threshold = theta_p``; ``I``, an integrator, for the non-spiking
output layer of a ``membrane`` model) -> ``output``.

Weights are the model's integers (as floats). What NIR cannot say is in node metadata, under
keys ``augsnn.*``: on each weighted node ``weight_bits``; on each neuron node ``theta_p``,
``theta_n`` (``-1``: single threshold), ``coef_bits``, ``M``, ``pot_bits``, ``v_init``; on
the graph ``augsnn.header`` (name, method, output, meta as JSON). :func:`reader_differences`
says what a reader that ignores the metadata computes differently.
"""

from __future__ import annotations

import json

import numpy as np

from augsnn.golden.model import Conv2d, Dense, Flatten, Model, SumPool

__all__ = ["to_nir", "write_nir", "reader_differences", "FORMAT"]

FORMAT = "augsnn-nir"


def to_nir(model: Model):
    """The NIR graph (``nir.NIRGraph``) of ``model``."""
    import nir
    shape = tuple(model.input_shape)
    nodes = {"input": nir.Input(input_type=np.array(shape)),
             "scale": nir.Scale(scale=np.full(shape, 255.0))}
    order = ["input", "scale"]
    last = len(model.layers) - 1
    for i, layer in enumerate(model.layers):
        name = f"layer{i}"
        out = layer.out_shape(shape)
        if isinstance(layer, Dense):
            nodes[name] = nir.Linear(weight=layer.weight.astype(np.float64),
                                     metadata={"augsnn.weight_bits": layer.weight_bits})
        elif isinstance(layer, Conv2d):
            w = layer.weight.astype(np.float64)
            nodes[name] = nir.Conv2d(input_shape=tuple(shape[1:]), weight=w, stride=1,
                                     padding=layer.padding, dilation=1, groups=1,
                                     bias=np.zeros(w.shape[0]),
                                     metadata={"augsnn.weight_bits": layer.weight_bits})
        elif isinstance(layer, SumPool):
            s = layer.size
            nodes[name] = nir.SumPool2d(kernel_size=np.array([s, s]), stride=np.array([s, s]),
                                        padding=np.array([0, 0]))
        elif isinstance(layer, Flatten):
            nodes[name] = nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0,
                                      end_dim=-1)
        else:  # pragma: no cover - Model validates its layer types
            raise ValueError(f"layers[{i}]: cannot export {type(layer).__name__}")
        order.append(name)
        if hasattr(layer, "weight"):
            n = layer.neuron
            meta = {"augsnn.theta_p": n.theta_p,
                    "augsnn.theta_n": -1 if n.theta_n is None else n.theta_n,
                    "augsnn.coef_bits": n.coef_bits, "augsnn.M": n.M,
                    "augsnn.pot_bits": n.pot_bits, "augsnn.v_init": n.v_init}
            if i == last and model.output == "membrane":
                nodes[name + ".if"] = nir.I(r=np.ones(out), metadata=meta)
            else:
                nodes[name + ".if"] = nir.IF(r=np.ones(out),
                                             v_threshold=np.full(out, float(n.theta_p)),
                                             v_reset=np.zeros(out), metadata=meta)
            order.append(name + ".if")
        shape = out
    nodes["output"] = nir.Output(output_type=np.array(shape))
    order.append("output")
    header = {"format": FORMAT, "name": model.name, "method": model.method,
              "output": model.output, "input_shape": list(model.input_shape),
              "meta": model.meta}
    return nir.NIRGraph(nodes=nodes, edges=list(zip(order, order[1:])),
                        metadata={"augsnn.header": json.dumps(header)})


def write_nir(model: Model, path) -> list[str]:
    """Write ``model`` as a NIR file (HDF5, ``nir.write``); return :func:`reader_differences`."""
    import nir
    nir.write(str(path), to_nir(model))
    return reader_differences(model)


def reader_differences(model: Model) -> list[str]:
    """What a NIR reader that ignores the ``augsnn.*`` metadata computes differently."""
    out = ["every IF resets by subtracting theta_p (v -= v_threshold), where NIR's IF with "
           "v_reset = 0 resets to 0; and fires at v >= v_threshold, where NIR says v > "
           "v_threshold (equal on integer membranes only after adding 1 to the threshold)",
           "the input is a constant current: the image (pixels / 255, times the Scale node's "
           "255) every time step, no rate or event coding",
           "the decision is the argmax of the output layer's accumulated spike coefficients "
           "(ties to the lowest index)" if model.output == "spiking" else
           "the output layer does not fire (I node); the decision is the argmax of its membrane"]
    for i, layer in enumerate(model.layers):
        if not hasattr(layer, "weight"):
            continue
        n = layer.neuron
        if n.M > 1:
            out.append(f"layer{i}.if: augmented spikes: up to M = {n.M} units a step "
                       f"(min(M, V // {n.theta_p})), each subtracting theta_p; NIR's IF fires "
                       "one")
        if n.theta_n is not None:
            out.append(f"layer{i}.if: a negative threshold: fires negative spikes at V <= "
                       f"-{n.theta_n} (and adds {n.theta_n} per unit); NIR's IF has none")
        if n.v_init:
            out.append(f"layer{i}.if: the membrane starts every image at {n.v_init}, not 0")
    out.append(f"membranes saturate at their width ({', '.join(str(l.neuron.pot_bits) for l in model.weighted)} "
               "bits per layer); NIR's are unbounded reals")
    return out
