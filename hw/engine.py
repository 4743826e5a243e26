"""The engine registry: one interface for every hardware engine, looked up by name.

Layer: ``hw`` (no Amaranth at import). An engine turns a checked model into a design; the
rest of the flow (``augsnn sim``, the board builds, the command line) asks the registry for
an engine by name and uses only this interface, so it holds no engine-specific branches:

* :meth:`Engine.plan` checks the model and lays it out; it refuses with a
  :class:`~augsnn.hw.plan.PlanError` before any elaboration. Every plan has the same
  members: ``describe()``, ``memories()``, ``memory_bits()``, ``banks()``, ``rom_images()``,
  ``cycles(synops, T)`` (the engine's cycle model), ``critical(synops, T)``, ``lanes``,
  ``multipliers``, ``layers``, ``n_classes``, ``result_words``.
* :meth:`Engine.component` builds the Amaranth component (ports ``i``, ``o``, ``busy`` and,
  with ``trace``, ``trace<l>``); :attr:`Engine.extra_verilog` is the hand-written Verilog
  its output needs, :meth:`Engine.weight_frame` the frame that loads its weights over the
  link (empty when the weights are in the bitstream).

Engines: ``lanes`` (:mod:`augsnn.hw.lanes`, docs/accelerator.md) and ``compact``
(:mod:`augsnn.hw.compact`, docs/compact-engine.md).
"""

from __future__ import annotations

import importlib

__all__ = ["Engine", "get_engine", "engine_names", "ENGINE_MODULES"]

#: Engine name -> the module that defines it (imported on first use).
ENGINE_MODULES = {
    "lanes": "augsnn.hw.lanes.engine",
    "compact": "augsnn.hw.compact.engine",
}


class Engine:
    """A hardware engine (subclasses set the class attributes and the methods).

    Members
    -------
    name : str
    title : str
        How reports name the design ("accelerator", "compact engine").
    doc : str
        The page that describes it and its cycle model.
    cycles_name : str
        What ``plan.cycles`` is: a lower "cycle bound" or an exact "cycle model".
    options : tuple of str
        The plan options it takes besides the model (:meth:`select` keeps only those).
    answer_gaps : bool
        Its answer stream may drop ``valid`` between words (testbenches allow it).
    early_exit : bool
        It honours the early-exit rule of the image header (docs/golden-model.md, "Early
        exit"); an engine that does not must not be sent one.
    """

    name = ""
    title = ""
    doc = ""
    cycles_name = "cycle bound"
    options: tuple = ()
    answer_gaps = False
    early_exit = False

    def select(self, **options) -> dict:
        """The subset of ``options`` this engine takes (``None`` values dropped)."""
        return {k: v for k, v in options.items() if k in self.options and v is not None}

    def plan(self, model, **options):
        """Check ``model`` and lay it out; raise :class:`~augsnn.hw.plan.PlanError`."""
        raise NotImplementedError

    def component(self, model, *, trace: bool = False, rom_files=None, spram: bool = False,
                  inline_roms: bool = False, hard_mult: str | None = None, **options):
        """The Amaranth component for ``model``.

        ``rom_files``: the file names the Verilog gives its ``$readmemh`` memories (in the
        order of ``plan.rom_images()``); ``spram``: use the device's SPRAM blocks;
        ``inline_roms``: weight memories with their contents in the Verilog, one memory per
        block-RAM bank (a board build; :func:`~augsnn.hw.rom.banked_rom`); ``hard_mult``:
        the device's multiplier block with its own registers where the engine has a
        registered multiply (``"ecp5"``; :func:`~augsnn.hw.dsp.registered_product`).
        """
        raise NotImplementedError

    @property
    def extra_verilog(self) -> str:
        """Hand-written Verilog modules its designs instantiate ("" if none)."""
        return ""

    def weight_frame(self, plan) -> bytes:
        """The frame that loads the weights over the link (``b""``: in the bitstream)."""
        return b""

    def weight_checksum(self, plan) -> int | None:
        """The design's answer to :meth:`weight_frame` (``None`` without a frame)."""
        return None

    def pixel_cycles(self, plan) -> int:
        """Most cycles the design takes to accept one pixel byte (the link's pace bound)."""
        raise NotImplementedError

    def where(self, **options) -> str:
        """A refusal's qualifier for these plan options (e.g. `` at 8 lanes``)."""
        return ""


def engine_names() -> tuple[str, ...]:
    """The names of the registered engines."""
    return tuple(ENGINE_MODULES)


def get_engine(name: str) -> Engine:
    """The engine called ``name``; ``ValueError`` naming the known ones otherwise."""
    if not isinstance(name, str) or name not in ENGINE_MODULES:
        raise ValueError(f"unknown engine {name!r}; engines: {', '.join(ENGINE_MODULES)}")
    return importlib.import_module(ENGINE_MODULES[name]).ENGINE
