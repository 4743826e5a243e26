"""``augsnn build`` and ``augsnn board`` (sub-commands of :mod:`augsnn.cli`).

Layer: ``boards``. Nothing heavy at import time.

    augsnn build net2-aug --board ulx3s-85f -o out/build/ulx3s
    augsnn build tiny-aug --board icebreaker --no-synth
    augsnn board net2-aug --board ulx3s-85f --port /dev/ttyUSB0 --images 100
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from augsnn.hw.lanes.folding import lanes_option
from augsnn.hw.lanes.plan import lanes_text

__all__ = ["register"]

BOARD_NAMES = ("icebreaker", "ulx3s-85f")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "build", help="build a model's accelerator for an FPGA board (Yosys + nextpnr)",
        description="Check that MODEL fits the board (refused before any synthesis if not), "
                    "generate the board design (PLL, UART, accelerator), run Yosys and "
                    "nextpnr (YoWASP), and write the bitstream and report.json/report.md "
                    "(resources, Fmax, images/s) into the output folder.")
    p.add_argument("model", metavar="MODEL", help="model file or zoo name (net2-aug, ...)")
    p.add_argument("--board", required=True, choices=BOARD_NAMES)
    p.add_argument("-o", "--output", metavar="DIR",
                   help="build folder (default: out/build/<model>-<board>)")
    p.add_argument("--lanes", type=lanes_option, help="accelerator lanes: one count, one per weighted "
                   "layer (16,64,16) or auto (default: the board's)")
    p.add_argument("--clock-mhz", type=float, help="design clock (default: the board's)")
    p.add_argument("--baud", type=int, help="UART baud rate (default: the board's: 3000000 on "
                   "the ulx3s-85f, 1000000 on the icebreaker)")
    p.add_argument("--abc", choices=("abc9", "classic"),
                   help="ECP5 LUT mapper: abc9 (Yosys' default) or classic (abc -lut 4:7; a way "
                        "round Yosys 0.70's ABC9 assertion, docs/boards.md) (default: the "
                        "board's: classic on the ulx3s-85f, where it reaches the higher Fmax)")
    p.add_argument("--seed", type=int, default=1,
                   help="nextpnr placement seed (default: %(default)s)")
    p.add_argument("--early-exit", metavar="auto|none|MARGIN[,T_MIN]",
                   help="also report cycles and images/s with per-image early exit: auto picks "
                        "the rule with the fewest mean steps within 0.1 point of the fixed-T "
                        "test-set accuracy (default: the board's: auto on the ulx3s-85f, none on "
                        "the icebreaker)")
    p.add_argument("--no-synth", action="store_true",
                   help="write the build files and the fit check only (no tools run)")
    p.add_argument("--cycle-images", type=int, default=100, metavar="N",
                   help="test images for the cycles-per-image estimate (default: %(default)s)")
    p.set_defaults(func=cmd_build)

    q = subparsers.add_parser(
        "board", help="classify test images on a board over its serial port",
        description="Send test images to a board running `augsnn build`'s design, one at a "
                    "time, and check every answer (class, output counts, events per layer) "
                    "against the golden model. (`augsnn sim MODEL --uart` runs the same "
                    "protocol against the simulated design.)")
    q.add_argument("model", metavar="MODEL")
    q.add_argument("--board", required=True, choices=BOARD_NAMES,
                   help="the board (icebreaker: its compact engine first gets the weights "
                        "over the link, about 0.3 s at 1 Mbaud)")
    q.add_argument("--port", required=True, help="serial port, e.g. /dev/ttyUSB1")
    q.add_argument("--baud", type=int, help="UART baud rate: the one the design was built for "
                   "(default: the board's, as `augsnn build`'s)")
    q.add_argument("--images", type=int, default=100)
    q.add_argument("--offset", type=int, default=0)
    q.add_argument("--T", type=int, help="time steps (default: the model's T)")
    q.add_argument("--early-exit", metavar="MARGIN[,T_MIN]",
                   help="per-image early exit, sent with every image: it stops once its "
                        "leading output count is MARGIN ahead of the runner-up after at least "
                        "T_MIN steps (docs/golden-model.md, \"Early exit\"); checked against "
                        "the golden model's same rule")
    q.add_argument("--timeout", type=float, default=10.0, help="seconds per answer")
    q.add_argument("--json", metavar="FILE")
    q.set_defaults(func=cmd_board, outputs=("json",), inputs=("model",))


def cmd_build(args: argparse.Namespace) -> int:
    from augsnn.golden.modelfile import load

    from .build import build
    model = load(args.model)
    from augsnn.golden.atomic import safe_component
    # The default folder's name comes from the model file: one safe path component.
    out = Path(args.output or f"out/build/{safe_component(model.name)}-{args.board}")
    if out.exists() and not out.is_dir():
        raise ValueError(f"-o {out}: is a file, not a build folder")
    cmd = " ".join(["augsnn", "build", args.model, "--board", args.board]
                   + (["-o", args.output] if args.output else [])
                   + (["--lanes", lanes_text(args.lanes)] if args.lanes else [])
                   + (["--clock-mhz", f"{args.clock_mhz:g}"] if args.clock_mhz else [])
                   + (["--baud", str(args.baud)] if args.baud else [])
                   + (["--seed", str(args.seed)] if args.seed != 1 else [])
                   + (["--abc", args.abc] if args.abc else []))
    from augsnn.golden.early_exit import ExitRule

    from .targets import get_board
    choice = args.early_exit if args.early_exit is not None else get_board(args.board).early_exit
    early_exit = (None if choice in (None, "none") else "auto" if choice == "auto"
                  else ExitRule.parse(choice))
    if args.early_exit is not None:
        cmd += f" --early-exit {args.early_exit}"
    report = build(model, args.board, out, lanes=args.lanes, clock_mhz=args.clock_mhz,
                   baud=args.baud, do_build=not args.no_synth, cycles_images=args.cycle_images,
                   seed=args.seed, abc=args.abc, command=cmd, early_exit=early_exit)
    if not report["built"]:
        print(f"wrote the build files to {out} (no synthesis: --no-synth)")
        return 0
    print((out / "report.md").read_text())
    return 0 if report["timing"]["met"] else 1


def cmd_board(args: argparse.Namespace) -> int:
    from augsnn.cli import CLIError
    from augsnn.golden.evaluate import load_test_images
    from augsnn.golden.modelfile import load
    from augsnn.hw.engine import get_engine

    from .protocol import (WEIGHT_ANSWER_BYTES, AnswerReader, answer_limits, differing_fields,
                           encode_image, encode_weights, expected_answers)
    from .targets import get_board
    try:
        import serial
    except ImportError:
        raise CLIError("augsnn board needs pyserial: pip install pyserial") from None
    from augsnn.golden.early_exit import ExitRule
    model = load(args.model)
    T = args.T if args.T is not None else int(model.meta.get("T") or 16)
    board = get_board(args.board)
    engine = get_engine(board.engine)
    rule = ExitRule.parse(args.early_exit) if args.early_exit else None
    if rule is not None and not engine.early_exit:
        raise CLIError(f"--early-exit: the {board.name}'s {engine.title} has no early exit")
    ap = engine.plan(model, **engine.select(lanes=1))
    n_layers = len(ap.layers)
    x, y, idx = load_test_images(model, None, args.images, args.offset)
    gold = expected_answers(model, x, T, rule)
    mismatches, correct, times = [], 0, []
    baud = board.baud if args.baud is None else args.baud
    with serial.Serial(args.port, baud, timeout=args.timeout) as link:
        link.reset_input_buffer()
        frame, checksum = encode_weights(model, board.engine)
        if frame:
            link.write(frame)
            raw = link.read(WEIGHT_ANSWER_BYTES)
            got = int.from_bytes(raw, "little") if len(raw) == WEIGHT_ANSWER_BYTES else None
            if got != checksum:
                raise CLIError(f"the {board.name} answered the weight frame with "
                               f"{raw.hex() or 'nothing'}, expected the checksum {checksum:#010x} "
                               f"(wrong port, baud, board or model?)")
            print(f"weights loaded: {len(frame):,} bytes, checksum {checksum:#010x}",
                  file=sys.stderr)
        reader = AnswerReader(link, answer_limits(model, T), n_layers, timeout=args.timeout,
                              log=lambda message: print(message, file=sys.stderr))
        for b in range(len(x)):
            t0 = time.time()
            ans = reader.exchange(encode_image(T, x[b], rule), f"image {int(idx[b])}")
            times.append(time.time() - t0)
            want = gold[b]
            bad = differing_fields(ans, want)
            if bad or ans["problems"]:  # problems: fields that fail their own checks
                mismatches.append({"image": int(idx[b]), "fields": bad,
                                   "checks": ans["problems"], "board": ans, "golden": want})
            bad = bad + [f"check: {p}" for p in ans["problems"]]
            correct += ans["class"] == int(y[b])
            print(f"image {int(idx[b])}: class {ans['class']} (label {int(y[b])}), "
                  f"{ans['steps']} steps, {ans['cycles']:,} cycles"
                  f"{'' if not bad else ', MISMATCH ' + ','.join(bad)}",
                  file=sys.stderr)
        reader.finish()
    report = {"model": model.name, "board": board.name, "port": args.port, "images": len(x),
              "frame_slips": reader.slips,
              "T": T, "early_exit": None if rule is None else rule.describe(),
              "mean_steps": sum(g["steps"] for g in gold) / len(gold),
              "accuracy": correct / len(x), "mismatches": len(mismatches),
              "first_mismatches": mismatches[:10],
              "seconds_per_image": sum(times) / len(times)}
    print(f"{model.name} on {args.port}: {len(x)} images, accuracy {correct / len(x) * 100:.2f}%, "
          f"{len(mismatches)} answers differ from the golden model, "
          f"{len(reader.slips)} frame slip(s), "
          f"{report['seconds_per_image'] * 1e3:.1f} ms per image round trip")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    return 0 if not mismatches and not reader.slips else 1
