"""cocotb testbench of an engine's accelerator (:mod:`augsnn.hw.engine`): images in, beats out.

Layer: ``sim`` (cocotb test module; run it through :func:`augsnn.sim.runner.run`, usually via
:func:`augsnn.sim.accelerator.run_images`). It knows nothing about networks: it sends image
frames, collects the result words and every beat of every ``trace<l>`` port, and saves them
raw; :mod:`augsnn.sim.accelerator` decodes them and compares with the golden model. All
monitors are event-driven (they sleep until a ``valid`` rises), and the clock is cocotb's
C-side clock, so a long run costs Python time per beat, not per cycle.

Config keys: ``parts`` (list; per part ``prefix`` (port prefix in a bundle, ``""`` for a
single accelerator), ``images`` (``.npy`` file of uint8 images, one row each), ``T``,
``layers`` (number of trace ports, 0 without trace), ``result_words``, ``out`` (``.npz``
file to write), ``label`` (for progress lines), optionally ``early_exit`` (``[margin,
t_min]``, sent in every image header)), ``progress`` (print a line every so many
images, 0 for none), ``max_cycles_per_image``; per part optionally ``stall_in`` and
``stall_out`` (probability of an idle input cycle and of ``o.ready`` low) and ``seed``;
``preamble`` (``.npy`` of bytes sent before the images, e.g. the compact engine's weight
frame) and ``preamble_words`` (the words of its answer, saved as ``preamble_answer``);
``gaps`` (``o.valid`` may drop between the words of a frame).

Saved per part (``.npz``): ``results`` (images x words, uint32), ``trace<l>_image``
(image number of each beat), ``trace<l>_payload`` (beats x bytes, little-endian payload),
``sim_seconds``.
"""

from __future__ import annotations

import random
import time

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.simtime import get_sim_time
from cocotb.triggers import FallingEdge, RisingEdge

PERIOD_NS = 10

from augsnn.boards.protocol import encode_image
from augsnn.golden.early_exit import ExitRule
from augsnn.sim.runner import load_config, save_results


class PartBench:
    """Driver and monitors of one accelerator (one part of a bundle)."""

    def __init__(self, dut, part: dict):
        p = part["prefix"]
        self.dut = dut
        self.part = part
        self.label = part.get("label", p or "accelerator")
        self.images = np.load(part["images"])
        self.T = int(part["T"])
        self.rule = ExitRule(*part["early_exit"]) if part.get("early_exit") else None
        self.words = int(part["result_words"])
        self.i_valid = getattr(dut, p + "i__valid")
        self.i_ready = getattr(dut, p + "i__ready")
        self.i_payload = getattr(dut, p + "i__payload")
        self.o_valid = getattr(dut, p + "o__valid")
        self.o_ready = getattr(dut, p + "o__ready")
        self.o_payload = getattr(dut, p + "o__payload")
        self.traces = []
        for l in range(int(part["layers"])):
            self.traces.append((getattr(dut, f"{p}trace{l}__valid"),
                                getattr(dut, f"{p}trace{l}__payload")))
        self.rng = random.Random(part.get("seed", 0))
        self.stall_in = float(part.get("stall_in", 0.0))
        self.stall_out = float(part.get("stall_out", 0.0))
        self.gaps = bool(part.get("gaps", False))
        self.image = 0
        self.beats = [[] for _ in self.traces]      # (image, payload int)
        self.results = []
        self.preamble_answer = []
        self.errors = []
        self.seconds = 0.0

    async def monitor(self, l: int):
        valid, payload = self.traces[l]
        clk = self.dut.clk
        beats = self.beats[l]
        while True:
            if not valid.value:
                await RisingEdge(valid)
            await FallingEdge(clk)
            while valid.value:
                beats.append((self.image, payload.value.to_unsigned()))
                await FallingEdge(clk)

    async def send(self, frame) -> float:
        """Send one frame's bytes; return the time the first byte was transferred (ns)."""
        clk = self.dut.clk
        # At each falling edge present byte k; ``ready`` (a register) holds until the
        # rising edge that transfers it.
        # With ``stall_in``, some cycles present nothing (valid low).
        k = 0
        t_first = None
        while k < len(frame):
            await FallingEdge(clk)
            if self.stall_in and self.rng.random() < self.stall_in:
                self.i_valid.value = 0
                continue
            self.i_valid.value = 1
            self.i_payload.value = int(frame[k])
            if self.i_ready.value:
                if k == 0:
                    t_first = get_sim_time(unit="ns")
                k += 1
        await FallingEdge(clk)
        self.i_valid.value = 0
        return t_first

    async def receive(self, count: int, what: str) -> tuple[list, float]:
        """Collect ``count`` result words; return them and the time the first was valid."""
        clk = self.dut.clk
        # Result words: with ``stall_out``, ``ready`` is low on some cycles.
        words = []
        if not self.o_valid.value:
            await RisingEdge(self.o_valid)
            await FallingEdge(clk)
        t_valid = get_sim_time(unit="ns")
        while len(words) < count:
            ready = 0 if self.stall_out and self.rng.random() < self.stall_out else 1
            self.o_ready.value = ready
            if self.o_valid.value and ready:
                value = self.o_payload.value.to_unsigned()
                words.append(value & 0xFFFFFFFF)
                last = value >> 32
                if last != (len(words) == count):
                    self.errors.append(f"{self.label}: {what}: result word {len(words)}"
                                       f" has last={last}")
            elif not self.o_valid.value:
                if self.gaps:                  # the compact engine fetches counts between words
                    await RisingEdge(self.o_valid)
                    await FallingEdge(clk)
                    continue
                self.errors.append(f"{self.label}: {what}: result frame interrupted "
                                   f"after {len(words)} words")
                break
            await FallingEdge(clk)
        return words, t_valid

    async def run(self, progress: int, max_cycles: int):
        self.o_ready.value = 1
        t0 = time.time()
        if self.part.get("preamble"):
            # A frame before the images (the compact engine's weights); its answer is saved.
            frame = np.load(self.part["preamble"])
            await self.send(frame.tolist())
            self.preamble_answer, _ = await self.receive(int(self.part["preamble_words"]),
                                                         "preamble")
        # The frames go back to back: the next frame's bytes are offered while the answer
        # before it is awaited (an engine that overlaps images takes them then; the others
        # hold ``ready`` low until their answer has gone).
        frames = [list(encode_image(self.T, image, self.rule)) for image in self.images]
        t_first = [None] * len(frames)

        async def sender():
            for n, frame in enumerate(frames):
                t_first[n] = await self.send(frame)

        cocotb.start_soon(sender())
        t_prev = None
        for n in range(len(frames)):
            self.image = n
            words, t_valid = await self.receive(self.words, f"image {n}")
            # Cycles from the cycle that transfers the first byte (or, if the frame came in
            # before it, from the previous answer's first word) to the first result word.
            start = t_first[n] if t_prev is None else max(t_first[n], t_prev)
            tb_cycles = round((t_valid - start) / PERIOD_NS)
            t_prev = t_valid
            self.results.append(words)
            if len(words) == self.words and words[-1] != tb_cycles:
                self.errors.append(f"{self.label}: image {n}: the result says {words[-1]} "
                                   f"cycles, the testbench counted {tb_cycles}")
            if words[-1] > max_cycles:
                self.errors.append(f"{self.label}: image {n} took {words[-1]} cycles")
            if progress and ((n + 1) % progress == 0 or n + 1 == len(self.images)):
                dt = time.time() - t0
                mean = np.mean([r[-1] for r in self.results])
                print(f"{self.label}: image {n + 1}/{len(self.images)}, {mean:,.0f} cycles/image, "
                      f"{dt:.1f} s", flush=True)
        self.seconds = time.time() - t0

    def save(self):
        out = {"results": np.asarray(self.results, dtype=np.uint32).reshape(-1, self.words),
               "preamble_answer": np.asarray(self.preamble_answer, dtype=np.uint32),
               "sim_seconds": np.float64(self.seconds)}
        for l, beats in enumerate(self.beats):
            nbytes = 1
            if beats:
                nbytes = max(1, (max(v for _, v in beats).bit_length() + 7) // 8)
            nbytes = max(nbytes, int(self.part.get("trace_bytes", [1] * len(self.beats))[l]))
            out[f"trace{l}_image"] = np.asarray([i for i, _ in beats], dtype=np.int32)
            raw = b"".join(v.to_bytes(nbytes, "little") for _, v in beats)
            out[f"trace{l}_payload"] = np.frombuffer(raw, dtype=np.uint8).reshape(len(beats),
                                                                                  nbytes)
        np.savez(self.part["out"], **out)


@cocotb.test()
async def run_images(dut):
    """Send every image of every part, collect results and trace beats."""
    config = load_config()
    benches = [PartBench(dut, part) for part in config["parts"]]
    Clock(dut.clk, PERIOD_NS, unit="ns").start()
    for b in benches:
        b.i_valid.value = 0
    dut.rst.value = 1
    for _ in range(3):
        await FallingEdge(dut.clk)
    dut.rst.value = 0
    for b in benches:
        for l in range(len(b.traces)):
            cocotb.start_soon(b.monitor(l))
    runs = [cocotb.start_soon(b.run(config.get("progress", 0),
                                    config.get("max_cycles_per_image", 2**32)))
            for b in benches]
    for r in runs:
        await r
    # Let the monitors see the last beats (the result follows every trace beat of an image).
    for _ in range(4):
        await FallingEdge(dut.clk)
    for b in benches:
        b.save()
    errors = [e for b in benches for e in b.errors]
    save_results({"errors": errors,
                  "parts": {b.label: {"images": len(b.results), "seconds": b.seconds}
                            for b in benches}})
    assert not errors, f"{len(errors)} protocol errors, first: {errors[0]}"
