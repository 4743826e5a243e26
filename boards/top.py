# amaranth: UnusedElaboratable=no
"""Board top-levels: the accelerator behind a UART, with a PLL clock.

Layer: ``boards`` (Amaranth). :class:`UartAccelerator` is the whole design between the two
serial pins, platform-free, so the testbench simulates exactly what the board runs;
:class:`BoardTop` adds the board's PLL, reset and pins. The bytes on the wire are those of
:mod:`augsnn.boards.protocol`.
"""

from amaranth.hdl import ClockDomain, Const, Elaboratable, Instance, Module, Signal
from amaranth.lib import fifo, io, stream, wiring
from amaranth.lib.cdc import ResetSynchronizer
from amaranth.lib.wiring import In, Out

from augsnn.hw.engine import get_engine
from augsnn.hw.uart import UARTRx, UARTTx, check_divisor

__all__ = ["UartAccelerator", "WordSerializer", "BoardTop", "RX_FIFO_DEPTH"]

#: Depth of the receive FIFO (flip-flops): it absorbs the first layer's short stalls.
RX_FIFO_DEPTH = 16


class WordSerializer(wiring.Component):
    """Send each 32-bit word of the result stream as 4 bytes, least significant first.

    Members
    -------
    i : In(stream of {data[32], last})
    o : Out(stream of 8 bits)
    """

    def __init__(self, word_layout):
        super().__init__({"i": In(stream.Signature(word_layout)),
                          "o": Out(stream.Signature(8))})

    def elaborate(self, platform):
        m = Module()
        word = Signal(32)
        left = Signal(3)
        m.d.comb += [self.o.payload.eq(word[:8]), self.o.valid.eq(left != 0),
                     self.i.ready.eq(left == 0)]
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [word.eq(self.i.payload.data), left.eq(4)]
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += [word.eq(word >> 8), left.eq(left - 1)]
        return m


class UartAccelerator(wiring.Component):
    """The accelerator for ``model`` between a UART receiver and transmitter.

    A request (``T`` and the pixels) may come at full line rate: the engine takes a pixel in
    at most ``engine.pixel_cycles(plan)`` cycles (the lane accelerator's first layer: its
    fan-out beats; the compact engine stores the pixels as they come), which must be less
    than the 10 bit times of a byte (checked here), and a small FIFO absorbs its stalls. The
    answer words go out as bytes. One request at a time: the host waits for an answer before
    the next. An engine that loads its weights over the link (the compact engine) takes the
    weight frame (header ``T = 0``) after configuration.

    Parameters
    ----------
    model : Model
    lanes : int
        For an engine that takes it (the lane accelerator).
    divisor : int
        Clock cycles per UART bit (``clock // baud``), ``>= 4``.
    engine : str
        A name of the engine registry (:mod:`augsnn.hw.engine`): ``"lanes"`` or ``"compact"``.
    accel_options
        More parameters of the engine's component (``rom_files``, ``spram``, ``inline_roms``,
        ``hard_mult``, and the engine's plan options such as ``memory_budget_bits``,
        ``padding``).

    Members
    -------
    rx : In(1)
        Serial input (idle high).
    tx : Out(1)
        Serial output (idle high).
    busy : Out(1)
        An image is in progress.
    lost : Out(1)
        Sticky until reset: a received byte was lost (receive FIFO full) or had a bad stop
        bit. Never set when the host keeps to the protocol.
    """

    rx: In(1, init=1)
    tx: Out(1, init=1)
    busy: Out(1)
    lost: Out(1)

    def __init__(self, model, *, lanes: int = 8, divisor: int, engine: str = "lanes",
                 **accel_options):
        self._divisor = check_divisor(divisor)
        eng = get_engine(engine)
        self._engine = engine
        component_options = {k: accel_options.pop(k)
                             for k in ("rom_files", "spram", "inline_roms", "hard_mult", "trace")
                             if k in accel_options}
        self._accel = eng.component(model, **component_options,
                                    **eng.select(lanes=lanes, **accel_options))
        need = eng.pixel_cycles(self._accel.plan)
        if need > 10 * self._divisor:
            raise ValueError(
                f"the first layer of {model.name} takes up to {need} cycles per pixel at "
                f"{lanes} lanes, more than a byte's {10 * self._divisor} cycles at UART divisor "
                f"{self._divisor}: use more lanes or a lower baud rate")
        super().__init__()

    accelerator = property(lambda self: self._accel)
    engine = property(lambda self: self._engine)
    divisor = property(lambda self: self._divisor)
    plan = property(lambda self: self._accel.plan)

    def elaborate(self, platform):
        m = Module()
        m.submodules.accel = accel = self._accel
        m.submodules.uart_rx = urx = UARTRx(self._divisor)
        m.submodules.uart_tx = utx = UARTTx(self._divisor)
        m.submodules.rx_fifo = rxf = fifo.SyncFIFOBuffered(width=8, depth=RX_FIFO_DEPTH)
        m.submodules.words = ser = WordSerializer(accel.o.payload.shape())
        m.d.comb += [
            urx.rx.eq(self.rx), self.tx.eq(utx.tx), self.busy.eq(accel.busy),
            rxf.w_data.eq(urx.o.payload), rxf.w_en.eq(urx.o.valid), urx.o.ready.eq(rxf.w_rdy),
            accel.i.payload.eq(rxf.r_data), accel.i.valid.eq(rxf.r_rdy),
            rxf.r_en.eq(accel.i.ready),
        ]
        with m.If(urx.overrun | urx.framing_error):
            m.d.sync += self.lost.eq(1)
        wiring.connect(m, accel.o, ser.i)
        wiring.connect(m, ser.o, utx.i)
        return m


class BoardTop(Elaboratable):
    """The design of one board: PLL, reset from the PLL lock, UART pins, the accelerator.

    Parameters
    ----------
    board : Board
        The target (:mod:`augsnn.boards.targets`).
    design : UartAccelerator
    pll : PLLConfig
        The PLL setting of the design clock.
    """

    def __init__(self, board, design, pll):
        self.board, self.design, self.pll = board, design, pll

    def elaborate(self, platform):
        m = Module()
        # ECP5: the power-on reset is asynchronous (asserted until the PLL locks, released
        # in step with the clock by the ResetSynchronizer; every flip-flop also starts at its
        # reset value from the bitstream). A synchronous reset net across the whole die, OR-ed
        # with the accelerator's ``abort`` in front of thousands of flip-flops, was the
        # critical path of the 8,32,8 build at 100 MHz (14 ns, nearly all routing).
        m.domains.sync = cd_sync = ClockDomain("sync",
                                               async_reset=self.board.family == "ecp5")
        pll_clk = Signal(name="pll_clk")
        m.d.comb += cd_sync.clk.eq(pll_clk)
        locked = Signal()
        p = self.pll.params
        if self.board.family == "ice40":
            platform.lookup(platform.default_clk).attrs["GLOBAL"] = False
            clk_in = platform.request(platform.default_clk, dir="-")
            m.submodules.pll = Instance(
                "SB_PLL40_PAD",
                p_FEEDBACK_PATH="SIMPLE", p_DIVR=p["DIVR"], p_DIVF=p["DIVF"],
                p_DIVQ=p["DIVQ"], p_FILTER_RANGE=p["FILTER_RANGE"],
                i_PACKAGEPIN=clk_in.io, i_RESETB=Const(1), i_BYPASS=Const(0),
                o_PLLOUTGLOBAL=pll_clk, o_LOCK=locked)
        else:
            clk_in = platform.request(platform.default_clk, dir="-")
            m.submodules.clk_buf = clk_buf = io.Buffer("i", clk_in)
            m.submodules.pll = Instance(
                "EHXPLLL",
                a_ICP_CURRENT="12", a_LPF_RESISTOR="8", a_MFG_ENABLE_FILTEROPAMP="1",
                a_MFG_GMCREF_SEL="2",
                p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
                p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA", p_OUTDIVIDER_MUXB="DIVB",
                p_OUTDIVIDER_MUXC="DIVC", p_OUTDIVIDER_MUXD="DIVD",
                p_CLKI_DIV=p["CLKI_DIV"], p_CLKOP_ENABLE="ENABLED", p_CLKOP_DIV=p["CLKOP_DIV"],
                p_CLKOP_CPHASE=p["CLKOP_CPHASE"], p_CLKOP_FPHASE=0, p_FEEDBK_PATH="CLKOP",
                p_CLKFB_DIV=p["CLKFB_DIV"],
                i_RST=Const(0), i_STDBY=Const(0), i_CLKI=clk_buf.i, i_CLKFB=pll_clk,
                i_PHASESEL0=Const(0), i_PHASESEL1=Const(0), i_PHASEDIR=Const(1),
                i_PHASESTEP=Const(1), i_PHASELOADREG=Const(1), i_PLLWAKESYNC=Const(0),
                i_ENCLKOP=Const(0), o_CLKOP=pll_clk, o_LOCK=locked)
        # No explicit constraint: nextpnr derives the PLL output's from the oscillator's.
        if self.board.family == "ecp5":
            # The synchroniser's output drives the reset of nearly every flip-flop: through a
            # DCCA it takes a global network (nextpnr routes a DCCA's fabric loads over it)
            # instead of general routing across the die, which was the critical path of the
            # 8,32,8 build at 100 MHz (10.8 ns of routing to one LSR).
            m.domains.por = cd_por = ClockDomain("por", async_reset=True)
            m.d.comb += cd_por.clk.eq(pll_clk)
            m.submodules.reset = ResetSynchronizer(~locked, domain="por")
            m.submodules.reset_buf = Instance("DCCA", i_CLKI=cd_por.rst, i_CE=Const(1),
                                              o_CLKO=cd_sync.rst)
        else:
            m.submodules.reset = ResetSynchronizer(~locked, domain="sync")
        m.submodules.design = design = self.design
        uart = platform.request("uart", 0, dir="-")
        m.submodules.rx_buf = rx_buf = io.Buffer("i", uart.rx)
        m.submodules.tx_buf = tx_buf = io.Buffer("o", uart.tx)
        m.submodules.led0 = led0 = io.Buffer("o", platform.request("led", 0, dir="-"))
        m.submodules.led1 = led1 = io.Buffer("o", platform.request("led", 1, dir="-"))
        m.d.comb += [design.rx.eq(rx_buf.i), tx_buf.o.eq(design.tx)]
        # The LEDs from registers: ``busy`` is an OR over the whole design, and a path from it
        # to a pin at the far edge of the die was a critical path of the ULX3S build.
        m.d.sync += [led0.o.eq(design.busy), led1.o.eq(design.lost)]
        return m
