"""Board targets and the fit check that runs before any synthesis.

Layer: ``boards``. A :class:`Board` names an amaranth-boards platform, its device's resources
and the design defaults (clock, lanes, baud rate). :func:`fit` lists every memory the
accelerator for a model will have (from :mod:`augsnn.hw.accel_plan`, the same numbers the
generator uses), maps each onto the device's block RAM geometries and refuses a model that
cannot fit, naming what it needs and what the device has.

Two engines: the lane accelerator (:mod:`augsnn.hw.accelerator`; its memories are read and
written in the same cycle or initialised by the bitstream, so they take block RAM) and the
compact engine (:mod:`augsnn.hw.compact`; membranes, currents, accumulators and weights in
two single-port SPRAM banks, weights loaded over the link), which is what the iCE40 UP5K
runs (docs/boards.md, docs/compact-engine.md).
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass

from augsnn.hw.accel_plan import plan as make_plan
from augsnn.hw.compact_plan import BANK_ROWS, NotCompact, compact_plan

__all__ = ["Board", "BOARDS", "get_board", "memories", "compact_memories", "fit", "FitReport",
           "DoesNotFit"]


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
    lanes : int
        Default lane count.
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
        ``lanes`` (:class:`~augsnn.hw.accelerator.Accelerator`) or ``compact``
        (:class:`~augsnn.hw.compact.CompactAccelerator`, weights loaded over the link).
    """

    name: str
    platform: str
    family: str
    device: str
    osc_mhz: float
    clock_mhz: float
    lanes: int
    baud: int
    luts: int
    bram_blocks: int
    bram_geometries: tuple
    bram_bits: int
    multipliers: int
    spram_blocks: int = 0
    logic_depth: int = 32
    engine: str = "lanes"

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
        family="ecp5", device="LFE5U-85F-6BG381C", osc_mhz=25.0, clock_mhz=75.0, lanes=8,
        baud=1_000_000, luts=83640, bram_blocks=208,
        bram_geometries=((512, 36), (1024, 18), (2048, 9), (4096, 4), (8192, 2), (16384, 1)),
        bram_bits=18432, multipliers=156, logic_depth=32),
}


def get_board(name: str) -> Board:
    try:
        return BOARDS[name]
    except KeyError:
        raise ValueError(f"unknown board {name!r}; boards: {', '.join(BOARDS)}") from None


def memories(accel_plan, rx_fifo_depth: int | None = None) -> list[tuple[str, int, int]]:
    """Every memory of the accelerator: ``(name, depth, width)``."""
    from augsnn.hw.accel_units import core_output_layout
    from augsnn.hw.neuron_core import NeuronCore
    out = []
    for lp in accel_plan.layers:
        n = lp.neuron
        core = NeuronCore(coef_bits=n.coef_bits, current_bits=lp.current_bits,
                          pot_bits=n.pot_bits, theta_p=n.theta_p, theta_n=n.theta_n,
                          neurons=lp.neurons, lanes=lp.lanes, v_init=n.v_init,
                          acc_bits=lp.acc_bits)
        out.append((f"out_fifo{lp.number}", core.latency + 3, core_output_layout(lp).size))
        out.append((f"weights{lp.number}", lp.rom_depth, lp.rom_width))
        for k in range(lp.lanes):
            out.append((f"membranes{lp.number}.{k}", max(2, lp.rows), lp.wide_bits))
        if lp.pool > 1:
            pbits = lp.out_max.bit_length() + 1
            out.append((f"pool{lp.number}", max(2, 2 * lp.pooled_w * lp.groups),
                        lp.lanes * pbits))
    first = accel_plan.layers[0]
    out.append(("current0", max(2, first.rows), first.lanes * first.acc_bits))
    if rx_fifo_depth:
        out.append(("uart_rx_fifo", rx_fifo_depth, 8))
    return out


def compact_memories(cplan, rx_fifo_depth: int | None = None) -> list[tuple[str, int, int]]:
    """The compact engine's block-RAM memories (its banks are SPRAM): ``(name, depth, width)``."""
    out = [("pixels", max(2, cplan.pixels), 8),
           ("spikes", max(2, cplan.spike_depth), cplan.spike_bits),
           ("synop_fifo", 4, 14 + 8 + cplan.x_bits)]
    if rx_fifo_depth:
        out.append(("uart_rx_fifo", rx_fifo_depth, 8))
    return out


def blocks_for(depth: int, width: int, geometries) -> int:
    """Fewest block RAMs that hold a ``depth x width`` memory (one geometry for all)."""
    return min(math.ceil(depth / d) * math.ceil(width / w) for d, w in geometries)


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
        if self.engine == "compact":
            return (f"compact engine: SPRAM banks {' + '.join(map(str, self.spram_rows))} of "
                    f"2 x {BANK_ROWS} rows x 32 bit; {self.bram_blocks} of "
                    f"{self.bram_available} block RAMs, {self.multipliers} multiplier")
        return (f"{self.memory_bits} bits of memory in {self.bram_blocks} of "
                f"{self.bram_available} block RAMs, {self.multipliers} multipliers "
                f"({self.multipliers_available} hard ones on the device)")


def fit(model, board: Board, *, lanes: int | None = None, rx_fifo_depth: int | None = None
        ) -> FitReport:
    """Check that the accelerator for ``model`` fits ``board``; raise :class:`DoesNotFit`.

    Memories deeper than the board's ``logic_depth`` count as block RAM (each in its
    cheapest geometry); the estimate is checked against the synthesiser's counts in
    docs/boards.md.
    Multipliers beyond the hard ones are built from logic, so they do not refuse a model.
    """
    if board.engine == "compact":
        return _fit_compact(model, board, rx_fifo_depth)
    lanes = board.lanes if lanes is None else lanes
    accel_plan = make_plan(model, lanes=lanes)
    rows = []
    for name, depth, width in memories(accel_plan, rx_fifo_depth):
        b = 0 if depth <= board.logic_depth else blocks_for(depth, width, board.bram_geometries)
        rows.append((name, depth, width, b))
    total_blocks = sum(r[3] for r in rows)
    bits = sum(d * w for _, d, w, _ in rows)
    report = FitReport(board=board.name, lanes=lanes, memories=rows, bram_blocks=total_blocks,
                       bram_available=board.bram_blocks, memory_bits=bits,
                       multipliers=lanes * len(accel_plan.layers),
                       multipliers_available=board.multipliers)
    if total_blocks > board.bram_blocks:
        big = sorted(rows, key=lambda r: -r[3])[:3]
        worst = ", ".join(f"{n} {d}x{w} bits: {b}" for n, d, w, b in big)
        extra = ""
        if board.spram_blocks:
            extra = (f"; its {board.spram_blocks} SPRAM blocks cannot hold them (single-ported, "
                     f"not initialised by the bitstream; docs/boards.md)")
        raise DoesNotFit(
            f"{model.name} does not fit the {board.name} ({board.device}) at {lanes} "
            f"lane{'s' if lanes > 1 else ''}: its accelerator needs {total_blocks} block RAMs "
            f"({bits} bits of memory), the device has {board.bram_blocks} "
            f"({board.bram_blocks * board.bram_bits} bits){extra}. Largest: {worst}")
    return report


def _fit_compact(model, board: Board, rx_fifo_depth: int | None) -> FitReport:
    where = f"{model.name} does not fit the {board.name} ({board.device})"
    try:
        cplan = compact_plan(model)
    except NotCompact as exc:
        reason = str(exc)
        if reason.startswith(f"{model.name}: "):
            reason = reason[len(model.name) + 2:]
        raise DoesNotFit(f"{where}: {reason}") from None
    rows = []
    for name, depth, width in compact_memories(cplan, rx_fifo_depth):
        b = 0 if depth <= board.logic_depth else blocks_for(depth, width, board.bram_geometries)
        rows.append((name, depth, width, b))
    total_blocks = sum(r[3] for r in rows)
    bits = sum(d * w for _, d, w, _ in rows) + cplan.memory_bits()
    if total_blocks > board.bram_blocks:
        raise DoesNotFit(f"{where}: its compact engine needs {total_blocks} block RAMs besides "
                         f"the SPRAM banks, the device has {board.bram_blocks}")
    return FitReport(board=board.name, lanes=1, memories=rows, bram_blocks=total_blocks,
                     bram_available=board.bram_blocks, memory_bits=bits, multipliers=1,
                     multipliers_available=board.multipliers, engine="compact",
                     spram_rows=tuple(cplan.bank_rows()))
