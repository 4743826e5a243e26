"""The serial protocol between a host and an accelerator board (docs/boards.md).

Layer: ``boards``. Plain Python + NumPy: the host command (``augsnn board``), the cocotb
testbench of the UART top-level and the docs use these functions, so the bytes on the wire
are defined once.

Request (host to board): a six-byte header, ``T``, the early-exit margin (0: no early exit)
and ``t_min``, each as two bytes, least significant first (:func:`encode_image`), then the
``C*H*W`` pixels (uint8) in C, H, W order. A board that loads its weights over the link (the compact
engine, ``icebreaker``) takes a weight frame once after configuration: header ``T = 0``, then
the weight payload (:func:`augsnn.hw.compact.plan.weight_frame`); it answers with one word,
the 32-bit sum of the payload bytes. (The lane accelerator reads ``T = 0`` as 1.)
Answer (board to host): the accelerator's result words, each 4 bytes little-endian: class,
the ``n_classes`` output counts (signed), the events of every weighted layer, the steps the
image ran (``T``, or fewer when it exited early), the cycles the image took. Frames have fixed lengths given by the model, so no framing bytes are needed; the
host (:class:`AnswerReader`) detects a slipped frame (an answer short, too long, sent twice, or
failing its own checks, :func:`answer_problems`), says so and resynchronises on the next frame
start.
"""

from __future__ import annotations

import time

import numpy as np

__all__ = ["encode_image", "decode_image", "answer_bytes", "decode_answer", "expected_answers", "differing_fields",
           "encode_weights", "WEIGHT_ANSWER_BYTES", "answer_limits", "answer_problems",
           "AnswerReader", "AnswerTimeout"]

#: Bytes of the answer to a weight frame (the 32-bit sum of its payload, little-endian).
WEIGHT_ANSWER_BYTES = 4


def encode_weights(model, engine: str = "compact") -> tuple[bytes, int | None]:
    """The weight frame of ``model`` for ``engine`` and the checksum the design answers
    (``b""`` and ``None`` for an engine whose weights are in the bitstream)."""
    from augsnn.hw.engine import get_engine
    eng = get_engine(engine)
    plan = eng.plan(model)
    return eng.weight_frame(plan), eng.weight_checksum(plan)

#: Largest ``T`` the two-byte header can carry.
MAX_T = (1 << 16) - 1


def _u16(value) -> bytes:
    return bytes([int(value) & 0xFF, int(value) >> 8])


def encode_image(T: int, pixels, rule=None) -> bytes:
    """Return the request bytes for one image (``pixels``: uint8 values, any shape).

    ``rule``: an :class:`~augsnn.golden.early_exit.ExitRule` (its margin and ``t_min`` at
    most :data:`MAX_T`) or ``None`` for no early exit (margin 0 in the header)."""
    if isinstance(T, bool) or not isinstance(T, (int, np.integer)) or not 1 <= T <= MAX_T:
        raise ValueError(f"T must be an integer between 1 and {MAX_T}, not {T!r}")
    margin, t_min = (0, 0) if rule is None else (rule.margin, rule.t_min)
    if margin > MAX_T or t_min > MAX_T:
        raise ValueError(f"the early-exit margin and t_min must be at most {MAX_T}, not "
                         f"{margin} and {t_min}")
    px = np.asarray(pixels)
    if px.dtype != np.uint8:
        if px.size and (px.min() < 0 or px.max() > 255 or not np.all(px == np.round(px))):
            raise ValueError(f"pixels must be integers 0..255, got values "
                             f"{px.min()!r}..{px.max()!r}")
        px = px.astype(np.uint8)
    return _u16(T) + _u16(margin) + _u16(t_min) + px.reshape(-1).tobytes()


def decode_image(request: bytes):
    """Split one request into ``(T, rule, pixels)``: the header's ``T``, its early-exit
    rule (an :class:`~augsnn.golden.early_exit.ExitRule`, ``None`` for margin 0) and the
    pixel bytes (for board emulators and tests)."""
    from augsnn.golden.early_exit import ExitRule
    from augsnn.hw.plan import HEADER_BYTES
    h = [request[i] | request[i + 1] << 8 for i in range(0, HEADER_BYTES, 2)]
    rule = ExitRule(h[1], max(1, h[2])) if h[1] else None
    return h[0], rule, bytes(request[HEADER_BYTES:])


def answer_bytes(n_classes: int, n_layers: int) -> int:
    """Length in bytes of one answer (:func:`augsnn.hw.plan.answer_words` words of 4 bytes)."""
    from augsnn.hw.plan import answer_words
    return 4 * answer_words(n_classes, n_layers)


def decode_answer(data: bytes, n_classes: int, n_layers: int) -> dict:
    """Decode one answer: ``class``, ``counts`` (list), ``events`` (per layer), ``steps``,
    ``cycles``."""
    need = answer_bytes(n_classes, n_layers)
    if len(data) != need:
        raise ValueError(f"an answer of this model is {need} bytes, got {len(data)}")
    words = np.frombuffer(bytes(data), dtype="<u4")
    counts = words[1:1 + n_classes].astype(np.int64)
    counts = np.where(counts >= 1 << 31, counts - (1 << 32), counts)
    return {"class": int(words[0]), "counts": [int(c) for c in counts],
            "events": [int(e) for e in words[1 + n_classes:1 + n_classes + n_layers]],
            "steps": int(words[-2]), "cycles": int(words[-1])}


def expected_answers(model, images, T: int, rule=None) -> list[dict]:
    """The answers the golden model gives for ``images`` (``class``, ``counts``, ``events``,
    ``steps``), under the early-exit ``rule`` if one is given."""
    from augsnn.golden.early_exit import apply
    from augsnn.golden.network import simulate
    images = np.asarray(images, dtype=np.uint8)
    g = simulate(model, images.reshape((len(images),) + tuple(model.input_shape)), T)
    if rule is None:
        pred, counts, events = g.pred, g.counts, g.events.sum(axis=1)
        steps = np.full(len(images), T)
    else:
        r = apply(g, rule)
        pred, counts, events, steps = r.pred, r.counts, r.events, r.steps
    return [{"class": int(pred[b]), "counts": [int(c) for c in counts[b]],
             "events": [int(e) for e in events[:, b]], "steps": int(steps[b])}
            for b in range(len(images))]


def differing_fields(answer: dict, expected: dict) -> list[str]:
    """The fields (``class``, ``counts``, ``events``, ``steps``) in which a decoded answer
    differs."""
    return [f for f in ("class", "counts", "events", "steps") if answer[f] != expected[f]]


def answer_limits(model, T: int) -> dict:
    """What any answer of ``model`` at ``T`` steps must satisfy (:func:`answer_problems`)."""
    shapes = model.shapes()
    neurons = [int(np.prod(shapes[i + 1])) for i, layer in enumerate(model.layers)
               if hasattr(layer, "weight")]
    last = model.weighted[-1].neuron
    if model.output == "membrane":
        count_max = max(-last.v_min, last.v_max)
    else:
        count_max = last.M * T
    return {"n_classes": model.n_classes, "neurons": neurons, "T": int(T),
            "count_max": count_max}


def answer_problems(answer: dict, limits: dict) -> list[str]:
    """Every field of a decoded answer checked on its own (no golden model needed).

    ``class`` is a class index and the first largest of ``counts``, every count within
    what the output layer can produce in ``T`` steps, every layer's events at most its
    neurons times ``T``, ``steps`` in ``1..T``, and ``cycles`` at least ``steps`` (one per
    step) and below ``2**31``.
    A misaligned frame (a byte lost or added) fails these almost surely.
    """
    problems = []
    counts, cls = answer["counts"], answer["class"]
    if not 0 <= cls < limits["n_classes"]:
        problems.append(f"class {cls} is not in [0, {limits['n_classes'] - 1}]")
    elif counts and cls != int(np.argmax(counts)):
        problems.append(f"class {cls} is not the first largest output count "
                        f"({int(np.argmax(counts))})")
    if any(abs(c) > limits["count_max"] for c in counts):
        problems.append(f"an output count exceeds {limits['count_max']} in magnitude")
    for layer, (e, n) in enumerate(zip(answer["events"], limits["neurons"])):
        if e > n * limits["T"]:
            problems.append(f"layer {layer}: {e} events, more than {n} neurons x T="
                            f"{limits['T']}")
    if not 1 <= answer["steps"] <= limits["T"]:
        problems.append(f"steps {answer['steps']} is not in [1, T={limits['T']}]")
    if not max(1, answer["steps"]) <= answer["cycles"] < 1 << 31:
        problems.append(f"cycles {answer['cycles']} is not in [steps={answer['steps']}, 2**31)")
    return problems


class AnswerTimeout(ValueError):
    """The board did not answer in full within the timeout, even after resynchronising."""


class AnswerReader:
    """Send requests and read answers over a serial link; detect and survive frame slips.

    ``link`` is a pyserial ``Serial`` (or anything with ``write``, ``read(n)`` that returns
    at most ``n`` bytes within its timeout, ``in_waiting`` and ``reset_input_buffer``). Answers
    have no framing bytes, so a slip is seen three ways: bytes waiting before a request (an
    answer sent twice, or longer than the model's), a short answer (bytes lost), or an answer
    that fails :func:`answer_problems` (a stray byte before it). Each is resolved by
    resynchronising on the frame start: the line is drained until quiet, an answer followed
    by extra bytes is taken from the last ``answer_bytes`` bytes when those pass the checks,
    and a short answer is asked for once more. Every slip is reported through ``log`` and
    kept in :attr:`slips`; a second short answer raises :class:`AnswerTimeout`.
    """

    def __init__(self, link, limits: dict, n_layers: int, *, timeout: float, log=None,
                 settle_s: float = 0.02):
        self.link, self.limits, self.n_layers = link, limits, n_layers
        self.n = answer_bytes(limits["n_classes"], n_layers)
        self.timeout, self.settle_s = timeout, settle_s
        self.log = log or (lambda message: None)
        self.slips: list[str] = []

    def _slip(self, message: str) -> None:
        self.slips.append(message)
        self.log(f"frame slip: {message}")

    def _drain(self) -> bytes:
        """Every byte that arrives until the line has been quiet for ``settle_s``.

        A line that never goes quiet (a babbling board, a wrong baud rate) is an error after
        ``timeout`` seconds of draining."""
        out, deadline = b"", time.monotonic() + max(self.timeout, 10 * self.settle_s)
        while True:
            waiting = self.link.in_waiting
            if waiting:
                out += self.link.read(waiting)
                if time.monotonic() > deadline:
                    raise AnswerTimeout(f"the line did not go quiet within {self.timeout} s "
                                        f"({len(out)} bytes read; wrong baud rate or design?)")
                continue
            time.sleep(self.settle_s)
            if not self.link.in_waiting:
                return out

    def exchange(self, request: bytes, what: str) -> dict:
        """Send ``request`` and return its decoded answer (``problems``: its own checks)."""
        if self.link.in_waiting:
            stray = self._drain()
            self._slip(f"{len(stray)} byte(s) arrived after the previous answer (an answer "
                       f"sent twice or too long?); discarded before {what}")
        for attempt in (1, 2):
            self.link.write(request)
            raw = bytes(self.link.read(self.n))
            if len(raw) == self.n:
                break
            raw += self._drain()
            if len(raw) >= self.n:
                break
            self._slip(f"{what}: the answer was {len(raw)} of {self.n} bytes within "
                       f"{self.timeout} s" + ("; asking again" if attempt == 1 else ""))
            self.link.reset_input_buffer()
        else:
            raise AnswerTimeout(f"{what}: the board answered {len(raw)} of {self.n} bytes "
                                f"within {self.timeout} s, twice (wrong port, baud or model?)")
        answer = decode_answer(raw[:self.n], self.limits["n_classes"], self.n_layers)
        problems = answer_problems(answer, self.limits)
        extra = raw[self.n:] + (self._drain() if problems or len(raw) > self.n else b"")
        if extra:
            tail = (raw[:self.n] + extra)[-self.n:]
            again = decode_answer(tail, self.limits["n_classes"], self.n_layers)
            if problems and not answer_problems(again, self.limits):
                self._slip(f"{what}: {len(extra)} stray byte(s) before the answer; "
                           f"resynchronised on the frame start")
                answer, problems = again, []
            else:
                self._slip(f"{what}: {len(extra)} byte(s) after the answer (sent twice?); "
                           f"discarded")
        answer["problems"] = problems
        return answer

    def finish(self) -> None:
        """After the last answer: report any byte that still arrives (a slip at the end)."""
        time.sleep(self.settle_s)
        extra = self._drain()
        if extra:
            self._slip(f"{len(extra)} byte(s) arrived after the last answer; discarded")
