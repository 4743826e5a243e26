"""The Python API: ``augsnn.convert(...)`` and the model's methods (docs/frontends.md).

>>> import augsnn
>>> snn = augsnn.convert(my_module, method="aug", dataset="mnist")   # doctest: +SKIP
>>> snn.evaluate(T=8, images=1000)["best"]                           # doctest: +SKIP
>>> snn.write_verilog("build/net.v", lanes=8)                         # doctest: +SKIP
>>> snn.simulate_rtl(images=5, T=8)["mismatches"]                     # doctest: +SKIP
>>> snn.build(board="ulx3s-85f", out_dir="build/ulx3s")               # doctest: +SKIP

:func:`convert` returns an :class:`SNN`: a subclass of the golden model's
:class:`~augsnn.golden.model.Model` (so every function that takes a model takes it), whose
methods are thin calls of the existing functions. They import the hardware, simulation and
board packages when called, never at import: ``golden/`` stays free of hw/sim/boards, and
``import augsnn`` stays light (it loads this module only when ``augsnn.convert`` or
``augsnn.SNN`` is first used).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from augsnn.golden.model import Model

__all__ = ["convert", "load", "SNN"]


@dataclass
class SNN(Model):
    """A converted model with the flow's steps as methods (module docstring)."""

    @classmethod
    def of(cls, model: Model) -> "SNN":
        return model if isinstance(model, cls) else cls(
            model.name, model.method, model.input_shape, model.layers, model.output, model.meta)

    def save(self, path) -> Path:
        """Write the model file (``.npz``)."""
        from augsnn.golden.modelfile import save
        return save(self, path)

    def export_nir(self, path) -> list[str]:
        """Write the model as a NIR graph; returns what a metadata-blind reader does differently."""
        from augsnn.frontends.nir_export import write_nir
        return write_nir(self, path)

    def test_images(self, images: int | None = None, dataset: str | None = None, offset: int = 0):
        """``(images, labels, indices)`` of the model's (or ``dataset``'s) test set."""
        from augsnn.golden.evaluate import load_test_images
        return load_test_images(self, dataset, images, offset)

    def simulate(self, images, T: int, **kwargs):
        """The golden model on uint8 ``images`` (:func:`augsnn.golden.network.simulate`)."""
        from augsnn.golden.network import simulate
        return simulate(self, images, T, **kwargs)

    def evaluate(self, T: int | None = None, images: int | None = None, *,
                 dataset: str | None = None, offset: int = 0, **kwargs) -> dict:
        """Golden-model accuracy vs T, events and synops on the test set (``augsnn eval``)."""
        from augsnn.golden.evaluate import evaluate
        x, y, idx = self.test_images(images, dataset, offset)
        T = T or self.meta.get("T") or 64
        return evaluate(self, x, y, T, indices=idx, **kwargs)[0]

    def write_verilog(self, path, *, lanes=8, **options) -> dict:
        """The accelerator's Verilog and weight memories (``augsnn verilog``)."""
        from augsnn.hw.lanes.accelerator import write_verilog
        return write_verilog(self, path, lanes=lanes, **options)

    def simulate_rtl(self, images=5, T: int | None = None, *, lanes=8, dataset: str | None = None,
                     quiet: bool = True, **kwargs) -> dict:
        """Verilator run of the accelerator vs the golden model (``augsnn sim``): the report of
        :func:`augsnn.sim.accelerator.compare` (``mismatches`` 0 when bit-exact).

        ``images``: a count of test images, or a uint8 array of images.
        """
        from augsnn.sim.accelerator import compare, run_images
        labels = indices = None
        if isinstance(images, (int, np.integer)):
            images, labels, indices = self.test_images(int(images), dataset)
        T = T or self.meta.get("T") or 8
        run = run_images(self, np.asarray(images), T, lanes=lanes, quiet=quiet, **kwargs)
        return compare(self, images, run, indices=indices, labels=labels)

    def build(self, board: str, out_dir=None, **kwargs) -> dict:
        """FPGA bitstream and report for ``board`` (``augsnn build``)."""
        from augsnn.boards.build import build
        out_dir = out_dir if out_dir is not None else os.path.join("build", f"{self.name}-{board}")
        os.makedirs(out_dir, exist_ok=True)
        return build(self, board, out_dir, **kwargs)


def load(model) -> SNN:
    """A model file or zoo name as an :class:`SNN`."""
    from augsnn.golden.modelfile import load as load_file
    return SNN.of(load_file(model))


def convert(source, method: str | None = "aug", *, dataset: str | None = None,
            name: str | None = None, arch: str | None = None, weight_bits: int = 8,
            trust: bool = False, input_scale: float = 1 / 255, calib_images=None,
            **kwargs) -> SNN:
    """Convert ``source`` to an integer SNN.

    ``source``: an ``nn.Module`` (``nn.Sequential``, or any module torch.fx can trace), a
    float layer list, or a path: a ``.pt`` checkpoint (``augsnn train``'s, a state dict with
    ``arch``, a whole pickled module with ``trust=True``), an ``.onnx`` file, a ``.nir``
    graph (an IF network: ``method`` is ignored, the model is datanorm with M = 1;
    ``input_scale`` says what the graph's input is) or a model file (returned as it is).
    ``dataset``: the data set of calibration, the ANN's test accuracy and the image shape;
    default the checkpoint's own, else ``mnist``. ``kwargs`` go to
    :func:`augsnn.golden.convert.convert` (``coef_bits``, ``pot_bits``, ``pow2_theta``,
    ``output``).
    """
    if isinstance(source, Model):
        return SNN.of(source)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        suffix = path.suffix.lower()
        name = name or path.stem
        if suffix == ".npz":
            return load(path)
        if suffix == ".nir":
            from augsnn.frontends.nir_import import nir_model
            from augsnn.golden.datasets import load_dataset
            dataset = dataset or "mnist"
            model, _ = nir_model(path, name=name, weight_bits=weight_bits,
                                 input_scale=input_scale,
                                 image_shape=load_dataset(dataset, "test")[0].shape[1:],
                                 meta={"dataset": dataset})
            return SNN.of(model)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such file")
        from augsnn.golden import ann
        if suffix == ".onnx":
            from augsnn.frontends.onnx_import import onnx_float_layers
            from augsnn.golden.datasets import load_dataset
            source, _ = onnx_float_layers(path, load_dataset(dataset or "mnist", "test")[0]
                                          .shape[1:])
        else:
            source, ck = ann.load_checkpoint(path, arch=arch, trust=trust)
            dataset = dataset or ck.get("meta", {}).get("dataset")
    from augsnn.golden import ann
    if method is None:
        raise ValueError("method is required (aug, ter or datanorm)")
    dataset = dataset or "mnist"
    model = ann.convert_module(source, method, dataset=dataset, name=name or "model",
                               calib_images=calib_images, weight_bits=weight_bits, **kwargs)
    return SNN.of(model)
