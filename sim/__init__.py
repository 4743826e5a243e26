"""cocotb + Verilator testbenches and the RTL-vs-golden comparison glue."""
