"""``augsnn verilog MODEL``: the accelerator's Verilog and weight memories from a zoo model."""

import re

from augsnn.cli import main


def test_verilog_model_writes_verilog_and_readmemh_files(tmp_path, capsys):
    out = tmp_path / "net2.v"
    assert main(["verilog", "net2-aug", "--lanes", "4", "-o", str(out)]) == 0
    text = out.read_text()
    assert re.search(r"^module top\(", text, re.M)
    hexes = sorted(tmp_path.glob("net2_weights*.hex"))
    assert [h.name for h in hexes] == [f"net2_weights{i}.hex" for i in range(3)]
    for h in hexes:
        assert f'"{h.name}"' in text  # loaded with $readmemh, not written as statements
    assert len(text) < 4_000_000
    assert "net2-aug: 4 lanes" in capsys.readouterr().out


def test_verilog_model_refusals(tmp_path, capsys):
    assert main(["verilog", "net2-aug", "--memory-budget-bits", "1000",
                 "-o", str(tmp_path / "x.v")]) == 2
    err = capsys.readouterr().err
    assert "needs 1035552 bits of on-chip memory" in err and "memory_budget_bits=1000" in err
    assert not list(tmp_path.iterdir())  # nothing half-written
    assert main(["verilog", "net2-aug"]) == 2
    assert "needs -o FILE.v" in capsys.readouterr().err
