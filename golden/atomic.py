"""Output files that lose nothing: refuse dangerous output paths, write atomically.

Layer: ``golden`` (the base layer; ``hw``, ``sim``, ``boards`` and the CLI import it). Standard
library only.

Every file a command writes goes through here (docs/reliability.md):

- :func:`check_output` refuses an output path that is a folder, whose folder does not exist,
  or that is one of the command's input files (``augsnn verilog m.npz -o m.npz`` would
  otherwise destroy the model).
- :func:`atomic_path` yields a temporary name in the output's folder (same file-name ending,
  so ``np.savez`` and ``matplotlib`` keep the format) and renames it over the output only when
  the block succeeds: a failure or an interrupt leaves the old file (or no file), never a
  half-written one.
- :func:`staged_outputs` does both for a CLI handler that writes ``args.<dest>`` directly: the
  handler writes to temporary names (its messages still show the real names) and every output
  is renamed into place when it returns.
- :func:`safe_component` turns a name from a model file into one safe path component.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import sys
from pathlib import Path

__all__ = ["OutputPathError", "check_output", "check_outputs", "same_file", "atomic_path",
           "write_text", "write_bytes", "staged_outputs", "safe_component", "TMP_MARK"]

#: Part of every temporary name (``.augsnn-tmp-<token>-<name>``), so leftovers are recognisable.
TMP_MARK = ".augsnn-tmp-"


class OutputPathError(ValueError):
    """An output path would destroy an input, is a folder, or its folder does not exist."""


def same_file(a, b) -> bool:
    """Whether paths ``a`` and ``b`` name the same file (links and ``..`` resolved)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def check_output(path, *, inputs=(), option: str = "output") -> Path:
    """Refuse ``path`` as an output file; return it as a :class:`Path`.

    Raises
    ------
    OutputPathError
        ``path`` is empty, a folder, in a folder that does not exist, or the same file as
        one of ``inputs`` (paths); the message names ``option`` and the path.
    """
    text = os.fspath(path)
    if not text:
        raise OutputPathError(f"{option}: the output path is empty")
    p = Path(text)
    if p.is_dir():
        raise OutputPathError(f"{option} {text}: is a folder; give a file name")
    parent = p.parent
    if not parent.is_dir():
        raise OutputPathError(f"{option} {text}: folder {parent} does not exist")
    for inp in inputs:
        if inp is not None and same_file(p, inp):
            raise OutputPathError(f"{option} {text}: is the input file {os.fspath(inp)}; writing "
                                  f"it would destroy the input (choose another output name)")
    return p


def check_outputs(outputs: dict, inputs=()) -> dict:
    """:func:`check_output` for every ``{option: path}`` (``None`` skipped), and no two equal."""
    seen: list[tuple[str, Path]] = []
    for option, path in outputs.items():
        if path is None:
            continue
        p = check_output(path, inputs=inputs, option=option)
        for other, q in seen:
            if same_file(p, q):
                raise OutputPathError(f"{option} and {other} are the same file {os.fspath(path)}")
        seen.append((option, p))
    return dict(seen)


def _tmp_name(path: Path) -> Path:
    # Ends with the real name, so the file-name ending (.npz, .png, ...) is kept.
    return path.with_name(f"{TMP_MARK}{secrets.token_hex(4)}-{path.name}")


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; rename it over ``path`` if the block succeeds.

    The block writes the temporary path (it may also leave it unwritten: then ``path`` is not
    touched). On an exception the temporary file is removed and ``path`` keeps what it held.
    """
    path = Path(path)
    tmp = _tmp_name(path)
    try:
        yield tmp
        if tmp.exists():
            os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def write_text(path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically; return the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_bytes(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; return the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


class _Renaming:
    """A text stream that shows the real output names instead of the temporary ones."""

    def __init__(self, stream, names: dict[str, str]):
        self._stream, self._names = stream, names

    def write(self, text):
        for tmp, real in self._names.items():
            text = text.replace(tmp, real)
        return self._stream.write(text)

    def __getattr__(self, name):
        return getattr(self._stream, name)


@contextlib.contextmanager
def staged_outputs(args, outputs=(), inputs=()):
    """Check and stage the output options ``outputs`` (attribute names of ``args``).

    Each output given (not ``None`` or ``-``) is checked with :func:`check_outputs` against
    the input files ``inputs`` (paths), then replaced in ``args`` by a temporary name beside
    it for the duration of the block; standard output and error show the real names. When
    the block returns, every temporary file written is renamed over its output; when it
    raises, they are removed and the outputs keep what they held.
    """
    given = {dest: getattr(args, dest) for dest in outputs
             if getattr(args, dest, None) not in (None, "-")}
    check_outputs({"--" + d.replace("_", "-"): v for d, v in given.items()}, inputs)
    tmps = {dest: _tmp_name(Path(v)) for dest, v in given.items()}
    names = {str(tmps[d]): str(v) for d, v in given.items()}
    old = sys.stdout, sys.stderr
    try:
        for dest, tmp in tmps.items():
            setattr(args, dest, str(tmp))
        if names:  # only while there is a name to show: nothing else sees these wrappers
            sys.stdout, sys.stderr = _Renaming(old[0], names), _Renaming(old[1], names)
        yield
        for dest, tmp in tmps.items():
            if tmp.exists():
                os.replace(tmp, given[dest])
            elif _npz(tmp).exists():  # np.savez appended ".npz" to a name without it
                os.replace(_npz(tmp), _npz(Path(given[dest])))
    finally:
        sys.stdout, sys.stderr = old
        for dest, tmp in tmps.items():
            setattr(args, dest, given[dest])
            for leftover in (tmp, _npz(tmp)):
                with contextlib.suppress(OSError):
                    leftover.unlink()


def _npz(path: Path) -> Path:
    return path.with_name(path.name + ".npz")


_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


def safe_component(name: str, *, fallback: str = "model", max_len: int = 64) -> str:
    """One path component made from ``name``: no separator, no ``..``, no control character.

    ``..`` and runs of anything but letters, digits, ``.``, ``_``, ``+`` and ``-`` become one
    ``_``; leading dots are dropped (no hidden names); an empty result is ``fallback``.
    """
    text = re.sub(r"_+", "_", _UNSAFE.sub("_", re.sub(r"\.{2,}", "_", str(name))))
    text = text.lstrip(".")[:max_len].rstrip(".")
    return text if text.strip("_") else fallback
