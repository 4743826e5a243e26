"""The ``augsnn`` command line: one sub-command per step of the flow.

Each layer of the package registers its own sub-commands (``golden.commands``,
``hw.commands``, ``sim.commands``, ``boards.commands``); the registering modules import
nothing heavy at import time, so ``augsnn eval`` never loads Amaranth and ``augsnn verilog``
never loads torch.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Modules that define ``register(subparsers)``; a module that does not exist yet is skipped.
_COMMAND_MODULES = (
    "augsnn.golden.commands",
    "augsnn.hw.commands",
    "augsnn.sim.commands",
    "augsnn.boards.commands",
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


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CLIError as exc:
        print(f"augsnn {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except (ValueError, TypeError, FileNotFoundError) as exc:
        # Validation errors from the library carry a message naming the bad value.
        print(f"augsnn {args.command}: error: {exc}", file=sys.stderr)
        return 2
