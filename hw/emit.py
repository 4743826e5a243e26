"""The one emitter of generated designs: Verilog text plus the memory images it reads.

Layer: ``hw`` (no Amaranth at import; :func:`verilog_text` imports it). Every place that
turns a design into files (``augsnn verilog``, the Verilator builds of :mod:`augsnn.sim`,
the board builds of :mod:`augsnn.boards`) goes through here: :func:`rom_files` gives an
engine plan's ``$readmemh`` images as text (file name -> text), :func:`verilog_text` the
design's Verilog with the engine's extra modules, :func:`write_files` writes both
atomically (a temporary file, then a rename), so a failed run leaves no half-written file.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["COPY_ATTR", "pack_words", "hex_text", "rom_files", "verilog_text", "write_files"]


#: Attribute of the wires whose registers are deliberate copies (e.g. one per hard multiplier):
#: a synthesis flow keeps their flip-flops apart (``setattr -set keep 1`` on the flip-flops,
#: boards/build.py), since Yosys' ``opt_merge`` would join registers with the same input.
COPY_ATTR = "augsnn_copy"

def pack_words(words: np.ndarray, width: int) -> list[int]:
    """Pack ``(depth, lanes)`` signed lane values of ``width`` bits into words (lane 0 at LSB)."""
    words = np.asarray(words, dtype=np.int64)
    depth, lanes = words.shape
    unsigned_ = words & ((1 << width) - 1)
    if lanes * width <= 63:
        shifts = (np.arange(lanes, dtype=np.int64) * width)
        return (unsigned_ << shifts).sum(axis=1).tolist()
    out = []
    for row in unsigned_.tolist():
        value = 0
        for k, lane in enumerate(row):
            value |= lane << (k * width)
        out.append(value)
    return out


def hex_text(words: list[int], width: int) -> str:
    """``words`` as a ``$readmemh`` file: one ``width``-bit hexadecimal word per line."""
    digits = max(1, (width + 3) // 4)
    return "".join(f"{w:0{digits}x}\n" for w in words)


def rom_files(plan, prefix: str = "") -> dict[str, str]:
    """The ``$readmemh`` images of an engine plan: ``{prefix}weights<l>.hex`` -> text.

    ``plan.rom_images()`` gives, per memory name, the packed words and their width (an
    engine whose weights are not in ROMs gives none).
    """
    return {f"{prefix}{name}.hex": hex_text(words, width)
            for name, (words, width) in plan.rom_images().items()}


def verilog_text(component, *, name: str = "top", extra: str = "") -> str:
    """The Verilog of ``component`` (top module ``name``), followed by ``extra`` modules."""
    from amaranth.back import verilog
    text = verilog.convert(component, name=name)
    return text + "\n" + extra if extra else text


def write_files(files: dict) -> list[Path]:
    """Write ``{path: text}`` atomically, creating folders; return the paths written."""
    out = []
    for path, text in files.items():
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            tmp.write_text(text)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        out.append(path)
    return out
