"""A multiplier with registered inputs and a registered product, portable or in one DSP block.

Layer: ``hw`` (Amaranth). ``registered_product(m, a, b, out)`` makes ``out`` the product
``a * b`` two cycles after ``a`` and ``b`` (cycle 1: the operands' registers; cycle 2: the
product's register). The portable form is three registers and a ``*`` (what simulation,
the iCE40 and every test use). ``hard="ecp5"`` puts the same two registers inside one
ECP5 ``MULT18X18D``: its A/B input registers and its output register, all on ``CLK0``
(``REG_INPUTA_CLK``, ``REG_INPUTB_CLK``, ``REG_OUTPUT_CLK``; no pipeline register), signed
operands. Same cycles, same values: only where the flip-flops are changes. Yosys maps a
``*`` to a combinational MULT18X18D and leaves the registers in the fabric; on the ECP5-85F
the routes from those registers to the multiplier and back (about 3.5 ns each way around a
3.9 ns multiply) held the 32-lane design below 100 MHz.

``docs/accelerator.md`` ("Multipliers") says where it is used; ``sim/models/MULT18X18D.v``
is the behaviour of the one mode used here, for Verilator (Yosys ships only a black box).
"""

from __future__ import annotations

from amaranth.hdl import ClockSignal, Const, Instance, Module, Signal, signed

__all__ = ["HARD_MULTIPLIERS", "check_hard_mult", "registered_product"]

#: ``hard`` values :func:`registered_product` knows (``None``: the portable form).
HARD_MULTIPLIERS = ("ecp5",)

#: Operand width of one ECP5 MULT18X18D.
ECP5_OPERAND_BITS = 18


def check_hard_mult(hard) -> str | None:
    """``hard`` if it names a multiplier block :func:`registered_product` knows (or is
    ``None``); else a ``ValueError`` naming it."""
    if hard is not None and hard not in HARD_MULTIPLIERS:
        raise ValueError(f"hard multiplier must be one of {', '.join(HARD_MULTIPLIERS)} or "
                         f"None, not {hard!r}")
    return hard


def registered_product(m: Module, a, b, out: Signal, *, hard: str | None = None,
                       name: str = "mul", attrs=None) -> None:
    """Add to ``m``: ``out`` = ``a * b`` (signed) two cycles later, one product a cycle.

    ``a``, ``b``: signed values; ``out``: the product's low ``len(out)`` bits (the caller
    sizes it to hold the product). ``attrs``: attributes of the portable form's operand
    registers (e.g. the board build's keep marker). ``hard="ecp5"``: one MULT18X18D with its
    own registers (operands of at most 18 bits).
    """
    if check_hard_mult(hard) is None:
        ra = Signal(signed(len(a)), name=f"{name}_a", reset_less=True, attrs=attrs or {})
        rb = Signal(signed(len(b)), name=f"{name}_b", reset_less=True, attrs=attrs or {})
        m.d.sync += [ra.eq(a), rb.eq(b), out.eq(ra * rb)]
        return
    n = ECP5_OPERAND_BITS
    if len(a) > n or len(b) > n or len(out) > 2 * n:
        raise ValueError(f"a MULT18X18D multiplies operands of at most {n} bits into "
                         f"{2 * n}: not {len(a)} x {len(b)} -> {len(out)}")
    ea = Signal(signed(n), name=f"{name}_ea")
    eb = Signal(signed(n), name=f"{name}_eb")
    p = Signal(2 * n, name=f"{name}_p")
    m.d.comb += [ea.eq(a.as_signed()), eb.eq(b.as_signed()), out.eq(p[:len(out)])]
    ports = {}
    for i in range(n):
        ports[f"i_A{i}"] = ea[i]
        ports[f"i_B{i}"] = eb[i]
        ports[f"i_C{i}"] = Const(0)
    for i in range(2 * n):
        ports[f"o_P{i}"] = p[i]
    m.submodules[name] = Instance(
        "MULT18X18D",
        p_REG_INPUTA_CLK="CLK0", p_REG_INPUTB_CLK="CLK0", p_REG_OUTPUT_CLK="CLK0",
        p_REG_PIPELINE_CLK="NONE", p_REG_INPUTC_CLK="NONE", p_GSR="DISABLED",
        p_RESETMODE="SYNC",
        i_SIGNEDA=Const(1), i_SIGNEDB=Const(1), i_SOURCEA=Const(0), i_SOURCEB=Const(0),
        i_CLK0=ClockSignal("sync"), i_CE0=Const(1), i_RST0=Const(0),
        **ports)
