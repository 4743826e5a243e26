"""Board targets and the fit check that runs before any synthesis.

Layer: ``boards``. A :class:`Board` names an amaranth-boards platform, its device's resources
and the design defaults (engine, clock, lanes, baud rate). :func:`fit` asks the board's
engine (:mod:`augsnn.hw.engine`) for its plan of the model and every memory the design
will have (``plan.memories()``, the same numbers the generator uses), maps each onto the
device's block RAM geometries and refuses a model that cannot fit, naming what it needs and
what the device has.

Two engines: the lane accelerator (:mod:`augsnn.hw.lanes`; its memories are read and
written in the same cycle or initialised by the bitstream, so they take block RAM) and the
compact engine (:mod:`augsnn.hw.compact`; membranes, currents, accumulators and weights in
two single-port SPRAM banks, weights loaded over the link), which is what the iCE40 UP5K
runs (docs/boards.md, docs/compact-engine.md).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from augsnn.hw.compact.plan import BANK_ROWS
from augsnn.hw.engine import get_engine
from augsnn.hw.lanes.plan import lanes_text
from augsnn.hw.banked import DP16KD_SHAPES, cheapest_shape
from augsnn.hw.plan import PlanError

__all__ = ["Board", "BOARDS", "get_board", "fit", "resolve_lanes", "FitReport", "DoesNotFit"]


@dataclass(frozen=True)
class Board:
    """One board: platform, device resources, design defaults.

    Members
    -------
    name : str
    platform : str
        ``module:Class`` of the amaranth-boards platform.
    family : str
        ``ice40`` or ``ecp5``.
    device : str
    osc_mhz : float
        Oscillator frequency on the board (the PLL input).
    clock_mhz : float
        Default design clock (the PLL output asked for).
    lanes : int or str
        Default lane count: one count for every layer, or ``"auto"`` (folding chosen from the
        golden model's synops within ``lane_budget``, :func:`resolve_lanes`).
    baud : int
        Default UART rate.
    luts : int
        Logic cells (iCE40) or LUT4s (ECP5).
    bram_blocks : int
        Block RAMs (iCE40 EBR, ECP5 DP16KD).
    bram_geometries : tuple
        ``(depth, width)`` configurations of one block RAM.
    multipliers : int
        Hard multipliers (iCE40 SB_MAC16, ECP5 MULT18X18D).
    spram_blocks : int
        iCE40 SPRAM blocks (16 k x 16 bit), used by the compact engine in pairs.
    logic_depth : int
        Memories at most this deep are built from logic by the synthesiser (ECP5 LUT RAM);
        deeper ones take block RAM. The iCE40 has no LUT RAM: Yosys puts even the small
        FIFOs of the neuron cores into EBR.
    engine : str
        The engine that runs on it (:mod:`augsnn.hw.engine`): ``lanes`` (the lane
        accelerator) or ``compact`` (weights loaded over the link).
    lane_budget : int
        The most lanes (multipliers) ``"auto"`` spends in total.
    early_exit : str or None
        The build report's early-exit rule by default (``"auto"``: the rule with the fewest
        mean steps within 0.1 point of the fixed-T accuracy; ``None``: none).
    abc : str
        The ECP5 flow's LUT mapper by default: ``"abc9"`` (Yosys' default) or ``"classic"``
        (``abc -lut 4:7``), the one whose netlist reaches the higher Fmax on this board's
        folded design (docs/boards.md, "Timing"). Not used on the iCE40.
    """

    name: str
    platform: str
    family: str
    device: str
    osc_mhz: float
    clock_mhz: float
    lanes: int | str
    baud: int
    luts: int
    bram_blocks: int
    bram_geometries: tuple
    bram_bits: int
    multipliers: int
    spram_blocks: int = 0
    logic_depth: int = 32
    engine: str = "lanes"
    lane_budget: int = 0
    early_exit: str | None = None
    abc: str = "abc9"

    def platform_class(self):
        module, cls = self.platform.split(":")
        return getattr(importlib.import_module(module), cls)


BOARDS = {
    "icebreaker": Board(
        name="icebreaker", platform="amaranth_boards.icebreaker:ICEBreakerPlatform",
        family="ice40", device="iCE40UP5K-SG48", osc_mhz=12.0, clock_mhz=30.0, lanes=1,
        baud=1_000_000, luts=5280, bram_blocks=30,
        bram_geometries=((256, 16), (512, 8), (1024, 4), (2048, 2)), bram_bits=4096,
        multipliers=8, spram_blocks=4, logic_depth=8, engine="compact"),
    "ulx3s-85f": Board(
        name="ulx3s-85f", platform="amaranth_boards.ulx3s:ULX3S_85F_Platform",
        family="ecp5", device="LFE5U-85F-6BG381C", osc_mhz=25.0, clock_mhz=100.0, lanes="auto",
        baud=3_000_000, luts=83640, bram_blocks=208,
        bram_geometries=DP16KD_SHAPES,
        bram_bits=18432, multipliers=156, logic_depth=32, lane_budget=48, early_exit="auto",
        abc="classic"),
}


def get_board(name: str) -> Board:
    try:
        return BOARDS[name]
    except KeyError:
        raise ValueError(f"unknown board {name!r}; boards: {', '.join(BOARDS)}") from None


def blocks_for(depth: int, width: int, geometries) -> int:
    """Fewest block RAMs that hold a ``depth x width`` memory (one geometry for all)."""
    return cheapest_shape(depth, width, geometries)[1]


class DoesNotFit(ValueError):
    """A model's accelerator needs more of the device than it has."""


@dataclass
class FitReport:
    board: str
    lanes: int
    memories: list
    bram_blocks: int
    bram_available: int
    memory_bits: int
    multipliers: int
    multipliers_available: int
    engine: str = "lanes"
    spram_rows: tuple = ()

    def as_dict(self) -> dict:
        return {"board": self.board, "engine": self.engine, "lanes": self.lanes,
                "spram_rows_per_bank": list(self.spram_rows), "spram_bank_rows": BANK_ROWS,
                "bram_blocks": self.bram_blocks, "bram_available": self.bram_available,
                "memory_bits": self.memory_bits,
                "multipliers": self.multipliers, "multipliers_available": self.multipliers_available,
                "memories": [{"name": n, "depth": d, "width": w, "blocks": b}
                             for n, d, w, b in self.memories]}

    def summary(self) -> str:
        banks = ""
        if self.spram_rows:
            banks = (f"; SPRAM banks {' + '.join(map(str, self.spram_rows))} of "
                     f"{len(self.spram_rows)} x {BANK_ROWS} rows x 32 bit")
        engine = get_engine(self.engine)
        lanes = f", lanes {lanes_text(self.lanes)}" if "lanes" in engine.options else ""
        return (f"{engine.title}{lanes}: {self.memory_bits:,} bits of memory in {self.bram_blocks} of "
                f"{self.bram_available} block RAMs{banks}, {self.multipliers} multiplier"
                f"{'s' if self.multipliers != 1 else ''} ({self.multipliers_available} hard ones "
                f"on the device)")


def resolve_lanes(model, board: Board, lanes=None):
    """The lanes of ``model`` on ``board``: ``lanes`` (default: the board's), with ``"auto"``
    resolved by :func:`augsnn.hw.lanes.folding.auto_lanes` within the board's lane budget (the
    golden model's synops on the first test images at the model's T). Engines without lanes
    take ``lanes`` as it is."""
    lanes = board.lanes if lanes is None else lanes
    if lanes == "auto" and "lanes" in get_engine(board.engine).options:
        from augsnn.hw.lanes.folding import AUTO_BUDGET, auto_lanes
        budget = min(board.lane_budget or AUTO_BUDGET, board.multipliers)
        lanes = auto_lanes(model, int(model.meta.get("T") or 16), budget=budget)
    return lanes


def fit(model, board: Board, *, lanes: int | None = None, rx_fifo_depth: int | None = None
        ) -> FitReport:
    """Check that the design for ``model`` fits ``board``; raise :class:`DoesNotFit`.

    The board's engine plans the model (a model the engine refuses does not fit either);
    memories deeper than the board's ``logic_depth`` count as block RAM (each in its
    cheapest geometry); the estimate is checked against the synthesiser's counts in
    docs/boards.md. Multipliers beyond the hard ones are built from logic, so they do not
    refuse a model.
    """
    engine = get_engine(board.engine)
    where = f"{model.name} does not fit the {board.name} ({board.device})"
    lanes = resolve_lanes(model, board, lanes)
    try:
        plan = engine.plan(model, **engine.select(lanes=lanes))
    except PlanError as exc:
        reason = str(exc)
        if reason.startswith(f"{model.name}: "):
            reason = reason[len(model.name) + 2:]
        raise DoesNotFit(f"{where}{engine.where(**engine.select(lanes=lanes))}: {reason}") from None
    rows = []
    for name, depth, width in plan.memories(rx_fifo_depth):
        b = 0 if depth <= board.logic_depth else blocks_for(depth, width, board.bram_geometries)
        rows.append((name, depth, width, b))
    total_blocks = sum(r[3] for r in rows)
    bits = sum(d * w for _, d, w, _ in rows) + (plan.memory_bits() if plan.banks() else 0)
    if total_blocks > board.bram_blocks:
        big = sorted(rows, key=lambda r: -r[3])[:3]
        worst = ", ".join(f"{n} {d}x{w} bits: {b}" for n, d, w, b in big)
        extra = ""
        if board.spram_blocks and not plan.banks():
            extra = (f"; its {board.spram_blocks} SPRAM blocks cannot hold them (single-ported, "
                     f"not initialised by the bitstream; docs/boards.md)")
        raise DoesNotFit(
            f"{where}{engine.where(**engine.select(lanes=plan.lanes))}: its {engine.title} "
            f"needs {total_blocks} block RAMs "
            f"({bits} bits of memory), the device has {board.bram_blocks} "
            f"({board.bram_blocks * board.bram_bits} bits){extra}. Largest: {worst}")
    return FitReport(board=board.name, lanes=plan.lanes, memories=rows,
                     bram_blocks=total_blocks, bram_available=board.bram_blocks,
                     memory_bits=bits, multipliers=plan.multipliers,
                     multipliers_available=board.multipliers, engine=engine.name,
                     spram_rows=plan.banks())
