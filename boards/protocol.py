"""The serial protocol between a host and an accelerator board (docs/boards.md).

Layer: ``boards``. Plain Python + NumPy: the host command (``augsnn board``), the cocotb
testbench of the UART top-level and the docs use these functions, so the bytes on the wire
are defined once.

Request (host to board): ``T`` as two bytes, least significant first, then the ``C*H*W``
pixels (uint8) in C, H, W order. A board that loads its weights over the link (the compact
engine, ``icebreaker``) takes a weight frame once after configuration: header ``T = 0``, then
the weight payload (:func:`augsnn.hw.compact_plan.weight_frame`); it answers with one word,
the 32-bit sum of the payload bytes. (The lane accelerator reads ``T = 0`` as 1.)
Answer (board to host): the accelerator's result words, each 4 bytes little-endian: class,
the ``n_classes`` output counts (signed), the events of every weighted layer, the cycles the
image took. Frames have fixed lengths given by the model, so no framing bytes are needed; a
host that lost a byte resets the board.
"""

from __future__ import annotations

import numpy as np

__all__ = ["encode_image", "answer_bytes", "decode_answer", "expected_answers", "differing_fields",
           "encode_weights", "WEIGHT_ANSWER_BYTES"]

#: Bytes of the answer to a weight frame (the 32-bit sum of its payload, little-endian).
WEIGHT_ANSWER_BYTES = 4


def encode_weights(model) -> tuple[bytes, int]:
    """The weight frame of ``model`` for the compact engine and the checksum it answers."""
    from augsnn.hw.compact_plan import compact_plan, weight_checksum, weight_frame
    plan = compact_plan(model)
    return weight_frame(plan), weight_checksum(plan)

#: Largest ``T`` the two-byte header can carry.
MAX_T = (1 << 16) - 1


def encode_image(T: int, pixels) -> bytes:
    """Return the request bytes for one image (``pixels``: uint8 values, any shape)."""
    if isinstance(T, bool) or not isinstance(T, (int, np.integer)) or not 1 <= T <= MAX_T:
        raise ValueError(f"T must be an integer between 1 and {MAX_T}, not {T!r}")
    px = np.asarray(pixels)
    if px.dtype != np.uint8:
        if px.size and (px.min() < 0 or px.max() > 255 or not np.all(px == np.round(px))):
            raise ValueError(f"pixels must be integers 0..255, got values "
                             f"{px.min()!r}..{px.max()!r}")
        px = px.astype(np.uint8)
    return bytes([int(T) & 0xFF, int(T) >> 8]) + px.reshape(-1).tobytes()


def answer_bytes(n_classes: int, n_layers: int) -> int:
    """Length in bytes of one answer."""
    return 4 * (1 + n_classes + n_layers + 1)


def decode_answer(data: bytes, n_classes: int, n_layers: int) -> dict:
    """Decode one answer: ``class``, ``counts`` (list), ``events`` (per layer), ``cycles``."""
    need = answer_bytes(n_classes, n_layers)
    if len(data) != need:
        raise ValueError(f"an answer of this model is {need} bytes, got {len(data)}")
    words = np.frombuffer(bytes(data), dtype="<u4")
    counts = words[1:1 + n_classes].astype(np.int64)
    counts = np.where(counts >= 1 << 31, counts - (1 << 32), counts)
    return {"class": int(words[0]), "counts": [int(c) for c in counts],
            "events": [int(e) for e in words[1 + n_classes:1 + n_classes + n_layers]],
            "cycles": int(words[-1])}


def expected_answers(model, images, T: int) -> list[dict]:
    """The answers the golden model gives for ``images`` (``class``, ``counts``, ``events``)."""
    from augsnn.golden.network import simulate
    images = np.asarray(images, dtype=np.uint8)
    g = simulate(model, images.reshape((len(images),) + tuple(model.input_shape)), T)
    return [{"class": int(g.pred[b]), "counts": [int(c) for c in g.counts[b]],
             "events": [int(e) for e in g.events[:, :, b].sum(axis=1)]}
            for b in range(len(images))]


def differing_fields(answer: dict, expected: dict) -> list[str]:
    """The fields (``class``, ``counts``, ``events``) in which a decoded answer differs."""
    return [f for f in ("class", "counts", "events") if answer[f] != expected[f]]
