"""The compact engine as an engine of the registry (:mod:`augsnn.hw.engine`)."""

from __future__ import annotations

from ..engine import Engine

__all__ = ["CompactEngine", "ENGINE"]


class CompactEngine(Engine):
    """The whole SNN on one datapath with two single-port banks; weights loaded over the
    link (docs/compact-engine.md)."""

    name = "compact"
    title = "compact engine"
    doc = "docs/compact-engine.md"
    cycles_name = "cycle model"
    options = ()
    answer_gaps = True
    early_exit = True                 # the image header's rule (docs/golden-model.md)

    def plan(self, model):
        from .plan import compact_plan
        return compact_plan(model)

    def component(self, model, *, trace: bool = False, rom_files=None, spram: bool = False,
                  inline_roms: bool = False, hard_mult: str | None = None, **options):
        from .accelerator import CompactAccelerator
        return CompactAccelerator(model, trace=trace, spram=spram)

    def weight_frame(self, plan) -> bytes:
        from .plan import weight_frame
        return weight_frame(plan)

    def weight_checksum(self, plan) -> int:
        from .plan import weight_checksum
        return weight_checksum(plan)

    def pixel_cycles(self, plan) -> int:
        return 1                      # the pixels are stored as they come


ENGINE = CompactEngine()
