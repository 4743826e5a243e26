"""ECP5 block-RAM output registers: a data register straight after a DP16KD moved into it.

Layer: ``boards`` (netlist step of the ECP5 build; no Amaranth). A DP16KD's clock-to-output is
about 5.6 ns without its output register, so a block RAM -> flip-flop route longer than about
4.3 ns failed a 100 MHz clock; the placer does not always put the flip-flop beside the block
RAM (the 8,32,8 Net2 build: FanOut 1's ROM -> its data register, 4.9 ns of routing). Yosys
does not use the output register (``REGMODE = "OUTREG"``), so this step does it on Yosys'
JSON netlist before nextpnr reads it: for each port side (A, B) of each DP16KD whose every
used data output drives exactly one flip-flop's D input, and nothing else, with the block
RAM's clock, no set/reset and one common clock enable, the flip-flops go and the side's
``REGMODE`` becomes ``OUTREG`` with that enable on ``OCE``. The block RAM's output register
loads the read latch when ``OCE`` is high, as the flip-flop loaded the latch's output: the
same cycle behaviour. A 36-bit wide block RAM (both sides carry one read port) is moved only
when both sides qualify, and gets the enable on both ``OCEA`` and ``OCEB``.

Run by the build between Yosys and nextpnr (``python -m augsnn.boards.ecp5_outreg top.json``);
it prints how many block RAMs and flip-flops it moved and writes that to ``top.outreg.json``.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

__all__ = ["absorb_output_registers", "main"]

_WIDE = 36


def _top(netlist: dict) -> dict:
    def is_top(module: dict) -> bool:
        flag = str(module.get("attributes", {}).get("top", "0"))
        return int(flag, 2 if set(flag) <= {"0", "1"} else 10) != 0
    tops = [m for m in netlist["modules"].values() if is_top(m)]
    if len(tops) != 1:
        raise ValueError(f"expected one top module in the netlist, found {len(tops)}")
    return tops[0]


def _width(value) -> int:
    text = str(value).strip()
    return int(text, 2) if set(text) <= {"0", "1"} and len(text) > 8 else int(text)


def _side_registers(ram: dict, side: str, cells: dict, sinks: dict):
    """The flip-flops of one side's used outputs, ``[(pin, ff_name)]``, or None when the side
    cannot take them (an output with another load, or a flip-flop that does not fit)."""
    clk = ram["connections"].get(f"CLK{side}")
    found = []
    for i in range(18):
        bits = ram["connections"].get(f"DO{side}{i}")
        if not bits or not isinstance(bits[0], int):
            continue
        loads = sinks.get(bits[0], [])
        if not loads:
            continue
        if len(loads) != 1:
            return None
        name, port = loads[0]
        ff = cells.get(name)
        if ff is None or ff["type"] != "TRELLIS_FF" or port != "DI":
            return None
        par, con = ff["parameters"], ff["connections"]
        if (con.get("CLK") != clk or str(par.get("CLKMUX", "CLK")).strip() != "CLK"
                or con.get("LSR", ["0"]) != ["0"]
                or str(par.get("CEMUX", "CE")).strip() not in ("CE", "1")):
            return None
        found.append((f"DO{side}{i}", name))
    return found


def _enable(ff: dict):
    """The flip-flop's clock enable as a netlist bit (``"1"``: always)."""
    if str(ff["parameters"].get("CEMUX", "CE")).strip() == "1":
        return "1"
    return ff["connections"].get("CE", ["1"])[0]


def absorb_output_registers(netlist: dict) -> dict:
    """Move the data registers after DP16KDs into their output registers (in place).

    Returns ``{"rams": n, "flip_flops": n}``: block RAMs changed, flip-flops removed.
    """
    top = _top(netlist)
    cells = top["cells"]
    sinks: dict = defaultdict(list)
    for name, cell in cells.items():
        dirs = cell.get("port_directions", {})
        for port, bits in cell["connections"].items():
            if dirs.get(port) != "output":
                for b in bits:
                    if isinstance(b, int):
                        sinks[b].append((name, port))
    for port in top.get("ports", {}).values():
        if port.get("direction") != "input":
            for b in port["bits"]:
                if isinstance(b, int):
                    sinks[b].append(("<port>", "out"))

    rams = flops = 0
    orphans = set()
    for ram in [c for c in cells.values() if c["type"] == "DP16KD"]:
        par = ram["parameters"]
        if any(str(par.get(f"REGMODE_{s}", "NOREG")).strip() != "NOREG" for s in "AB"):
            continue
        if any(ram["connections"].get(f"RST{s}", ["0"]) != ["0"] for s in "AB"):
            continue
        wide = (_width(par.get("DATA_WIDTH_A", 18)) == _WIDE
                or _width(par.get("DATA_WIDTH_B", 18)) == _WIDE)
        if wide and ram["connections"].get("CLKA") != ram["connections"].get("CLKB"):
            continue
        sides = {s: _side_registers(ram, s, cells, sinks) for s in "AB"}
        if wide:
            if sides["A"] is None or sides["B"] is None:
                continue
            groups = [("AB", sides["A"] + sides["B"])]
        else:
            groups = [(s, regs) for s, regs in sides.items() if regs]
        for which, regs in groups:
            if not regs:
                continue
            enables = {_enable(cells[ff]) for _, ff in regs}
            if len(enables) != 1:
                continue
            enable = enables.pop()
            for pin, ff in regs:
                q = cells[ff]["connections"]["Q"]
                orphans.add(ram["connections"][pin][0])
                ram["connections"][pin] = list(q)
                del cells[ff]
                flops += 1
            for s in which:
                par[f"REGMODE_{s}"] = "OUTREG"
                ram["connections"][f"OCE{s}"] = [enable]
            rams += 1
    if orphans:
        # The nets between the block RAMs and the removed flip-flops have no driver and no
        # load left: undefined in the names that still list them.
        for net in top.get("netnames", {}).values():
            net["bits"] = ["x" if b in orphans else b for b in net["bits"]]
    return {"rams": rams, "flip_flops": flops}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m augsnn.boards.ecp5_outreg NETLIST.json", file=sys.stderr)
        return 2
    path = Path(argv[0])
    netlist = json.loads(path.read_text())
    done = absorb_output_registers(netlist)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(netlist))
    tmp.replace(path)
    path.with_suffix(".outreg.json").write_text(json.dumps(done))
    print(f"ecp5_outreg: {done['flip_flops']} flip-flops moved into the output registers of "
          f"{done['rams']} block RAMs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
