"""Model files: one versioned ``.npz`` per converted network (docs/model-format.md).

A model file holds integer arrays and one JSON header (the ``header`` entry, a 0-d unicode
array), so it loads with ``np.load(allow_pickle=False)``. :func:`load` validates every field
and raises :class:`ModelFileError` naming the first bad one; nothing is returned half-loaded.
:func:`save` writes to a temporary name and renames, so a file is never half-written.

A model file is untrusted input (docs/reliability.md): :func:`load` reads the archive itself
and raises nothing but :class:`ModelFileError` (or ``FileNotFoundError``) for any file. It
reads each member's size from its ``.npy`` header and refuses a file that would decompress to
more than :data:`MAX_ARRAY_BYTES` before decompressing it, refuses a JSON header longer than
:data:`MAX_HEADER_CHARS` or nested deeper than :data:`MAX_JSON_DEPTH`, and validates every
value any command later uses (thresholds within the membrane range, shapes and activations
bounded, the ``meta`` fields ``T``, ``dataset``, ``ann_accuracy``, ``ann_test_correct``), so
``eval``, ``verilog``, ``sim`` and ``build`` all accept or refuse the same files.

The model zoo (converted Net1/Net2 shipped with the package) is reached by name:
``load("net2-aug")``; :func:`resolve` turns a zoo name or a path into a path.
"""

from __future__ import annotations

import json
import lzma
import os
import re
import struct
import tokenize
import zipfile
import zlib
from pathlib import Path

import numpy as np

from .atomic import atomic_path
from .model import LAYER_TYPES, METHODS, Conv2d, Dense, Flatten, Model, SumPool
from .neuron import NeuronParams

__all__ = ["FORMAT", "VERSION", "ModelFileError", "save", "load", "resolve", "zoo_names",
           "zoo_manifest", "ZOO_DIR", "MAX_ARRAY_BYTES", "MAX_HEADER_CHARS", "MAX_JSON_DEPTH",
           "MAX_MEMBERS", "MAX_ELEMENTS"]

FORMAT = "augsnn-model"
VERSION = 1
ZOO_DIR = Path(__file__).with_name("zoo")

#: Largest total decompressed size of a model file's arrays (the zoo's largest: 3.4 MB).
MAX_ARRAY_BYTES = 128 << 20
#: Largest JSON header, in characters (the zoo's largest: about 60 k).
MAX_HEADER_CHARS = 1 << 20
#: Deepest nesting of JSON objects and lists in the header (the zoo's: 4).
MAX_JSON_DEPTH = 32
#: Most entries in one archive.
MAX_MEMBERS = 256
#: Largest number of values in the input image and in any layer's output.
MAX_ELEMENTS = 1 << 20
#: Data sets a model may name (``dataset``, ``meta.dataset``); see golden/datasets.py.
DATASET_NAMES = ("mnist", "fashion-mnist", "cifar10")

#: Every way the standard library reports a damaged archive member.
_READ_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, lzma.LZMAError, OSError,
                EOFError, ValueError, KeyError, NotImplementedError, RuntimeError, struct.error,
                UnicodeError, OverflowError, IndexError, SyntaxError, TypeError,
                tokenize.TokenError)


class ModelFileError(ValueError):
    """A model file is unreadable, of another version, or inconsistent; names the field."""


def zoo_names() -> list[str]:
    """Names of the models shipped with the package."""
    return sorted(p.stem for p in ZOO_DIR.glob("*.npz"))


def zoo_manifest(name: str) -> dict:
    """The manifest of a zoo model: reproducing command, seed, accuracies, events."""
    path = ZOO_DIR / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"no zoo model named {_short(name)} "
                                f"(zoo: {', '.join(zoo_names())})")
    return json.loads(path.read_text())


def resolve(model: str | os.PathLike) -> Path:
    """Path of a model given as a file path or a zoo name (``net2-aug``)."""
    path = Path(model)
    if path.is_file():
        return path
    if isinstance(model, str) and (ZOO_DIR / f"{model}.npz").is_file():
        return ZOO_DIR / f"{model}.npz"
    raise FileNotFoundError(
        f"{_short(str(model))} is neither a model file nor a zoo name "
        f"(zoo: {', '.join(zoo_names()) or 'empty'})")


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
    with atomic_path(path) as tmp, open(tmp, "wb") as f:  # a file: no ".npz" appended
        np.savez_compressed(f, header=np.array(json.dumps(header, indent=1)), **arrays)
    return path


def _short(value) -> str:
    """``repr(value)``, cut to 80 characters (a hostile file may hold huge values)."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _int(h: dict, key: str, where: str, minimum=None, maximum=None, optional=False):
    if key not in h:
        raise ModelFileError(f"{where}.{key}: missing")
    v = h[key]
    if v is None and optional:
        return None
    if isinstance(v, bool) or not isinstance(v, int):
        raise ModelFileError(f"{where}.{key}: must be an integer, not {_short(v)}")
    if (minimum is not None and v < minimum) or (maximum is not None and v > maximum):
        raise ModelFileError(f"{where}.{key}: must be in [{minimum}, {maximum}], not {_short(v)}")
    return v


def _layer(i: int, h, arrays: dict, used: set):
    where = f"layers[{i}]"
    if not isinstance(h, dict):
        raise ModelFileError(f"{where}: must be an object, not {_short(h)}")
    kind = h.get("type")
    if not isinstance(kind, str) or kind not in LAYER_TYPES:
        raise ModelFileError(f"{where}.type: must be one of {sorted(LAYER_TYPES)}, "
                             f"not {_short(kind)}")
    if kind == "flatten":
        return Flatten()
    if kind == "sumpool":
        return SumPool(_int(h, "size", where, 2, 8))
    name = h.get("weight")
    if not isinstance(name, str) or name not in arrays:
        raise ModelFileError(f"{where}.weight: array {_short(name)} is not in the file")
    used.add(name)
    w = arrays[name]
    shape = h.get("shape")
    ndim = 2 if kind == "dense" else 4
    if not isinstance(shape, list) or len(shape) != ndim or list(w.shape) != shape:
        raise ModelFileError(f"{where}.shape: {_short(shape)} does not match the {name} array "
                             f"{list(w.shape)}"
                             f" ({ndim}-d expected)")
    if min(shape) < 1:
        raise ModelFileError(f"{where}.shape: every dimension must be >= 1, not {_short(shape)}")
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
    # A threshold beyond the membrane range can never be reached; bounding it keeps every
    # product in the golden model (int64) and every RTL width finite.
    limit = 1 << (pot_bits - 1)
    for key, theta in (("theta_p", theta_p), ("theta_n", theta_n)):
        if theta is not None and theta > limit:
            raise ModelFileError(f"{where}.{key}: must be <= {limit} (the membrane range of "
                                 f"pot_bits={pot_bits}), not {_short(theta)}")
    try:
        neuron = NeuronParams(theta_p, theta_n, coef_bits, pot_bits, v_init)
    except ValueError as exc:
        raise ModelFileError(f"{where}: {exc}") from None
    w = w.astype(np.int16 if bits > 8 else np.int8, copy=False)
    if kind == "dense":
        if "padding" in h:
            raise ModelFileError(f"{where}.padding: only conv2d layers have padding")
        return Dense(w, neuron, bits)
    padding = _int(h, "padding", where, 0, shape[2] - 1) if "padding" in h else 0
    return Conv2d(w, neuron, bits, padding)


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, budget: int) -> np.ndarray:
    """One ``.npy`` member, its size checked from its header before anything is decompressed."""
    with zf.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise ValueError(f"unsupported .npy version {version}")
        if dtype.hasobject or dtype.kind not in "biufU" or dtype.subdtype is not None \
                or dtype.fields is not None:
            raise ValueError(f"arrays must hold numbers (or the header text), not {dtype}")
        if any(n < 0 for n in shape):
            raise ValueError(f"negative dimension in shape {shape}")
        count = 1
        for n in shape:
            count *= n
        nbytes = count * dtype.itemsize
        if nbytes > budget:
            raise ValueError(f"decompresses to {nbytes:,} bytes, more than the "
                             f"{MAX_ARRAY_BYTES:,} bytes a model file may hold")
        data = f.read(nbytes)
        if len(data) != nbytes:
            raise ValueError(f"truncated: {len(data):,} of {nbytes:,} bytes")
        if f.read(1):
            raise ValueError("trailing bytes after the array")
    return np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")


def _read_archive(path: Path) -> dict:
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        if len(infos) > MAX_MEMBERS:
            raise ModelFileError(f"{path}: not a model file: {len(infos)} entries, more than "
                                 f"{MAX_MEMBERS}")
        arrays, budget = {}, MAX_ARRAY_BYTES
        for info in infos:
            name = info.filename
            if not name.endswith(".npy") or name[:-4] in arrays:
                raise ModelFileError(f"{path}: not a readable .npz model file (entry "
                                     f"{_short(name)}: not a .npy array, or twice)")
            if info.file_size > budget + 4096:  # the declared size, before decompressing
                raise ModelFileError(
                    f"{path}: entry {_short(name)}: declares {info.file_size:,} bytes, more "
                    f"than the {MAX_ARRAY_BYTES:,} bytes a model file may hold")
            try:
                arr = _read_member(zf, info, budget)
            except ModelFileError:
                raise
            except _READ_ERRORS as exc:
                raise ModelFileError(f"{path}: not a readable .npz model file (entry "
                                     f"{_short(name)}: {exc})") from None
            budget -= arr.nbytes
            arrays[name[:-4]] = arr
    return arrays


def _json_depth(text: str) -> int:
    """Deepest nesting of objects and lists in JSON ``text`` (strings skipped)."""
    bare = re.sub(r'"(?:[^"\\]|\\.)*"', "", text)
    steps = np.frombuffer(bare.encode("utf-8", "replace"), dtype=np.uint8)
    delta = np.isin(steps, (ord("["), ord("{"))).astype(np.int64) \
        - np.isin(steps, (ord("]"), ord("}"))).astype(np.int64)
    return int(np.cumsum(delta).max(initial=0))


def _header(path: Path, arrays: dict) -> dict:
    if "header" not in arrays:
        raise ModelFileError(f"{path}: header: missing (not an augsnn model file)")
    arr = arrays.pop("header")
    if arr.dtype.kind != "U" or arr.shape != ():
        raise ModelFileError(f"{path}: header: must be a 0-d text array, not {arr.dtype} "
                             f"{arr.shape}")
    if arr.dtype.itemsize // 4 > MAX_HEADER_CHARS:
        raise ModelFileError(f"{path}: header: {arr.dtype.itemsize // 4:,} characters, more "
                             f"than {MAX_HEADER_CHARS:,}")
    try:
        text = str(arr[()])
    except (UnicodeError, ValueError) as exc:
        raise ModelFileError(f"{path}: header: not text ({exc})") from None
    depth = _json_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise ModelFileError(f"{path}: header: nested {depth} deep, more than {MAX_JSON_DEPTH}")
    try:
        h = json.loads(text)
    except (json.JSONDecodeError, TypeError, ValueError, RecursionError) as exc:
        raise ModelFileError(f"{path}: header: not valid JSON ({exc})") from None
    if not isinstance(h, dict):
        raise ModelFileError(f"{path}: header: must be a JSON object")
    return h


def load(model: str | os.PathLike) -> Model:
    """Load and validate a model file (or zoo name).

    The file is untrusted: whatever it holds, the result is a valid model or one of the two
    errors below (see the module docstring for the bounds).

    Raises
    ------
    FileNotFoundError
        Neither a file nor a zoo name.
    ModelFileError
        Unreadable, truncated, too large, wrong format or version, or inconsistent; the
        message names the file and the field.
    """
    path = resolve(model)
    try:
        arrays = _read_archive(path)
    except ModelFileError:
        raise
    except _READ_ERRORS as exc:
        raise ModelFileError(f"{path}: not a readable .npz model file ({exc})") from None
    h = _header(path, arrays)
    try:
        return _from_header(h, arrays)
    except ModelFileError as exc:
        raise ModelFileError(f"{path}: {exc}") from None


def _check_meta(meta: dict) -> None:
    """The ``meta`` fields commands read (the rest is free-form provenance)."""
    if "T" in meta and meta["T"] is not None:
        T = meta["T"]
        if isinstance(T, bool) or not isinstance(T, int) or not 1 <= T <= 65535:
            raise ModelFileError(f"meta.T: must be null or an integer in [1, 65535], "
                                 f"not {_short(T)}")
    for key in ("dataset",):
        if meta.get(key) is not None and meta[key] not in DATASET_NAMES:
            raise ModelFileError(f"meta.{key}: must be null or one of {DATASET_NAMES}, "
                                 f"not {_short(meta[key])}")
    acc = meta.get("ann_accuracy")
    if acc is not None and (isinstance(acc, bool) or not isinstance(acc, (int, float))
                            or not 0 <= acc <= 1):
        raise ModelFileError(f"meta.ann_accuracy: must be null or a fraction in [0, 1], "
                             f"not {_short(acc)}")
    bits = meta.get("ann_test_correct")
    if bits is not None and (not isinstance(bits, str) or len(bits) % 2
                             or re.fullmatch(r"[0-9a-fA-F]*", bits) is None):
        raise ModelFileError("meta.ann_test_correct: must be null or a hex string of whole bytes")
    n = meta.get("ann_test_images")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 0):
        raise ModelFileError(f"meta.ann_test_images: must be null or an integer >= 0, "
                             f"not {_short(n)}")


def _from_header(h: dict, arrays: dict) -> Model:
    if h.get("format") != FORMAT:
        raise ModelFileError(f"format: must be {_short(FORMAT)}, not {_short(h.get('format'))}")
    if h.get("version") != VERSION:
        raise ModelFileError(f"version: this augsnn reads version {VERSION}, "
                             f"not {_short(h.get('version'))}")
    name = h.get("name")
    if not isinstance(name, str) or not name or len(name) > 200:
        raise ModelFileError(f"name: must be a string of 1 to 200 characters, not {_short(name)}")
    if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in name):
        raise ModelFileError(f"name: must not hold control characters, not {_short(name)}")
    if h.get("method") not in METHODS:
        raise ModelFileError(f"method: must be one of {METHODS}, not {_short(h.get('method'))}")
    shape = h.get("input_shape")
    if not isinstance(shape, list) or not 1 <= len(shape) <= 3 \
            or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape):
        raise ModelFileError(f"input_shape: must be a list of 1 to 3 positive integers, "
                             f"not {_short(shape)}")
    if int(np.prod(shape, dtype=object)) > MAX_ELEMENTS:
        raise ModelFileError(f"input_shape: {shape} has more than {MAX_ELEMENTS:,} pixels")
    if h.get("input_dtype") != "uint8":
        raise ModelFileError(f"input_dtype: must be 'uint8', not {_short(h.get('input_dtype'))}")
    if h.get("output") not in ("spiking", "membrane"):
        raise ModelFileError(f"output: must be 'spiking' or 'membrane', "
                             f"not {_short(h.get('output'))}")
    acc = h.get("ann_accuracy")
    if acc is not None and (isinstance(acc, bool) or not isinstance(acc, (int, float))
                            or not 0 <= acc <= 1):
        raise ModelFileError(f"ann_accuracy: must be null or a fraction in [0, 1], "
                             f"not {_short(acc)}")
    if h.get("dataset") is not None and h["dataset"] not in DATASET_NAMES:
        raise ModelFileError(f"dataset: must be null or one of {DATASET_NAMES}, "
                             f"not {_short(h['dataset'])}")
    meta = h.get("meta", {})
    if not isinstance(meta, dict):
        raise ModelFileError(f"meta: must be an object, not {_short(meta)}")
    _check_meta(meta)
    layers_h = h.get("layers")
    if not isinstance(layers_h, list) or not 1 <= len(layers_h) <= MAX_MEMBERS:
        raise ModelFileError(f"layers: must be a list of 1 to {MAX_MEMBERS} layers, "
                             f"not {str(layers_h)[:80]}")
    used: set = set()
    layers = [_layer(i, lh, arrays, used) for i, lh in enumerate(layers_h)]
    extra = sorted(set(arrays) - used)
    if extra:
        raise ModelFileError(f"arrays: {extra} are not referenced by any layer")
    try:
        model = Model(name, h["method"], tuple(shape), layers, h["output"], meta)
        shapes = model.shapes()
    except (ValueError, TypeError) as exc:
        raise ModelFileError(f"layers: {exc}") from None
    for i, s in enumerate(shapes[1:]):
        if int(np.prod(s, dtype=object)) > MAX_ELEMENTS:
            raise ModelFileError(f"layers[{i}]: output {list(s)} has more than "
                                 f"{MAX_ELEMENTS:,} values")
    return model
