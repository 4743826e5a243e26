"""The lane accelerator as an engine of the registry (:mod:`augsnn.hw.engine`)."""

from __future__ import annotations

from ..engine import Engine

__all__ = ["LanesEngine", "ENGINE"]


class LanesEngine(Engine):
    """One NeuronCore per weighted layer, ``lanes`` synaptic updates per cycle each,
    weights in ROMs of the bitstream (docs/accelerator.md)."""

    name = "lanes"
    title = "accelerator"
    doc = "docs/accelerator.md"
    options = ("lanes", "taps", "padding", "memory_budget_bits")
    early_exit = True

    def plan(self, model, *, lanes: int = 8, taps: int = 1, padding: bool = True,
             memory_budget_bits: int | None = None):
        from .plan import plan
        return plan(model, lanes=lanes, taps=taps, padding=padding,
                    memory_budget_bits=memory_budget_bits)

    def component(self, model, *, trace: bool = False, rom_files=None, spram: bool = False,
                  inline_roms: bool = False, hard_mult: str | None = None, **options):
        from .accelerator import Accelerator
        return Accelerator(model, trace=trace, rom_files=rom_files,
                           rom_backend="memory" if inline_roms else "readmemh",
                           hard_mult=hard_mult, **options)

    @property
    def extra_verilog(self) -> str:
        from ..rom import ROM_VERILOG
        return ROM_VERILOG

    def pixel_cycles(self, plan) -> int:
        first = plan.layers[0]
        return first.groups * first.k * first.k + 8

    def where(self, *, lanes=8, **options) -> str:
        from .plan import lanes_text
        return f" at {lanes_text(lanes)} lane{'s' if lanes != 1 else ''}"


ENGINE = LanesEngine()
