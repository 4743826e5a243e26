"""Simulate a board design end to end over its serial pins and compare with the golden model.

Layer: ``sim``. :func:`run_uart` elaborates :class:`augsnn.boards.top.UartAccelerator` (the
design the board runs, without the PLL and pins), builds it with Verilator (cached by the
Verilog's hash under ``sim_build/board``), sends images through a UART model
(:mod:`augsnn.sim.board_tb`) and compares every answer (class, output counts, events per
layer) with :func:`augsnn.golden.network.simulate`.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np

from augsnn.boards.protocol import (answer_bytes, decode_answer, differing_fields,
                                    expected_answers)

from .runner import build as verilator_build, run

__all__ = ["run_uart"]


def _cache_dir() -> Path:
    return Path(os.environ.get("AUGSNN_SIM_BUILD", "sim_build")) / "board"


def run_uart(model, images, T: int, *, lanes: int = 8, divisor: int = 8, cache_dir=None,
             quiet: bool = True, engine: str = "lanes") -> dict:
    """Classify ``images`` (uint8, one per row or image-shaped) through the serial protocol.

    ``engine="compact"`` simulates the compact engine's board design (the iCE40 UP5K one):
    the testbench first sends the weight frame over the UART and checks the checksum the
    design answers with (``weights_checksum``).

    Returns a dict: ``answers`` (decoded, per image), ``golden`` (the same fields from the
    golden model), ``mismatches`` (list of differences; empty when bit-exact), ``lost`` (the
    design's byte-lost flag), ``cycles`` (per image, as the board reports them),
    ``sim_seconds``.
    """
    from augsnn.boards.top import UartAccelerator
    from augsnn.hw.accel_mem import ROM_VERILOG, pack_words, write_hex
    from amaranth.back import verilog

    images = np.asarray(images, dtype=np.uint8)
    images = images.reshape(len(images), -1)
    cache = Path(cache_dir) if cache_dir is not None else _cache_dir()
    if engine == "compact":
        from augsnn.hw.compact_plan import compact_plan, weight_checksum, weight_frame
        accel_plan = compact_plan(model)
        design = UartAccelerator(model, divisor=divisor, engine="compact")
        text = verilog.convert(design, name="top")
        preamble = weight_frame(accel_plan)
    elif engine == "lanes":
        # Weight files first (their absolute paths go into the Verilog).
        from augsnn.hw.accel_plan import plan as make_plan
        accel_plan = make_plan(model, lanes=lanes)
        h = hashlib.sha256()
        for lp in accel_plan.layers:
            h.update(np.ascontiguousarray(lp.rom_words()).tobytes())
        hex_dir = cache / f"weights-{h.hexdigest()[:16]}"
        hex_dir.mkdir(parents=True, exist_ok=True)
        names = []
        for lp in accel_plan.layers:
            path = hex_dir / f"weights{lp.number}.hex"
            if not path.exists():
                tmp = path.with_suffix(".tmp")
                write_hex(tmp, pack_words(lp.rom_words(), lp.weight_bits), lp.rom_width)
                os.replace(tmp, path)
            names.append(str(path.resolve()))
        design = UartAccelerator(model, lanes=lanes, divisor=divisor, rom_files=names)
        text = verilog.convert(design, name="top") + "\n" + ROM_VERILOG
        preamble = b""
    else:
        raise ValueError(f"engine must be 'lanes' or 'compact', not {engine!r}")
    key = hashlib.sha256(text.encode()).hexdigest()[:16]
    build_dir = cache / key
    src = build_dir / "top.v"
    if not (build_dir / "top").exists():
        build_dir.mkdir(parents=True, exist_ok=True)
        src.write_text(text)
        if not quiet:
            print(f"sim: building the UART design with Verilator in {build_dir}", flush=True)
        runner = verilator_build([src], build_dir=build_dir)
    else:
        from cocotb_tools.runner import get_runner
        runner = get_runner("verilator")
        runner.build_dir = build_dir.resolve()

    n_classes, n_layers = accel_plan.n_classes, len(accel_plan.layers)
    from augsnn.golden.network import simulate
    golden = simulate(model, images.reshape((len(images),) + tuple(model.input_shape)), T)
    bound = int(golden.synops.sum(axis=(0, 1)).max()) + 100_000
    if engine == "compact":            # one datapath: its cycle model, not the lanes' bound
        bound = int(accel_plan.cycles(golden.synops, T).max()) + 100_000
    with tempfile.TemporaryDirectory() as tmp:
        np.save(Path(tmp) / "images.npy", images)
        np.save(Path(tmp) / "preamble.npy", np.frombuffer(preamble, dtype=np.uint8))
        out = Path(tmp) / "answers.npz"
        res = run(runner, test_module="augsnn.sim.board_tb", build_dir=build_dir,
                  name="uart", config={
                      "images": str(Path(tmp) / "images.npy"), "T": int(T),
                      "preamble": str(Path(tmp) / "preamble.npy") if preamble else "",
                      "preamble_answer_bytes": 4 if preamble else 0,
                      "divisor": divisor, "answer_bytes": answer_bytes(n_classes, n_layers),
                      "max_cycles_per_image": bound * 2 + 20 * divisor * (images.shape[1] + 2),
                      "out": str(out)},
                  extra_env={"COCOTB_LOG_LEVEL": "WARNING"} if quiet else None)
        with np.load(out) as npz:
            raw = npz["answers"]
            pre = bytes(npz["preamble_answer"])
    checksum = None
    if preamble:
        checksum = int.from_bytes(pre, "little") if len(pre) == 4 else None
        if checksum != weight_checksum(accel_plan):
            raise RuntimeError(f"{model.name}: the board design answered the weight frame with "
                               f"{pre.hex() or 'nothing'}, expected the checksum "
                               f"{weight_checksum(accel_plan):#010x}")
    answers = [decode_answer(bytes(a), n_classes, n_layers) for a in raw]
    gold = expected_answers(model, images, T)
    mismatches = [{"image": b, "field": f, "expected": g[f], "actual": ans[f]}
                  for b, (ans, g) in enumerate(zip(answers, gold))
                  for f in differing_fields(ans, g)]
    return {"answers": answers, "golden": gold, "mismatches": mismatches,
            "lost": int(res.get("lost", -1)), "cycles": [a["cycles"] for a in answers],
            "weights_checksum": checksum,
            "sim_seconds": float(res.get("sim_seconds", 0.0))}
