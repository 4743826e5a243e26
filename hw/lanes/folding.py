"""Folding: how many lanes each layer of the lane accelerator gets (like FINN's folding).

Layer: ``hw`` (plain Python + NumPy; no Amaranth). Every weighted layer ``l`` of the lane
accelerator has its own lane count ``L_l`` (a power of two, at most
:data:`~augsnn.hw.lanes.plan.MAX_LANES`): ``L_l`` synaptic updates per cycle, ``L_l`` neurons
fired per cycle. Its busy cycles per image are about

    ceil(S_l * G_l / OC_l) + T * P_l * G_l,    G_l = ceil(OC_l / L_l)

with ``S_l`` its synops per image (golden model), ``OC_l`` its output channels, ``P_l`` its
output positions: one beat per output position an event feeds and per group of ``L_l``
channels, and one fire-pass row per position and group each step. :func:`choose_lanes`
spends a budget of lanes (multipliers): lanes go where they save
the most cycles per image, as FINN's folding spends its resources on the slowest layers.
"""

from __future__ import annotations

import math

import numpy as np

from augsnn.golden.checks import check_int

__all__ = ["layer_cycles", "choose_lanes", "parse_lanes", "lanes_option", "auto_lanes",
           "AUTO_BUDGET", "parse_taps", "taps_option"]


def layer_cycles(out_channels: int, positions: int, synops: float, T: int, lanes: int) -> float:
    """Busy cycles per image of one layer at ``lanes`` lanes (formula in the module doc)."""
    groups = math.ceil(out_channels / lanes)
    return math.ceil(synops * groups / out_channels) + T * positions * groups


def choose_lanes(model, synops_per_layer, T: int, *, budget: int, max_lanes: int = 64,
                 min_lanes: int = 1) -> tuple[int, ...]:
    """Lane counts per weighted layer that balance the layers' cycles within ``budget``.

    Parameters
    ----------
    model : Model
    synops_per_layer : sequence of float
        Mean synops per image of each weighted layer (``RunResult.synops`` summed over
        steps, averaged over images).
    T : int
        Time steps per image.
    budget : int
        Most lanes in total (each lane is one multiplier).
    max_lanes, min_lanes : int
        Bounds per layer (powers of two). A layer never gets more lanes than its output
        channels rounded up to a power of two.

    The lane accelerator runs its layers one after the other within a step, so an image
    takes about the sum of the layers' cycles: each lane goes where it saves the most.

    Returns
    -------
    tuple of int
        Lanes per weighted layer, a power of two each.
    """
    shapes = model.shapes()
    weighted = [i for i, layer in enumerate(model.layers) if hasattr(layer, "weight")]
    synops = [float(s) for s in synops_per_layer]
    if len(synops) != len(weighted):
        raise ValueError(f"synops_per_layer has {len(synops)} entries, the model "
                         f"{len(weighted)} weighted layers")
    budget = check_int("Lane budget", budget, min_lanes * len(weighted))
    check_int("T", T, 1)
    layers = []
    for i in weighted:
        out = shapes[i + 1]
        oc = int(out[0])
        positions = int(np.prod(out[1:])) if len(out) > 1 else 1
        cap = min(max_lanes, 1 << max(0, (oc - 1).bit_length()))
        layers.append((oc, positions, max(min_lanes, 1), max(cap, min_lanes)))
    lanes = [low for _, _, low, _ in layers]

    def cost(l: int, L: int) -> float:
        oc, positions = layers[l][0], layers[l][1]
        return layer_cycles(oc, positions, synops[l], T, L)

    while True:          # double the lanes that save the most cycles per added lane
        best, gain = None, 0.0
        for l, (oc, positions, _, cap) in enumerate(layers):
            grown = lanes[l] * 2
            if grown > cap or sum(lanes) + grown - lanes[l] > budget:
                continue
            g = (cost(l, lanes[l]) - cost(l, grown)) / (grown - lanes[l])
            if g > gain:
                best, gain = l, g
        if best is None:
            return tuple(lanes)
        lanes[best] *= 2


#: Lanes ``--lanes auto`` may spend in total (multipliers): the ULX3S's ECP5-85F has 156.
AUTO_BUDGET = 96


def _parse_counts(text: str, what: str, auto: bool):
    """One count, or one per weighted layer (comma-separated), or ``auto`` where allowed."""
    text = str(text).strip()
    if auto and text == "auto":
        return "auto"
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        forms = ("a count, a comma-separated count per weighted layer or 'auto'" if auto
                 else "a count or a comma-separated count per weighted layer")
        raise ValueError(f"{what} must be {forms}, not {text!r}") from None
    return values[0] if len(values) == 1 else values


def _argparse_type(parse):
    """``parse`` as an ``argparse`` type (its message kept in the usage error)."""
    def option(text: str):
        import argparse
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    option.__name__ = parse.__name__.replace("parse_", "") + "_option"
    return option


def parse_lanes(text: str):
    """``--lanes``: ``8`` (every layer), ``16,64,16`` (one per weighted layer) or ``auto``.

    Raises ``ValueError`` naming the text (argparse turns it into a usage error).
    """
    return _parse_counts(text, "lanes", auto=True)


def parse_taps(text: str):
    """``--taps``: ``2`` (every conv layer) or ``1,2,1`` (one per weighted layer).

    Raises ``ValueError`` naming the text (argparse turns it into a usage error).
    """
    return _parse_counts(text, "taps", auto=False)


#: :func:`parse_lanes` and :func:`parse_taps` as ``argparse`` types.
lanes_option = _argparse_type(parse_lanes)
taps_option = _argparse_type(parse_taps)


def auto_lanes(model, T: int, *, budget: int = AUTO_BUDGET, images: int = 20,
               dataset: str | None = None) -> tuple[int, ...]:
    """:func:`choose_lanes` with the synops the golden model counts on the first test images."""
    from augsnn.golden.datasets import load_dataset
    from augsnn.golden.network import simulate
    x, _ = load_dataset(dataset or model.meta.get("dataset", "mnist"), "test")
    res = simulate(model, x[:images], T)
    synops = np.asarray(res.synops).sum(axis=1).mean(axis=1)      # per layer, per image
    return choose_lanes(model, synops, T, budget=budget)
