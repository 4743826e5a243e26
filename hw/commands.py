"""``augsnn verilog``: write generated Verilog (sub-command of :mod:`augsnn.cli`).

Layer: ``hw``. Imports nothing heavy at import time: Amaranth is loaded by the handler only.

    augsnn verilog --core --coef-bits 4 --current-bits 16 --pot-bits 24 --theta-p 1000 \\
        --theta-n 1500 --neurons 1024 --lanes 4 -o neuron_core.v

    augsnn verilog net2-aug --lanes 8 -o build/net2.v

A positional ``MODEL`` (a model file, docs/model-format.md, or a zoo name) writes the whole-network
accelerator (:mod:`augsnn.hw.lanes.accelerator`) and its weight memories (``$readmemh`` files).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

__all__ = ["register"]


def register(subparsers) -> None:
    """Add the ``verilog`` sub-command to the CLI's ``subparsers``."""
    p = subparsers.add_parser(
        "verilog", help="write generated Verilog: a network accelerator (MODEL) or a neuron core",
        description="Write generated Verilog. With MODEL (a model file or zoo name): the "
                    "whole-network accelerator, with its weight memories as $readmemh files "
                    "beside the output. With --core: one augmented-neuron core "
                    "(augsnn.hw.neuron_core.NeuronCore) with the parameters below.")
    p.add_argument("model", nargs="?", metavar="MODEL",
                   help="model file or zoo name of a converted network (net2-aug, ...)")
    p.add_argument("--core", action="store_true", help="write one neuron core")
    core = p.add_argument_group("neuron core (--core)")
    core.add_argument("--coef-bits", type=int, metavar="N",
                      help="signed spike coefficient width, 2..16 (2 = ternary)")
    core.add_argument("--current-bits", type=int, metavar="N",
                      help="signed input current width of one lane")
    core.add_argument("--pot-bits", type=int, metavar="N", help="signed membrane width")
    core.add_argument("--theta-p", type=int, metavar="N", help="positive threshold")
    core.add_argument("--theta-n", type=int, metavar="N",
                      help="negative threshold magnitude (omit for a single threshold)")
    core.add_argument("--neurons", type=int, default=1, metavar="N",
                      help="number of neurons (default: %(default)s)")
    p.add_argument("--lanes", type=int, metavar="N",
                   help="parallel lanes (accelerator: synaptic updates per cycle, default 8; "
                        "core: a power of two dividing --neurons, default 1)")
    p.add_argument("--memory-budget-bits", type=int, metavar="N",
                   help="accelerator: refuse a model whose memories need more bits than this")
    core.add_argument("--v-init", type=int, default=0, metavar="N",
                      help="membrane at reset and CLEAR (default: %(default)s)")
    core.add_argument("--acc-bits", type=int, metavar="N",
                      help="signed width of the bound on a step's input "
                           "(default: max(current, membrane width))")
    core.add_argument("--quotient", choices=("auto", "divider", "shift"), default="auto",
                      help="quotient datapath: a shifter for power-of-two thresholds, else a "
                           "pipelined divider (auto, the default), or forced")
    core.add_argument("--readout", action="store_true",
                      help="emit every row with the membranes on FIRE (test/readout port)")
    p.add_argument("--name", default="top", help="Verilog top module name (default: %(default)s)")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="output file (default: standard output)")
    p.set_defaults(func=_verilog, checked_outputs=("output",), inputs=("model",))


def _verilog(args: argparse.Namespace) -> int:
    from augsnn.cli import CLIError

    if not args.core:
        if args.model is None:
            raise CLIError("give a MODEL file or --core")
        return _accelerator(args)
    if args.model is not None:
        raise CLIError(f"--core takes no MODEL, not {args.model!r}")
    missing = [f"--{name.replace('_', '-')}"
               for name in ("coef_bits", "current_bits", "pot_bits", "theta_p")
               if getattr(args, name) is None]
    if missing:
        raise CLIError(f"--core needs {', '.join(missing)}")

    from amaranth.back import verilog

    from .neuron_core import NeuronCore

    core = NeuronCore(
        coef_bits=args.coef_bits, current_bits=args.current_bits, pot_bits=args.pot_bits,
        theta_p=args.theta_p, theta_n=args.theta_n, neurons=args.neurons,
        lanes=1 if args.lanes is None else args.lanes,
        v_init=args.v_init, acc_bits=args.acc_bits,
        divider={"auto": None, "divider": True, "shift": False}[args.quotient],
        readout=args.readout)
    text = verilog.convert(core, name=args.name)
    if args.output is None or args.output == "-":
        sys.stdout.write(text)
    else:
        from augsnn.golden.atomic import write_text
        write_text(args.output, text)
        print(f"augsnn verilog: wrote {args.output} (latency {core.latency} cycles, "
              f"{core.lanes} lane(s), {core.depth} rows per lane)", file=sys.stderr)
    return 0



def _staged(write, model, output, **options) -> dict:
    """Run ``write(model, path, **options)`` in a temporary folder beside ``output``, then
    move its files into place (weight memories first, the Verilog last): a failure leaves
    nothing behind, and no half-written file is ever seen under its real name."""
    output = Path(output)
    staging = Path(tempfile.mkdtemp(prefix=".augsnn-tmp-", dir=output.parent))
    try:
        out = write(model, staging / output.name, **options)
        moved = []
        for path in out["hex"]:
            os.replace(path, output.parent / Path(path).name)
            moved.append(output.parent / Path(path).name)
        os.replace(out["verilog"], output)
        return {**out, "verilog": output, "hex": moved}
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _accelerator(args: argparse.Namespace) -> int:
    from augsnn.cli import CLIError
    from augsnn.golden.modelfile import load

    if args.output is None or args.output == "-":
        raise CLIError("an accelerator needs -o FILE.v (its weight memories go beside it)")
    model = load(args.model)

    from .lanes.accelerator import write_verilog

    lanes = 8 if args.lanes is None else args.lanes
    options = {}
    if args.memory_budget_bits is not None:
        options["memory_budget_bits"] = args.memory_budget_bits
    out = _staged(write_verilog, model, args.output, lanes=lanes, name=args.name, **options)
    print(out["plan"].describe())
    print(f"augsnn verilog: wrote {out['verilog']} and {len(out['hex'])} weight memory file(s) "
          f"({', '.join(str(h) for h in out['hex'])})", file=sys.stderr)
    return 0
