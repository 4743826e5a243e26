"""Run the board design through a hostile serial line (:mod:`augsnn.sim.board_robust_tb`).

Layer: ``sim``. :func:`run_hostile_line` builds :class:`augsnn.boards.top.UartAccelerator`
(lane engine) with Verilator, cached like :mod:`augsnn.sim.board` (same build), runs the scenarios of
the testbench and decodes every answer; the caller compares them with the golden model.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from augsnn.boards.protocol import answer_bytes, decode_answer, expected_answers

from .runner import run

__all__ = ["run_hostile_line", "SCENARIO_IMAGES"]

#: Images each answer is for, in the testbench's order (the last answer is image 0 again).
SCENARIO_IMAGES = (0, 1, 2, 3, 4, 5, 0)


def run_hostile_line(model, images, T: int, *, lanes: int = 1, divisor: int = 8,
                     early_bytes: int = 16, flood_bytes: int = 64, flood_T: int = 4000,
                     cache_dir=None) -> dict:
    """Return ``answers`` (decoded, one per scenario answer), ``golden`` (the expected
    answers, same order) and ``lost_after`` (the design's ``lost`` flag after each step)."""
    from augsnn.boards.top import UartAccelerator
    from augsnn.hw.emit import rom_files, verilog_text, write_files
    from augsnn.hw.engine import get_engine

    from .board import _key
    from .cache import cached_build

    images = np.asarray(images, dtype=np.uint8).reshape(len(images), -1)
    if len(images) < 6:
        raise ValueError(f"the scenarios need 6 images, not {len(images)}")
    eng = get_engine("lanes")
    accel_plan = eng.plan(model, **eng.select(lanes=lanes))

    def make_verilog(folder: Path) -> str:
        files = write_files({folder / f: text for f, text in rom_files(accel_plan).items()})
        design = UartAccelerator(model, lanes=lanes, divisor=divisor, engine="lanes",
                                 rom_files=[str(f) for f in files])
        return verilog_text(design, name="top", extra=eng.extra_verilog)

    # The same build (and cache entry) as augsnn.sim.board.run_uart's.
    bld = cached_build(f"uart-{model.name}", _key(model, engine="lanes", lanes=lanes,
                                                  divisor=divisor),
                       make_verilog, cache_dir=cache_dir, quiet=True)
    build_dir, runner = bld.dir, bld.runner
    n_classes, n_layers = accel_plan.n_classes, len(accel_plan.layers)
    n_bytes = answer_bytes(n_classes, n_layers)
    from augsnn.golden.network import simulate
    golden = simulate(model, images.reshape((len(images),) + tuple(model.input_shape)), T)
    bound = int(golden.synops.sum(axis=(0, 1)).max()) + 100_000
    with tempfile.TemporaryDirectory() as tmp:
        np.save(Path(tmp) / "images.npy", images)
        out = Path(tmp) / "answers.npz"
        res = run(runner, test_module="augsnn.sim.board_robust_tb", build_dir=build_dir,
                  name="hostile", config={
                      "images": str(Path(tmp) / "images.npy"), "T": int(T),
                      "divisor": divisor, "answer_bytes": n_bytes,
                      "max_cycles_per_image": bound * 2 + 40 * divisor * (images.shape[1] + 2),
                      "early_bytes": early_bytes, "flood_bytes": flood_bytes,
                      "flood_T": int(flood_T),
                      "out": str(out)},
                  extra_env={"COCOTB_LOG_LEVEL": "WARNING"})
        with np.load(out) as npz:
            raw = npz["answers"]
    gold = expected_answers(model, images, T)
    flood = expected_answers(model, images[SCENARIO_IMAGES[-1]:][:1], flood_T)[0]
    return {"answers": [decode_answer(bytes(a), n_classes, n_layers) for a in raw],
            "golden": [gold[i] for i in SCENARIO_IMAGES[:-1]] + [flood],
            "lost_after": res["lost_after"]}
