"""augsnn: augmented-spike, double-threshold SNNs from trained ANNs to open FPGAs.

Sub-packages (one import namespace, mapped from the top-level folders):

- ``augsnn.golden``: NumPy golden model, model files, conversion rules, datasets, ANN training.
- ``augsnn.repro``: the paper's tables and figures, the zoo builder, the doc writers.
- ``augsnn.hw``: Amaranth generators (neuron core, network accelerator).
- ``augsnn.sim``: cocotb + Verilator testbenches and RTL-vs-golden comparison.
- ``augsnn.boards``: FPGA board targets and build reports.
- ``augsnn.frontends``: torch.fx modules, ONNX and NIR in, NIR out (docs/frontends.md).

``augsnn.convert(...)`` (:mod:`augsnn.api`) converts a module or a file and returns an
:class:`~augsnn.api.SNN` with ``evaluate``, ``write_verilog``, ``simulate_rtl``, ``build``.
"""

__version__ = "0.1.0"


def __getattr__(name):
    """``augsnn.convert``, ``augsnn.load`` and ``augsnn.SNN`` (:mod:`augsnn.api`), imported
    on first use so that ``import augsnn`` stays light."""
    if name in ("convert", "load", "SNN"):
        from . import api
        return getattr(api, name)
    raise AttributeError(f"module 'augsnn' has no attribute {name!r}")
