"""Model files: round trip, and every kind of bad file rejected with the field named."""

import json

import numpy as np
import pytest

from augsnn.golden.convert import convert
from augsnn.golden.modelfile import ModelFileError, load, save
from augsnn.golden.network import simulate


@pytest.fixture
def model():
    rng = np.random.default_rng(0)
    layers = [{"type": "conv2d", "weight": rng.normal(0, 0.3, (3, 1, 3, 3))},
              {"type": "leaky_relu", "alpha": 0.125}, {"type": "avgpool", "size": 2},
              {"type": "flatten"}, {"type": "dense", "weight": rng.normal(0, 0.3, (4, 48))}]
    return convert(layers, "aug", input_shape=(1, 10, 10), name="tiny",
                   meta={"dataset": "mnist", "ann_accuracy": 0.5})


def test_round_trip_is_bit_exact(model, tmp_path):
    path = save(model, tmp_path / "m.npz")
    again = load(path)
    assert again.summary() == model.summary()
    assert again.meta == json.loads(json.dumps(model.meta))
    images = np.random.default_rng(1).integers(0, 256, (4, 1, 10, 10), dtype=np.uint8)
    a, b = simulate(model, images, 8, trace=True), simulate(again, images, 8, trace=True)
    for x, y in zip(a.trace, b.trace):
        np.testing.assert_array_equal(x, y)
    assert not list(tmp_path.glob("*.tmp*"))


def rewrite(path, out, header_edit=None, arrays_edit=None):
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    header = json.loads(str(arrays.pop("header")[()]))
    if header_edit:
        header_edit(header)
    if arrays_edit:
        arrays_edit(arrays)
    np.savez(out, header=np.array(json.dumps(header)), **arrays)
    return out


def _set(path, value):
    def edit(h):
        *parents, last = path
        d = h
        for p in parents:
            d = d[p]
        d[last] = value
    return edit


@pytest.mark.parametrize("edit, message", [
    (_set(["version"], 2), r"version: this augsnn reads version 1, not 2$"),
    (_set(["format"], "other"), r"format: must be 'augsnn-model', not 'other'$"),
    (_set(["method"], "magic"), r"method: must be one of \('aug', 'ter', 'datanorm'\), not 'magic'$"),
    (_set(["layers", 0, "theta_p"], 0), r"layers\[0\]\.theta_p: must be in \[1, None\], not 0$"),
    (_set(["layers", 0, "theta_n"], "x"), r"layers\[0\]\.theta_n: must be an integer, not 'x'$"),
    (_set(["layers", 0, "coef_bits"], 1), r"layers\[0\]\.coef_bits: must be in \[2, 16\], not 1$"),
    (_set(["layers", 0, "weight_bits"], 3), r"layers\[0\]\.weight: values \[-?\d+, \d+\] exceed weight_bits=3$"),
    (_set(["layers", 0, "shape"], [3, 1, 3, 2]), r"layers\[0\]\.shape: \[3, 1, 3, 2\] does not match"),
    (_set(["layers", 0, "weight"], "nope"), r"layers\[0\]\.weight: array 'nope' is not in the file$"),
    (_set(["layers", 1, "type"], "maxpool"), r"layers\[1\]\.type: must be one of"),
    (_set(["layers", 0, "v_init"], 1 << 40), r"layers\[0\]: v_init must lie in"),
    (_set(["input_shape"], [1, 9, 10]), r"layers: layers\[3\]: dense layer expects an input of shape \(48,\), not \(36,\)$"),
    (_set(["input_dtype"], "float32"), r"input_dtype: must be 'uint8', not 'float32'$"),
    (_set(["ann_accuracy"], 99.3), r"ann_accuracy: must be null or a fraction in \[0, 1\], not 99\.3$"),
    (lambda h: h["layers"][0].pop("pot_bits"), r"layers\[0\]\.pot_bits: missing$"),
])
def test_bad_header_fields(model, tmp_path, edit, message):
    path = rewrite(save(model, tmp_path / "m.npz"), tmp_path / "bad.npz", header_edit=edit)
    with pytest.raises(ModelFileError, match=r"bad\.npz: " + message):
        load(path)


def test_bad_arrays(model, tmp_path):
    good = save(model, tmp_path / "m.npz")
    extra = rewrite(good, tmp_path / "extra.npz",
                    arrays_edit=lambda a: a.__setitem__("junk", np.zeros(3)))
    with pytest.raises(ModelFileError, match=r"arrays: \['junk'\] are not referenced by any layer$"):
        load(extra)
    floats = rewrite(good, tmp_path / "floats.npz", arrays_edit=lambda a: a.__setitem__(
        "layers.0.weight", a["layers.0.weight"].astype(np.float32)))
    with pytest.raises(ModelFileError, match=r"layers\[0\]\.weight: layers\.0\.weight must hold integers, not float32$"):
        load(floats)


def test_truncated_corrupt_and_foreign_files(model, tmp_path):
    good = save(model, tmp_path / "m.npz").read_bytes()
    (tmp_path / "trunc.npz").write_bytes(good[: len(good) // 2])
    with pytest.raises(ModelFileError, match=r"trunc\.npz: not a readable \.npz model file"):
        load(tmp_path / "trunc.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ModelFileError, match=r"text\.npz: not a readable \.npz model file"):
        load(tmp_path / "text.npz")
    np.savez(tmp_path / "other.npz", x=np.zeros(2))
    with pytest.raises(ModelFileError, match=r"other\.npz: header: missing \(not an augsnn model file\)$"):
        load(tmp_path / "other.npz")
    np.savez(tmp_path / "json.npz", header=np.array("{not json"))
    with pytest.raises(ModelFileError, match=r"json\.npz: header: not valid JSON"):
        load(tmp_path / "json.npz")
    # a pickled object array is refused (allow_pickle=False)
    np.savez(tmp_path / "pickled.npz", header=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ModelFileError, match=r"pickled\.npz: not a readable \.npz model file"):
        load(tmp_path / "pickled.npz")


def test_unknown_name():
    with pytest.raises(FileNotFoundError, match=r"^'no-such' is neither a model file nor a zoo name"):
        load("no-such")


def test_model_format_doc_lists_every_header_field(model, tmp_path):
    """docs/model-format.md documents each field that save() writes."""
    from pathlib import Path
    doc = (Path(__file__).parents[1] / "docs" / "model-format.md").read_text()
    with np.load(save(model, tmp_path / "m.npz"), allow_pickle=False) as npz:
        header = json.loads(str(npz["header"][()]))
    fields = set(header) | set(header["layers"][0]) | set(header["layers"][1])
    missing = sorted(f for f in fields if f"`{f}`" not in doc)
    assert not missing, f"undocumented fields: {missing}"
