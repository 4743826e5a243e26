"""PLL settings for the board clocks (iCE40 SB_PLL40, ECP5 EHXPLLL).

Layer: ``boards``. The solvers are plain Python (the same search as Project IceStorm's
``icepll`` and Trellis' ``ecppll``: every divider combination within the datasheet's
frequency ranges, the closest output wins, ties to the lowest VCO divider setting), so a
report can state the exact clock before any synthesis.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PLLConfig", "ice40_pll", "ecp5_pll"]


@dataclass(frozen=True)
class PLLConfig:
    """One PLL setting: the output frequency it really gives and its divider parameters."""

    family: str
    f_in_mhz: float
    f_out_mhz: float
    params: dict

    def describe(self) -> str:
        p = ", ".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.family} PLL {self.f_in_mhz:g} MHz -> {self.f_out_mhz:.4g} MHz ({p})"


def _check(f_in, f_out):
    for what, f in (("input", f_in), ("output", f_out)):
        if isinstance(f, bool) or not isinstance(f, (int, float)) or not f > 0:
            raise ValueError(f"PLL {what} frequency must be a positive number of MHz, not {f!r}")


def ice40_pll(f_in: float, f_out: float) -> PLLConfig:
    """SB_PLL40 (SIMPLE feedback) setting closest to ``f_out`` MHz from ``f_in`` MHz.

    Ranges (iCE40 sysCLOCK PLL guide): PFD 10..133 MHz, VCO 533..1066 MHz, output 16..275 MHz.
    """
    _check(f_in, f_out)
    if not 16 <= f_out <= 275:
        raise ValueError(f"iCE40 PLL output must be 16..275 MHz, not {f_out!r}")
    best = None
    for divr in range(16):
        pfd = f_in / (divr + 1)
        if not 10 <= pfd <= 133:
            continue
        for divf in range(128):
            vco = pfd * (divf + 1)
            if not 533 <= vco <= 1066:
                continue
            for divq in range(1, 7):
                out = vco / (1 << divq)
                err = abs(out - f_out)
                if best is None or err < best[0] - 1e-9:
                    best = (err, out, divr, divf, divq, pfd)
    if best is None:
        raise ValueError(f"no iCE40 PLL setting gives {f_out} MHz from {f_in} MHz")
    _, out, divr, divf, divq, pfd = best
    filter_range = next(i for i, edge in enumerate((17, 26, 44, 66, 101, 1e9), 1) if pfd < edge)
    return PLLConfig("iCE40", f_in, out, {"DIVR": divr, "DIVF": divf, "DIVQ": divq,
                                          "FILTER_RANGE": filter_range})


def ecp5_pll(f_in: float, f_out: float) -> PLLConfig:
    """EHXPLLL setting (feedback from CLKOP) closest to ``f_out`` MHz from ``f_in`` MHz.

    Ranges (ECP5 sysCLOCK guide, as ``ecppll`` uses them): PFD 3.125..400 MHz, VCO
    400..800 MHz, output 3.125..400 MHz.
    """
    _check(f_in, f_out)
    if not 3.125 <= f_out <= 400:
        raise ValueError(f"ECP5 PLL output must be 3.125..400 MHz, not {f_out!r}")
    best = None
    for in_div in range(1, 129):
        pfd = f_in / in_div
        if not 3.125 <= pfd <= 400:
            continue
        for fb_div in range(1, 81):
            out = pfd * fb_div
            if not 3.125 <= out <= 400:
                continue
            for op_div in range(1, 129):
                vco = out * op_div
                if not 400 <= vco <= 800:
                    continue
                err = abs(out - f_out)
                if best is None or err < best[0] - 1e-9:
                    best = (err, out, in_div, fb_div, op_div)
                break   # the lowest VCO divider in range is enough for this output
    if best is None:
        raise ValueError(f"no ECP5 PLL setting gives {f_out} MHz from {f_in} MHz")
    _, out, in_div, fb_div, op_div = best
    return PLLConfig("ECP5", f_in, out, {"CLKI_DIV": in_div, "CLKFB_DIV": fb_div,
                                         "CLKOP_DIV": op_div, "CLKOP_CPHASE": op_div - 1})
