"""The frames on an accelerator's ports: the frame receiver and the result sender (shared by
every engine).

Layer: ``hw`` (Amaranth). Both engines take image frames as a stream of bytes and answer with
a stream of :func:`result_layout` words (docs/accelerator.md "Streams", docs/boards.md has
the bytes on the wire); widths and the answer's size come from :mod:`augsnn.hw.plan`.

* :class:`FrameReceiver` takes an image frame's bytes, one a cycle: the
  :data:`~augsnn.hw.plan.HEADER_BYTES`-byte header (``T``, the early-exit margin,
  ``t_min``, 16 bits each, least significant byte first), then the pixels, which leave on a
  stream with their position; with ``weight_frames`` a frame whose ``T`` is 0 carries the
  weights instead (the compact engine), which leave as bytes.
* :class:`ResultSender` frames the answer: it takes the answer's words in order, asks for
  them by number and marks the last one.

The receiver takes no byte of the next frame before the engine says so (``done``): the
compact engine once its answer has gone, the lane engine as soon as the frame's image has
been handed to its run side (images overlap).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .plan import HEADER_BYTES, T_BITS, WORD_BITS

__all__ = ["result_layout", "header_layout", "pixel_layout", "FrameReceiver", "ResultSender"]


def result_layout() -> data.StructLayout:
    """Payload of the result stream: a 32-bit word and the end-of-frame flag."""
    return data.StructLayout({"data": unsigned(WORD_BITS), "last": unsigned(1)})


def header_layout() -> data.StructLayout:
    """An image frame's header: ``t`` (as sent; 0 is the weight frame or one step, as the
    engine decides), the early-exit ``margin`` (0: none) and ``t_min``."""
    return data.StructLayout({"t": unsigned(T_BITS), "margin": unsigned(T_BITS),
                              "t_min": unsigned(T_BITS)})


def pixel_layout(grid, position: str = "cyx") -> data.StructLayout:
    """A pixel leaving :class:`FrameReceiver`: its ``value`` (uint8), ``last`` (the frame's
    last pixel) and its position: ``c``, ``y``, ``x`` (``position="cyx"``) or the ``index``
    in C, H, W order (``position="index"``)."""
    C, H, W = grid
    fields = {"value": unsigned(8), "last": unsigned(1)}
    if position == "cyx":
        fields.update(c=range(max(2, C)), y=range(max(2, H)), x=range(max(2, W)))
    else:
        fields.update(index=range(max(2, C * H * W)))
    return data.StructLayout(fields)


class FrameReceiver(wiring.Component):
    """Take image frames (bytes) apart: the header, then the pixels with their positions.

    Takes a byte a cycle while it is in the header (``i.ready`` high), passes each pixel on
    in the cycle it arrives (``pixels.valid`` is ``i.valid``, ``i.ready`` is
    ``pixels.ready``: the consumer's back-pressure reaches the byte stream directly), and
    then waits for ``done`` before it takes the next frame's first byte.

    Parameters
    ----------
    grid : (C, H, W)
        The image's shape.
    weight_frames : bool
        A frame with ``T = 0`` is a weight frame: every byte after ``T`` leaves on
        ``weights`` (until ``done``) instead of the rest of the header and the pixels.
        Without it ``T = 0`` is an image frame like any other (the engine decides what 0
        steps mean).
    position : str
        ``"cyx"``: pixels carry channel, row and column counters; ``"index"``: their index.

    Members
    -------
    i : In(stream(unsigned(8)))
        The frames' bytes.
    start : Out(1)
        The first byte of a frame is taken in this cycle.
    header : Out(stream(header_layout(), always_ready))
        Valid in the cycle the last header byte is taken, with the whole header.
    fields : Out(header_layout())
        The last frame's header, from the cycle after ``header.valid`` until the next
        frame's first byte.
    pixels : Out(stream(pixel_layout(grid, position)))
        The pixels, in C, H, W order.
    weights : Out(stream(unsigned(8)))
        Only with ``weight_frames``: the bytes of a weight frame after its ``T``.
    done : In(1)
        The engine is done with the frame (its answer has gone, or it has the image in
        hand): take the next one.
    """

    def __init__(self, grid, *, weight_frames: bool = False, position: str = "cyx"):
        grid = tuple(int(v) for v in grid)
        if len(grid) != 3 or min(grid) < 1:
            raise ValueError(f"grid must be three positive sizes (C, H, W), not {grid!r}")
        if not isinstance(weight_frames, bool):
            raise TypeError(f"weight_frames must be a bool, not {weight_frames!r}")
        if position not in ("cyx", "index"):
            raise ValueError(f"position must be 'cyx' or 'index', not {position!r}")
        self.grid, self.weight_frames, self.position = grid, weight_frames, position
        ports = {
            "i": In(stream.Signature(unsigned(8))),
            "start": Out(1),
            "header": Out(stream.Signature(header_layout(), always_ready=True)),
            "fields": Out(header_layout()),
            "pixels": Out(stream.Signature(pixel_layout(grid, position))),
            "done": In(1),
        }
        if weight_frames:
            ports["weights"] = Out(stream.Signature(unsigned(8)))
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        C, H, W = self.grid
        byte = self.i.payload
        # Header bytes shift in at the top: after byte k, bytes 0..k are the top 8 (k + 1)
        # bits in order, so after the last byte the register is the header.
        reg = Signal(8 * HEADER_BYTES)
        hb = Signal(range(HEADER_BYTES))
        m.d.comb += [self.fields.eq(reg), self.header.payload.eq(Cat(reg[8:], byte))]
        px = self.pixels.payload
        m.d.comb += px.value.eq(byte)
        if self.position == "cyx":
            pc, py, pxx = Signal.like(px.c), Signal.like(px.y), Signal.like(px.x)
            m.d.comb += [px.c.eq(pc), px.y.eq(py), px.x.eq(pxx),
                         px.last.eq((pc == C - 1) & (py == H - 1) & (pxx == W - 1))]
        else:
            pa = Signal.like(px.index)
            m.d.comb += [px.index.eq(pa), px.last.eq(pa == C * H * W - 1)]
        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += [self.i.ready.eq(1), self.start.eq(self.i.valid)]
                with m.If(self.i.valid):
                    m.d.sync += [reg.eq(byte << (8 * (HEADER_BYTES - 1))), hb.eq(1)]
                    if self.position == "cyx":
                        m.d.sync += [pc.eq(0), py.eq(0), pxx.eq(0)]
                    else:
                        m.d.sync += pa.eq(0)
                    m.next = "HEADER"
            with m.State("HEADER"):
                m.d.comb += self.i.ready.eq(1)
                with m.If(self.i.valid):
                    m.d.sync += [reg.eq(Cat(reg[8:], byte)), hb.eq(hb + 1)]
                    if self.weight_frames:
                        t = Cat(reg[-8:], byte)           # at byte 1: T
                        with m.If((hb == 1) & (t == 0)):
                            m.next = "WEIGHTS"
                    with m.If(hb == HEADER_BYTES - 1):
                        m.d.comb += self.header.valid.eq(1)
                        m.next = "PIXELS"
            with m.State("PIXELS"):
                m.d.comb += [self.pixels.valid.eq(self.i.valid),
                             self.i.ready.eq(self.pixels.ready)]
                with m.If(self.i.valid & self.pixels.ready):
                    if self.position == "cyx":
                        with m.If(pxx == W - 1):
                            m.d.sync += pxx.eq(0)
                            with m.If(py == H - 1):
                                m.d.sync += [py.eq(0), pc.eq(pc + 1)]
                            with m.Else():
                                m.d.sync += py.eq(py + 1)
                        with m.Else():
                            m.d.sync += pxx.eq(pxx + 1)
                    else:
                        m.d.sync += pa.eq(pa + 1)
                    with m.If(px.last):
                        m.next = "WAIT"
            with m.State("WAIT"):
                with m.If(self.done):
                    m.next = "IDLE"
            if self.weight_frames:
                with m.State("WEIGHTS"):
                    m.d.comb += [self.weights.valid.eq(self.i.valid),
                                 self.weights.payload.eq(byte),
                                 self.i.ready.eq(self.weights.ready)]
                    with m.If(self.done):
                        m.next = "IDLE"
        return m


class ResultSender(wiring.Component):
    """Frame an answer of ``words`` words: number them, mark the last one.

    A word offered on ``i`` leaves on ``o`` in the same cycle (``o.valid`` is ``i.valid``,
    ``i.ready`` is ``o.ready``) with ``last`` set on word ``words - 1``, or on any word offered
    with ``end`` high (a shorter answer, e.g. a weight frame's checksum; only with
    ``short_answers=True``: an engine without them has no ``end`` port, so no unused signal).

    Parameters
    ----------
    words : int
        Words of an answer (:func:`augsnn.hw.plan.answer_words`).
    short_answers : bool
        Add the ``end`` input.

    Members
    -------
    i : In(stream(unsigned(32)))
        The answer's words in order.
    index : Out(range(words))
        The number of the word the sender waits for (0 at the start of an answer).
    end : In(1)
        The word offered now ends the answer (``short_answers=True`` only).
    o : Out(stream(result_layout()))
    done : Out(1)
        The answer's last word leaves in this cycle.
    """

    def __init__(self, words: int, *, short_answers: bool = False):
        if isinstance(words, bool) or not isinstance(words, int) or words < 1:
            raise ValueError(f"words must be a positive integer, not {words!r}")
        self.words = words
        self.short_answers = bool(short_answers)
        ports = {
            "i": In(stream.Signature(unsigned(WORD_BITS))),
            "index": Out(range(max(2, words))),
            "o": Out(stream.Signature(result_layout())),
            "done": Out(1),
        }
        if self.short_answers:
            ports["end"] = In(1)
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        last = Signal()
        m.d.comb += [
            last.eq((self.index == self.words - 1) | (self.end if self.short_answers else 0)),
            self.o.valid.eq(self.i.valid), self.o.payload.data.eq(self.i.payload),
            self.o.payload.last.eq(last), self.i.ready.eq(self.o.ready),
            self.done.eq(self.i.valid & self.o.ready & last),
        ]
        with m.If(self.i.valid & self.o.ready):
            m.d.sync += self.index.eq(self.index + 1)
            with m.If(last):
                m.d.sync += self.index.eq(0)
        return m
