"""Fuzzing the model-file reader: any file loads identically or raises ModelFileError.

Hypothesis mutates real model files (the zoo's tiny-aug and net2-aug, and small models made
here: dense-only with a membrane output and single threshold, conv2d with padding, sumpool,
16-bit weights) by bit flips, byte overwrites and truncations (the file must load identical
to the original or raise ModelFileError), and by field mutations of the JSON header and the
arrays (the file must load as a model the golden model can run, or raise ModelFileError).
2,150 cases in all, each within 5 s (docs/reliability.md). The zip bomb and nesting tests
measure the reader's peak memory in a fresh process.
"""

import io
import json
import math
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from augsnn.golden.convert import convert
from augsnn.golden.modelfile import MAX_JSON_DEPTH, ZOO_DIR, ModelFileError, load, save
from augsnn.golden.network import simulate

SETTINGS = dict(deadline=5000, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.data_too_large])


def _made_models():
    rng = np.random.default_rng(0)
    dense = convert([{"type": "flatten"}, {"type": "dense", "weight": rng.normal(0, .3, (6, 16))},
                     {"type": "relu"}, {"type": "dense", "weight": rng.normal(0, .3, (3, 6))}],
                    "aug", input_shape=(1, 4, 4), name="dense", output="membrane",
                    meta={"dataset": "mnist", "T": 8})
    conv = convert([{"type": "conv2d", "weight": rng.normal(0, .3, (2, 1, 3, 3)), "padding": 1},
                    {"type": "leaky_relu", "alpha": .125}, {"type": "avgpool", "size": 2},
                    {"type": "flatten"}, {"type": "dense", "weight": rng.normal(0, .3, (4, 18))}],
                   "aug", input_shape=(1, 6, 6), name="conv", weight_bits=12, coef_bits=6)
    return {"dense": dense, "conv": conv}


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    """name -> (file bytes, loaded model) of every seed file."""
    folder = tmp_path_factory.mktemp("seeds")
    out = {}
    for name, model in _made_models().items():
        out[name] = save(model, folder / f"{name}.npz").read_bytes()
    for name in ("tiny-aug", "net2-aug"):
        out[name] = (ZOO_DIR / f"{name}.npz").read_bytes()
    return _Seeds({name: (data, _fingerprint_bytes(data, folder / f"{name}.check.npz"))
                   for name, data in out.items()})


class _Seeds(dict):
    def __repr__(self):  # Hypothesis prints the fixture with a failing example
        return f"<seed files {sorted(self)}>"


def _fingerprint(model) -> tuple:
    return (model.summary(), json.dumps(model.meta, sort_keys=True),
            tuple(layer.weight.tobytes() for layer in model.weighted))


def _fingerprint_bytes(data: bytes, path) -> tuple:
    path.write_bytes(data)
    return _fingerprint(load(path))


def _identical_or_refused(data: bytes, want: tuple, path) -> None:
    path.write_bytes(data)
    try:
        model = load(path)
    except ModelFileError:
        return
    assert _fingerprint(model) == want, "a damaged file loaded as a different model"


SEED_NAMES = ("tiny-aug", "net2-aug", "dense", "conv")


@settings(max_examples=700, **SETTINGS)
@given(name=st.sampled_from(SEED_NAMES), flips=st.lists(
    st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 7)), min_size=1, max_size=8))
def test_bit_flips(seeds, tmp_path, name, flips):
    data, want = seeds[name]
    b = bytearray(data)
    for where, bit in flips:
        b[int(where * len(b))] ^= 1 << bit
    _identical_or_refused(bytes(b), want, tmp_path / "m.npz")


@settings(max_examples=400, **SETTINGS)
@given(name=st.sampled_from(SEED_NAMES), cut=st.floats(0, 1, exclude_max=True),
       writes=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)),
                       max_size=4))
def test_truncations_and_overwrites(seeds, tmp_path, name, cut, writes):
    """No writes: the file cut at ``cut``; else the bytes overwritten, the file whole."""
    data, want = seeds[name]
    b = bytearray(data)
    for where, value in writes:
        b[int(where * len(b))] = value
    _identical_or_refused(bytes(b if writes else b[:int(cut * len(b))]), want,
                          tmp_path / "m.npz")


HOSTILE = st.one_of(
    st.none(), st.booleans(), st.sampled_from([0, -1, 1, 2, 7, 63, 65535, 65536, 2 ** 31,
                                               2 ** 62, 2 ** 64, 10 ** 30, -10 ** 30]),
    st.integers(), st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", "mnist", "aug", "dense", "conv2d", "flatten", "sumpool", "spiking",
                     "membrane", "uint8", "augsnn-model", "../../x", "a\x1b[2Jb", "x" * 300]),
    st.lists(st.integers(-3, 40), max_size=5), st.dictionaries(st.text(max_size=3),
                                                               st.integers(), max_size=2))

TOP_KEYS = ["format", "version", "name", "method", "dataset", "ann_accuracy", "input_shape",
            "input_dtype", "output", "layers", "meta"]
LAYER_KEYS = ["type", "weight", "shape", "weight_bits", "theta_p", "theta_n", "coef_bits",
              "pot_bits", "v_init", "padding", "size"]
META_KEYS = ["T", "dataset", "ann_accuracy", "ann_test_correct", "ann_test_images"]


def _arrays(data: bytes):
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    return json.loads(str(arrays.pop("header")[()])), arrays


@st.composite
def field_mutation(draw):
    where = draw(st.sampled_from(["top", "layer", "meta", "array"]))
    if where == "top":
        return where, None, draw(st.sampled_from(TOP_KEYS)), draw(st.none() | HOSTILE)
    if where == "layer":
        return where, draw(st.integers(0, 9)), draw(st.sampled_from(LAYER_KEYS)), draw(HOSTILE)
    if where == "meta":
        return where, None, draw(st.sampled_from(META_KEYS)), draw(HOSTILE)
    return where, draw(st.integers(0, 9)), draw(st.sampled_from(
        ["float32", "int64", "uint16", "bool", "reshape", "drop", "extra", "huge"])), None


def _mutate(header, arrays, mutation):
    where, index, key, value = mutation
    if where == "top":
        header[key] = value
    elif where == "meta":
        if isinstance(header.get("meta"), dict):
            header["meta"][key] = value
    elif where == "layer":
        layers = header.get("layers")
        if isinstance(layers, list) and layers and isinstance(layers[index % len(layers)], dict):
            layers[index % len(layers)][key] = value
    elif arrays:
        names = sorted(arrays)
        name = names[index % len(names)]
        if key in ("float32", "int64", "uint16", "bool"):
            arrays[name] = arrays[name].astype(key)
        elif key == "reshape":
            arrays[name] = arrays[name].reshape(-1)
        elif key == "drop":
            del arrays[name]
        elif key == "extra":
            arrays["extra"] = np.zeros(3, np.int8)
        else:
            arrays[name] = np.zeros((1, 1 << 20), np.int8)


@pytest.mark.slow  # 13-23 s on the 2-core CI machine
@settings(max_examples=1050, **SETTINGS)
@given(name=st.sampled_from(SEED_NAMES), mutations=st.lists(field_mutation(), min_size=1,
                                                           max_size=3))
def test_field_mutations(seeds, tmp_path, name, mutations):
    header, arrays = _arrays(seeds[name][0])
    for m in mutations:
        _mutate(header, arrays, m)
    path = tmp_path / "m.npz"
    np.savez_compressed(path, header=np.array(json.dumps(header)), **arrays)
    try:
        model = load(path)
    except ModelFileError:
        return
    # Accepted: every command's use of it must work (the golden model runs, no overflow).
    model.summary()
    model.current_bounds()
    images = np.full((1,) + model.input_shape, 255, np.uint8)
    res = simulate(model, images, 2)
    assert res.counts.shape == (1, model.n_classes)


def _bomb(path, nbytes: int = 2_000_000_000) -> None:
    """A valid .npz of ~2 MB whose weight member decompresses to ``nbytes`` zero bytes."""
    chunk = 1 << 24
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    npy = io.BytesIO()
    rows = nbytes // 1000
    np.lib.format.write_array_header_1_0(npy, {"descr": "|i1", "fortran_order": False,
                                               "shape": (rows, 1000)})
    head = npy.getvalue()
    body = [co.compress(head) + co.flush(zlib.Z_FULL_FLUSH)]
    block = co.compress(bytes(chunk)) + co.flush(zlib.Z_FULL_FLUSH)  # the same for every chunk
    n_chunks, rest = divmod(rows * 1000, chunk)
    body += [block] * n_chunks + [co.compress(bytes(rest)) + co.flush()]
    crc = zlib.crc32(head)
    zeros = bytes(chunk)
    for _ in range(n_chunks):
        crc = zlib.crc32(zeros, crc)
    crc = zlib.crc32(bytes(rest), crc)
    members = [("header.npy", _npy_text('{"format": "augsnn-model", "version": 1}'), None),
               ("layers.0.weight.npy", b"".join(body), (crc, len(head) + rows * 1000))]
    out, central = io.BytesIO(), io.BytesIO()
    for name, payload, info in members:
        if info is None:
            raw = payload
            c = zlib.compressobj(9, zlib.DEFLATED, -15)
            payload = c.compress(raw) + c.flush()
            info = (zlib.crc32(raw), len(raw))
        crc, size = info
        offset = out.tell()
        fields = struct.pack("<HHHHHIIIHH", 20, 0, 8, 0, 0, crc, len(payload), size,
                             len(name), 0)
        out.write(b"PK\x03\x04" + fields + name.encode() + payload)
        central.write(b"PK\x01\x02" + struct.pack("<H", 20) + fields
                      + struct.pack("<HHHII", 0, 0, 0, 0, offset) + name.encode())
    cd = central.getvalue()
    out.write(cd + b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, len(members), len(members),
                                               len(cd), out.tell(), 0))
    path.write_bytes(out.getvalue())


def _npy_text(text: str) -> bytes:
    f = io.BytesIO()
    np.save(f, np.array(text))
    return f.getvalue()


_PEAK = """
import resource, sys, time
from augsnn.golden.modelfile import ModelFileError, load
t = time.time()
try:
    load(sys.argv[1]); outcome = "loaded"
except ModelFileError as exc:
    outcome = "ModelFileError: " + str(exc)
print(outcome)
# VmHWM is this process image's own peak; ru_maxrss would also count the parent's memory at
# the spawn (Linux keeps the high-water mark across exec), i.e. the whole pytest process.
hwm = [int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:")]
print((hwm[0] if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) // 1024,
      time.time() - t)
"""


def _load_in_fresh_process(path):
    out = subprocess.run([sys.executable, "-c", _PEAK, str(path)], capture_output=True,
                         text=True, timeout=60, check=True).stdout.splitlines()
    mb, seconds = out[-1].split()
    return out[0], int(mb), float(seconds)


def test_zip_bomb_is_refused_in_bounded_memory(tmp_path):
    path = tmp_path / "bomb.npz"
    _bomb(path)
    assert 1_500_000 < path.stat().st_size < 2_500_000          # a 2 MB input ...
    with np.load(path) as npz:                                  # ... that is a valid archive
        assert npz.zip.getinfo("layers.0.weight.npy").file_size > 1_999_000_000
    outcome, peak_mb, seconds = _load_in_fresh_process(path)
    assert outcome.startswith("ModelFileError: ") and "more than the" in outcome, outcome
    assert peak_mb < 500 and seconds < 5, (peak_mb, seconds)


def test_deep_and_huge_headers_are_refused(tmp_path):
    deep = tmp_path / "deep.npz"
    np.savez(deep, header=np.array('{"meta": ' + "[" * 100_000 + "]" * 100_000 + "}"))
    with pytest.raises(ModelFileError, match=rf"header: nested 100001 deep, more than "
                                             rf"{MAX_JSON_DEPTH}$"):
        load(deep)
    huge = tmp_path / "huge.npz"
    np.savez(huge, header=np.array(" " * (2 << 20)))
    with pytest.raises(ModelFileError, match=r"header: 2,097,152 characters, more than"):
        load(huge)
    big_int = tmp_path / "int.npz"
    np.savez(big_int, header=np.array('{"version": ' + "9" * 5000 + "}"))
    with pytest.raises(ModelFileError, match=r"header: not valid JSON"):
        load(big_int)


def test_net1_mutations_in_bounded_memory(tmp_path):
    """The zoo's largest-but-one file (1.8 MB), a member truncated: refused, bounded."""
    data = bytearray((ZOO_DIR / "net1-aug.npz").read_bytes())
    data[len(data) // 2] ^= 0x10
    path = tmp_path / "net1.npz"
    path.write_bytes(bytes(data))
    outcome, peak_mb, seconds = _load_in_fresh_process(path)
    assert outcome.startswith("ModelFileError: "), outcome
    assert peak_mb < 500 and seconds < 5 and not math.isnan(seconds)
