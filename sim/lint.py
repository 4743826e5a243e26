"""Lint generated Verilog with ``verilator --lint-only -Wall`` and judge what it reports.

Layer: ``sim``. Amaranth writes Verilog through Yosys' ``write_verilog``, whose idioms trip a
few of Verilator's style rules on *any* design, including an empty counter. Those rules are
waived here, each for a stated reason (:data:`GENERATOR_RULES`); so are ``UNUSEDSIGNAL``
reports about names that only the generator made (:func:`generator_name`). Everything else
Verilator reports is returned as a problem of our own code, and the lint test fails on it.

No waiver is ever written into the Verilog; the file linted is exactly the one
``augsnn verilog --core`` writes.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from .toolchain import setup_verilator

__all__ = ["GENERATOR_RULES", "Warning_", "lint", "judge"]

#: Verilator rules waived on Amaranth/Yosys output, and why.
GENERATOR_RULES = {
    "PROCASSINIT": "Amaranth gives every flip-flop its power-on value as a declaration "
                   "initialiser (`reg x = 4'h0;`) and also assigns it in `always`.",
    "WIDTHEXPAND": "Yosys writes operators with operands narrower than the result and relies "
                   "on Verilog's context-determined widths (`assign $3 = a + b;`); the widths "
                   "are Amaranth's, checked by simulation against the golden model.",
    "WIDTHTRUNC": "Same as WIDTHEXPAND (e.g. `!x` for `x == 0` on a multi-bit x).",
    "CASEINCOMPLETE": "Yosys writes decision trees as `casez` without `default` (the default "
                      "is the assignment before the case statement).",
    "CASEOVERLAP": "Same as CASEINCOMPLETE: priority `casez` patterns overlap by design.",
    "DECLFILENAME": "Yosys names submodules hierarchically (`top.out_fifo`), not after the "
                    "file.",
}

_WARNING = re.compile(r"^%Warning-([A-Z0-9_]+): ([^:]+):(\d+):(\d+): (.*)$")
_SIGNAL = re.compile(r"[Ss]ignal[^']*'([^']+)'")


class Warning_:
    """One Verilator warning: ``rule``, ``line`` and ``message``."""

    def __init__(self, rule: str, line: int, message: str):
        self.rule, self.line, self.message = rule, line, message

    @property
    def signal(self) -> str | None:
        match = _SIGNAL.search(self.message)
        return match.group(1) if match else None

    def __repr__(self):
        return f"%Warning-{self.rule}: line {self.line}: {self.message}"


def lint(path, *, top: str = "top") -> list[Warning_]:
    """Return every warning of ``verilator --lint-only -Wall`` on the Verilog file ``path``."""
    verilator = setup_verilator()
    proc = subprocess.run([str(verilator), "--lint-only", "-Wall", "--top-module", top,
                           str(path)], capture_output=True, text=True)
    warnings = []
    for line in proc.stderr.splitlines():
        match = _WARNING.match(line)
        if match:
            rule, _file, lineno, _col, message = match.groups()
            warnings.append(Warning_(rule, int(lineno), message))
    if proc.returncode and not warnings:
        raise RuntimeError(f"verilator --lint-only failed:\n{proc.stderr}")
    return warnings


def _library_lines(text: str) -> set[int]:
    """Line numbers of submodules generated from Amaranth's own library (``amaranth/lib``)."""
    lines = text.splitlines()
    result = set()
    start = None
    for n, line in enumerate(lines, 1):
        if line.startswith("module "):
            header = "\n".join(lines[max(0, n - 4):n])
            start = n if "amaranth/lib/" in header else None
        if start is not None:
            result.add(n)
        if line.startswith("endmodule"):
            start = None
    return result


def _aliases(text: str) -> set[str]:
    """Names that are mere aliases: ``assign name = <other nets, slices, concatenations>;``."""
    result = set()
    for match in re.finditer(r"^\s*assign\s+(\\?\S+)\s*=\s*([^;]*);", text, re.M):
        name, rhs = match.group(1).lstrip("\\"), match.group(2)
        if re.fullmatch(r"[\s\w\\$.\[\]:{},']*", rhs) and not re.search(r"\b\d+'[hbd]", rhs):
            result.add(name)
    return result


def generator_name(name: str) -> bool:
    """Whether ``name`` is one that Yosys or Amaranth made up (not one of our signals)."""
    return name.startswith("$") or "." in name or "[" in name


def judge(path, warnings: list[Warning_]) -> list[Warning_]:
    """Return the warnings that point at our own code.

    Waived: :data:`GENERATOR_RULES`; ``UNUSEDSIGNAL`` on generator names (Yosys temporaries
    ``$n`` and their unused bits, Amaranth's debug views of struct fields ``a.b``/``a[i]``),
    on names that are only aliases of other nets (Yosys keeps every name of a net), and inside
    submodules from Amaranth's library (the output FIFO), which is not our code.
    """
    text = Path(path).read_text()
    library = _library_lines(text)
    aliases = _aliases(text)
    problems = []
    for w in warnings:
        if w.rule in GENERATOR_RULES:
            continue
        if w.rule == "UNUSEDSIGNAL":
            name = w.signal or ""
            if generator_name(name) or name in aliases or w.line in library:
                continue
        problems.append(w)
    return problems
