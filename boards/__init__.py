"""FPGA board targets (iCE40 UP5K, ECP5) built with Yosys/nextpnr."""
