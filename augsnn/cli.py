"""The ``augsnn`` command line: one sub-command per step of the flow.

Each layer of the package registers its own sub-commands (``golden.commands``,
``repro.commands``, ``hw.commands``, ``sim.commands``, ``boards.commands``); the registering
modules import nothing heavy at import time, so ``augsnn eval`` never loads Amaranth and
``augsnn verilog`` never loads torch.

One error path (docs/reliability.md): every failure of every command ends as one line
``augsnn <cmd>: error: <what, where, why>`` on standard error and exit status 2; the
traceback is printed only with ``--debug`` (anywhere on the command line) or
``AUGSNN_DEBUG=1``. A sub-command may declare ``inputs`` and ``outputs`` (attribute names of
its arguments) with ``set_defaults``: every output is then refused when it is a folder, its
folder is missing or it is one of the inputs, and written atomically (temporary name, renamed
when the command returns; see :mod:`augsnn.golden.atomic`). Outputs in ``checked_outputs``
are only checked (the handler writes them atomically itself).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback

# Modules that define ``register(subparsers)``; a module that does not exist yet is skipped.
_COMMAND_MODULES = (
    "augsnn.golden.commands",
    "augsnn.repro.commands",
    "augsnn.hw.commands",
    "augsnn.sim.commands",
    "augsnn.sim.prove",
    "augsnn.boards.commands",
    "augsnn.scaleout.commands",
    "augsnn.frontends.commands",
    "augsnn.demo",
)


class CLIError(Exception):
    """A user error: printed as ``augsnn: error: ...`` with exit status 2, no traceback."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="augsnn",
        description="Augmented-spike SNNs: train, convert, evaluate, generate RTL, simulate, build.")
    from augsnn import __version__
    parser.add_argument("--version", action="version", version=f"augsnn {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="print the traceback of a failure (anywhere on the command line)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        module.register(sub)
    return parser


def _input_paths(args) -> list:
    """The files named by the sub-command's ``inputs`` (a zoo name resolves to its file)."""
    paths = []
    for dest in getattr(args, "inputs", ()):
        value = getattr(args, dest, None)
        if value is None:
            continue
        if os.path.exists(value):
            paths.append(value)
            continue
        from augsnn.golden.modelfile import resolve
        try:
            paths.append(resolve(value))
        except (FileNotFoundError, OSError, ValueError):
            pass
    return paths


def _message(exc: BaseException) -> str:
    text = str(exc).strip()
    if isinstance(exc, (CLIError, ValueError, TypeError, OSError)) and text:
        return text
    if isinstance(exc, OSError) and exc.filename:
        return f"{exc.filename}: {exc.strerror or type(exc).__name__}"
    return (f"{type(exc).__name__}{': ' + text if text else ''} (an unexpected failure; "
            f"rerun with --debug for the traceback)")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    end = argv.index("--") if "--" in argv else len(argv)
    debug = "--debug" in argv[:end] or os.environ.get("AUGSNN_DEBUG", "") not in ("", "0")
    argv = [a for i, a in enumerate(argv) if not (a == "--debug" and i < end)]
    parser = build_parser()
    args = parser.parse_args(argv)
    from augsnn.golden.atomic import check_outputs, staged_outputs
    try:
        inputs = _input_paths(args)
        check_outputs({"--" + d.replace("_", "-"): getattr(args, d, None)
                       for d in getattr(args, "checked_outputs", ())
                       if getattr(args, d, None) not in (None, "-")}, inputs)
        with staged_outputs(args, getattr(args, "outputs", ()), inputs):
            return int(args.func(args) or 0)
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"augsnn {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the one error path of every command
        if debug:
            traceback.print_exc()
        print(f"augsnn {args.command}: error: {_message(exc)}", file=sys.stderr)
        return 2
