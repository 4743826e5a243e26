"""Model files: one versioned ``.npz`` per converted network (SPEC §5, docs/model-format.md).

A model file holds integer arrays and one JSON header (the ``header`` entry, a 0-d unicode
array), so it loads with ``np.load(allow_pickle=False)``. :func:`load` validates every field
and raises :class:`ModelFileError` naming the first bad one; nothing is returned half-loaded.
:func:`save` writes to a temporary name and renames, so a file is never half-written.

The model zoo (converted Net1/Net2 shipped with the package) is reached by name:
``load("net2-aug")``; :func:`resolve` turns a zoo name or a path into a path.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np

from .model import LAYER_TYPES, METHODS, Conv2d, Dense, Flatten, Model, SumPool
from .neuron import NeuronParams

__all__ = ["FORMAT", "VERSION", "ModelFileError", "save", "load", "resolve", "zoo_names",
           "zoo_manifest", "ZOO_DIR"]

FORMAT = "augsnn-model"
VERSION = 1
ZOO_DIR = Path(__file__).with_name("zoo")


class ModelFileError(ValueError):
    """A model file is unreadable, of another version, or inconsistent; names the field."""


def zoo_names() -> list[str]:
    """Names of the models shipped with the package."""
    return sorted(p.stem for p in ZOO_DIR.glob("*.npz"))


def zoo_manifest(name: str) -> dict:
    """The manifest of a zoo model: reproducing command, seed, accuracies, events."""
    path = ZOO_DIR / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"no zoo model named {name!r} (zoo: {', '.join(zoo_names())})")
    return json.loads(path.read_text())


def resolve(model: str | os.PathLike) -> Path:
    """Path of a model given as a file path or a zoo name (``net2-aug``)."""
    path = Path(model)
    if path.is_file():
        return path
    if isinstance(model, str) and (ZOO_DIR / f"{model}.npz").is_file():
        return ZOO_DIR / f"{model}.npz"
    raise FileNotFoundError(
        f"{str(model)!r} is neither a model file nor a zoo name (zoo: {', '.join(zoo_names()) or 'empty'})")


def _layer_header(i: int, layer) -> dict:
    if isinstance(layer, (Dense, Conv2d)):
        n = layer.neuron
        h = {"type": layer.type, "weight": f"layers.{i}.weight",
             "shape": list(layer.weight.shape), "weight_bits": int(layer.weight_bits),
             "theta_p": n.theta_p, "theta_n": n.theta_n, "coef_bits": n.coef_bits,
             "pot_bits": n.pot_bits, "v_init": n.v_init}
        if isinstance(layer, Conv2d) and layer.padding:
            h["padding"] = layer.padding  # optional field, written only when non-zero
        return h
    if isinstance(layer, SumPool):
        return {"type": "sumpool", "size": layer.size}
    return {"type": "flatten"}


def save(model: Model, path) -> Path:
    """Write ``model`` to ``path`` (``.npz``) atomically; return the path."""
    path = Path(path)
    header = {"format": FORMAT, "version": VERSION, "name": model.name, "method": model.method,
              "dataset": model.meta.get("dataset"),
              "ann_accuracy": model.meta.get("ann_accuracy"),
              "input_shape": list(model.input_shape), "input_dtype": "uint8",
              "output": model.output,
              "layers": [_layer_header(i, layer) for i, layer in enumerate(model.layers)],
              "meta": model.meta}
    arrays = {f"layers.{i}.weight": np.ascontiguousarray(layer.weight)
              for i, layer in enumerate(model.layers) if hasattr(layer, "weight")}
    tmp = path.with_name(path.name + ".tmp.npz")
    try:
        np.savez_compressed(tmp, header=np.array(json.dumps(header, indent=1)), **arrays)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _int(h: dict, key: str, where: str, minimum=None, maximum=None, optional=False):
    if key not in h:
        raise ModelFileError(f"{where}.{key}: missing")
    v = h[key]
    if v is None and optional:
        return None
    if isinstance(v, bool) or not isinstance(v, int):
        raise ModelFileError(f"{where}.{key}: must be an integer, not {v!r}")
    if (minimum is not None and v < minimum) or (maximum is not None and v > maximum):
        raise ModelFileError(f"{where}.{key}: must be in [{minimum}, {maximum}], not {v!r}")
    return v


def _layer(i: int, h, arrays: dict, used: set):
    where = f"layers[{i}]"
    if not isinstance(h, dict):
        raise ModelFileError(f"{where}: must be an object, not {h!r}")
    kind = h.get("type")
    if kind not in LAYER_TYPES:
        raise ModelFileError(f"{where}.type: must be one of {sorted(LAYER_TYPES)}, not {kind!r}")
    if kind == "flatten":
        return Flatten()
    if kind == "sumpool":
        return SumPool(_int(h, "size", where, 2, 8))
    name = h.get("weight")
    if not isinstance(name, str) or name not in arrays:
        raise ModelFileError(f"{where}.weight: array {name!r} is not in the file")
    used.add(name)
    w = arrays[name]
    shape = h.get("shape")
    ndim = 2 if kind == "dense" else 4
    if not isinstance(shape, list) or len(shape) != ndim or list(w.shape) != shape:
        raise ModelFileError(f"{where}.shape: {shape!r} does not match the {name} array {list(w.shape)}"
                             f" ({ndim}-d expected)")
    if kind == "conv2d" and shape[2] != shape[3]:
        raise ModelFileError(f"{where}.shape: kernel must be square, not {shape[2:]}")
    if not np.issubdtype(w.dtype, np.integer):
        raise ModelFileError(f"{where}.weight: {name} must hold integers, not {w.dtype}")
    bits = _int(h, "weight_bits", where, 2, 16)
    lim = (1 << (bits - 1)) - 1
    if w.size and (int(w.max()) > lim or int(w.min()) < -lim - 1):
        raise ModelFileError(f"{where}.weight: values [{int(w.min())}, {int(w.max())}] exceed "
                             f"weight_bits={bits}")
    theta_p = _int(h, "theta_p", where, 1)
    theta_n = _int(h, "theta_n", where, 1, optional=True)
    coef_bits = _int(h, "coef_bits", where, 2, 16)
    pot_bits = _int(h, "pot_bits", where, 2, 62)
    v_init = _int(h, "v_init", where)
    try:
        neuron = NeuronParams(theta_p, theta_n, coef_bits, pot_bits, v_init)
    except ValueError as exc:
        raise ModelFileError(f"{where}: {exc}") from None
    w = w.astype(np.int16 if bits > 8 else np.int8)
    if kind == "dense":
        if "padding" in h:
            raise ModelFileError(f"{where}.padding: only conv2d layers have padding")
        return Dense(w, neuron, bits)
    padding = _int(h, "padding", where, 0, shape[2] - 1) if "padding" in h else 0
    return Conv2d(w, neuron, bits, padding)


def load(model: str | os.PathLike) -> Model:
    """Load and validate a model file (or zoo name).

    Raises
    ------
    FileNotFoundError
        Neither a file nor a zoo name.
    ModelFileError
        Unreadable, truncated, wrong format or version, or inconsistent; the message names
        the field.
    """
    path = resolve(model)
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as exc:
        raise ModelFileError(f"{path}: not a readable .npz model file ({exc})") from None
    if "header" not in arrays:
        raise ModelFileError(f"{path}: header: missing (not an augsnn model file)")
    try:
        h = json.loads(str(arrays.pop("header")[()]))
    except (json.JSONDecodeError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{path}: header: not valid JSON ({exc})") from None
    if not isinstance(h, dict):
        raise ModelFileError(f"{path}: header: must be a JSON object")
    try:
        return _from_header(h, arrays)
    except ModelFileError as exc:
        raise ModelFileError(f"{path}: {exc}") from None


def _from_header(h: dict, arrays: dict) -> Model:
    if h.get("format") != FORMAT:
        raise ModelFileError(f"format: must be {FORMAT!r}, not {h.get('format')!r}")
    if h.get("version") != VERSION:
        raise ModelFileError(f"version: this augsnn reads version {VERSION}, not {h.get('version')!r}")
    name = h.get("name")
    if not isinstance(name, str) or not name:
        raise ModelFileError(f"name: must be a non-empty string, not {name!r}")
    if h.get("method") not in METHODS:
        raise ModelFileError(f"method: must be one of {METHODS}, not {h.get('method')!r}")
    shape = h.get("input_shape")
    if not isinstance(shape, list) or not 1 <= len(shape) <= 3 \
            or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape):
        raise ModelFileError(f"input_shape: must be a list of 1 to 3 positive integers, not {shape!r}")
    if h.get("input_dtype") != "uint8":
        raise ModelFileError(f"input_dtype: must be 'uint8', not {h.get('input_dtype')!r}")
    if h.get("output") not in ("spiking", "membrane"):
        raise ModelFileError(f"output: must be 'spiking' or 'membrane', not {h.get('output')!r}")
    acc = h.get("ann_accuracy")
    if acc is not None and (not isinstance(acc, (int, float)) or not 0 <= acc <= 1):
        raise ModelFileError(f"ann_accuracy: must be null or a fraction in [0, 1], not {acc!r}")
    meta = h.get("meta", {})
    if not isinstance(meta, dict):
        raise ModelFileError(f"meta: must be an object, not {meta!r}")
    layers_h = h.get("layers")
    if not isinstance(layers_h, list) or not layers_h:
        raise ModelFileError(f"layers: must be a non-empty list, not {layers_h!r}")
    used: set = set()
    layers = [_layer(i, lh, arrays, used) for i, lh in enumerate(layers_h)]
    extra = sorted(set(arrays) - used)
    if extra:
        raise ModelFileError(f"arrays: {extra} are not referenced by any layer")
    try:
        return Model(name, h["method"], tuple(shape), layers, h["output"], meta)
    except ValueError as exc:
        raise ModelFileError(f"layers: {exc}") from None
