"""What every engine's plan shares: the refusal type and the frames on the accelerator's ports.

Layer: ``hw`` (plain Python; no Amaranth). Every engine (:mod:`augsnn.hw.engine`) checks a
model in its plan before any elaboration and refuses it with a :class:`PlanError` that names
the layer and the value. Both engines speak the same frames (docs/boards.md): an image frame
of bytes in (a :data:`HEADER_BYTES`-byte header: ``T``, the early-exit margin and ``t_min``,
each in :data:`T_BITS` bits; then the pixels), an answer of :func:`answer_words` words of
:data:`WORD_BITS` bits out.
"""

from __future__ import annotations

__all__ = ["PlanError", "T_BITS", "WORD_BITS", "HEADER_BYTES", "answer_words"]

#: Width of the run-time step count ``T`` in the image header (two bytes).
T_BITS = 16
#: Width of an answer word (class, counts, events, steps, cycles).
WORD_BITS = 32
#: Bytes of an image frame's header: ``T``, the early-exit margin (0: no early exit) and
#: ``t_min``, two bytes each, least significant first (docs/boards.md).
HEADER_BYTES = 6


class PlanError(ValueError):
    """A model or option that an engine cannot build (raised before any elaboration)."""


def answer_words(n_classes: int, n_layers: int) -> int:
    """Words of one answer: the class, ``n_classes`` counts, the events of every weighted
    layer, the steps run and the cycles."""
    return 1 + n_classes + n_layers + 2
