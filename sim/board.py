"""Simulate a board design end to end over its serial pins and compare with the golden model.

Layer: ``sim``. :func:`run_uart` elaborates :class:`augsnn.boards.top.UartAccelerator` (the
design the board runs, without the PLL and pins), builds it with Verilator (in the build
cache of :mod:`augsnn.sim.cache`), sends images through a UART model
(:mod:`augsnn.sim.board_tb`) and compares every answer (class, output counts, events per
layer) with :func:`augsnn.golden.network.simulate`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from augsnn.boards.protocol import (answer_bytes, decode_answer, differing_fields,
                                    expected_answers)

from .cache import cached_build, generator_key
from .runner import run

__all__ = ["run_uart"]


def _key(model, *, engine: str, lanes: int, divisor: int) -> str:
    import augsnn.boards.top
    h = generator_key()
    h.update(Path(augsnn.boards.top.__file__).read_bytes())
    h.update(repr(("uart", engine, lanes, divisor)).encode())
    h.update(model.digest().encode())
    return h.hexdigest()[:16]


def run_uart(model, images, T: int, *, lanes: int = 8, divisor: int = 8, cache_dir=None,
             quiet: bool = True, engine: str = "lanes") -> dict:
    """Classify ``images`` (uint8, one per row or image-shaped) through the serial protocol.

    ``engine`` names the design (:mod:`augsnn.hw.engine`); one that loads its weights over
    the link (``"compact"``, the iCE40 UP5K design) is first sent the weight frame over the
    UART, and the checksum the design answers with is checked (``weights_checksum``).

    Returns a dict: ``answers`` (decoded, per image), ``golden`` (the same fields from the
    golden model), ``mismatches`` (list of differences; empty when bit-exact), ``lost`` (the
    design's byte-lost flag), ``cycles`` (per image, as the board reports them),
    ``sim_seconds``.
    """
    from augsnn.boards.top import UartAccelerator
    from augsnn.hw.emit import rom_files, verilog_text, write_files
    from augsnn.hw.engine import get_engine

    images = np.asarray(images, dtype=np.uint8)
    images = images.reshape(len(images), -1)
    eng = get_engine(engine)
    accel_plan = eng.plan(model, **eng.select(lanes=lanes))        # refuse before any work
    preamble = eng.weight_frame(accel_plan)

    def make_verilog(folder: Path) -> str:
        files = write_files({folder / f: text for f, text in rom_files(accel_plan).items()})
        design = UartAccelerator(model, lanes=lanes, divisor=divisor, engine=engine,
                                 rom_files=[str(f) for f in files])
        return verilog_text(design, name="top", extra=eng.extra_verilog)

    bld = cached_build(f"uart-{model.name}", _key(model, engine=engine, lanes=lanes,
                                                  divisor=divisor),
                       make_verilog, cache_dir=cache_dir, quiet=quiet)
    build_dir, runner = bld.dir, bld.runner

    n_classes, n_layers = accel_plan.n_classes, len(accel_plan.layers)
    from augsnn.golden.network import simulate
    golden = simulate(model, images.reshape((len(images),) + tuple(model.input_shape)), T)
    bound = int(max(golden.synops.sum(axis=(0, 1)).max(),
                    accel_plan.cycles(golden.synops, T).max())) + 100_000
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
        if checksum != eng.weight_checksum(accel_plan):
            raise RuntimeError(f"{model.name}: the board design answered the weight frame with "
                               f"{pre.hex() or 'nothing'}, expected the checksum "
                               f"{eng.weight_checksum(accel_plan):#010x}")
    answers = [decode_answer(bytes(a), n_classes, n_layers) for a in raw]
    gold = expected_answers(model, images, T)
    mismatches = [{"image": b, "field": f, "expected": g[f], "actual": ans[f]}
                  for b, (ans, g) in enumerate(zip(answers, gold))
                  for f in differing_fields(ans, g)]
    return {"answers": answers, "golden": gold, "mismatches": mismatches,
            "lost": int(res.get("lost", -1)), "cycles": [a["cycles"] for a in answers],
            "weights_checksum": checksum,
            "sim_seconds": float(res.get("sim_seconds", 0.0))}
