"""Hostile but ordinary inputs: one clear error line, exit 2, nothing lost (docs/reliability.md).

Every case of issue 14's list that the software half covers: the same path for input and
output, a model named ``../../../x``, a corrupted cached MNIST file, bit-flipped / deeply
nested / out-of-range model files, ``--batch-size 0``, ``--T 0``, a folder as ``-o``, a
missing serial port, empty and mismatched checkpoints, half-written outputs, and frame
slips on the serial link. Each runs through ``augsnn.cli.main`` and checks the exit status,
the one ``augsnn <cmd>: error:`` line and the absence of a traceback.
"""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from augsnn.cli import main
from augsnn.golden import atomic, datasets
from augsnn.golden.modelfile import ZOO_DIR, ModelFileError, load


def run_cli(argv, capsys):
    """``augsnn ARGV`` in-process: (exit status, standard error)."""
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


def assert_one_error(code, err, command, *fragments):
    assert code == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith(f"augsnn {command}: error: ")]
    assert len(lines) == 1, err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def rewrite(src, dst, edit):
    """Copy model file ``src`` to ``dst`` with its JSON header changed by ``edit(header)``."""
    with np.load(src, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    header = json.loads(str(arrays.pop("header")[()]))
    edit(header)
    np.savez(dst, header=np.array(json.dumps(header)), **arrays)
    return dst


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "m.npz"
    path.write_bytes((ZOO_DIR / "tiny-aug.npz").read_bytes())
    return path


# --- nothing lost: an output that is an input, or a folder --------------------------------

@pytest.mark.parametrize("argv, command", [
    (["verilog", "{m}", "-o", "{m}"], "verilog"),
    (["eval", "{m}", "--save-outputs", "{m}"], "eval"),
    (["eval", "{m}", "--json", "{m}"], "eval"),
    (["eval", "{m}", "--plot", "{m}"], "eval"),
    (["sim", "{m}", "--json", "{m}"], "sim"),
    (["board", "{m}", "--board", "ulx3s-85f", "--port", "/dev/null", "--json", "{m}"], "board"),
    (["convert", "{m}", "--method", "aug", "-o", "{m}"], "convert"),
    (["build", "{m}", "--board", "icebreaker", "--no-synth", "-o", "{m}"], "build"),
])
def test_output_equal_to_input_is_refused(model_file, argv, command, capsys):
    before = model_file.read_bytes()
    code, err = run_cli([a.format(m=model_file) for a in argv], capsys)
    if command == "build":
        assert_one_error(code, err, command, "is a file, not a build folder")
    else:
        assert_one_error(code, err, command, "is the input file", "would destroy the input")
    assert model_file.read_bytes() == before


def test_zoo_name_input_is_protected_too(tmp_path, capsys):
    """``eval net2-aug --json <the zoo file>`` is the same file: refused."""
    zoo = ZOO_DIR / "tiny-aug.npz"
    before = zoo.read_bytes()
    code, err = run_cli(["eval", "tiny-aug", "--json", zoo], capsys)
    assert_one_error(code, err, "eval", "is the input file")
    assert zoo.read_bytes() == before


@pytest.mark.parametrize("argv, command", [
    (["verilog", "{m}", "-o", "{d}"], "verilog"),
    (["eval", "{m}", "--json", "{d}"], "eval"),
    (["eval", "{m}", "--save-outputs", "{d}"], "eval"),
    (["sim", "{m}", "--save-outputs", "{d}"], "sim"),
    (["convert", "{m}", "--method", "aug", "-o", "{d}"], "convert"),
])
def test_folder_as_output_is_refused_and_nothing_written(model_file, tmp_path, argv, command,
                                                         capsys):
    folder = tmp_path / "out"
    folder.mkdir()
    before = sorted(os.listdir(tmp_path))
    code, err = run_cli([a.format(m=model_file, d=folder) for a in argv], capsys)
    assert_one_error(code, err, command, "is a folder")
    assert sorted(os.listdir(tmp_path)) == before      # no .hex, no temporary file
    assert not os.listdir(folder)


def test_missing_output_folder(model_file, tmp_path, capsys):
    code, err = run_cli(["eval", model_file, "--json", tmp_path / "no" / "r.json"], capsys)
    assert_one_error(code, err, "eval", "folder", "does not exist")


def test_verilog_failure_leaves_nothing(model_file, tmp_path, capsys):
    """A refused accelerator (memory budget) writes no .v and no .hex."""
    code, err = run_cli(["verilog", model_file, "--memory-budget-bits", "8",
                         "-o", tmp_path / "a.v"], capsys)
    assert_one_error(code, err, "verilog")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]


def test_verilog_writes_all_files_with_their_real_names(model_file, tmp_path, capsys):
    code = main(["verilog", str(model_file), "--lanes", "2", "-o", str(tmp_path / "a.v")])
    assert code == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["a.v", "a_weights0.hex", "m.npz"]
    assert "a_weights0.hex" in (tmp_path / "a.v").read_text()


# --- atomic writes ----------------------------------------------------------------------------

def test_staged_outputs_keep_the_old_file_on_failure(tmp_path, capsys):
    out = tmp_path / "r.json"
    out.write_text("old")

    class Args:
        json = str(out)

    args = Args()
    with pytest.raises(RuntimeError, match="half way"):
        with atomic.staged_outputs(args, ("json",)):
            Path(args.json).write_text("half")
            print(f"wrote {args.json}", file=sys.stderr)
            raise RuntimeError("half way")
    assert out.read_text() == "old" and args.json == str(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]
    assert capsys.readouterr().err == f"wrote {out}\n"   # the real name, not the temporary
    with atomic.staged_outputs(args, ("json",)):
        Path(args.json).write_text("new")
    assert out.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


def test_atomic_write_text_failure_keeps_old(tmp_path):
    out = tmp_path / "x.txt"
    out.write_text("old")
    with pytest.raises(TypeError):
        atomic.write_text(out, None)
    assert out.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["x.txt"]


@pytest.mark.mnist
def test_eval_outputs_written_under_their_names(model_file, tmp_path, capsys):
    rep, outs = tmp_path / "r.json", tmp_path / "o.npz"
    code = main(["eval", str(model_file), "--T", "4", "--images", "5", "--json", str(rep),
                 "--save-outputs", str(outs), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 0 and f"wrote {rep}" in err and f"wrote {outs}" in err
    assert json.loads(rep.read_text())["images"] == 5
    with np.load(outs) as npz:
        assert npz["counts"].shape == (5, 10)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz", "o.npz", "r.json"]


# --- names from a model file ----------------------------------------------------------------

@pytest.mark.parametrize("name, safe", [
    ("../../../x", "_x"), ("a/b", "a_b"), ("..", "model"), ("net\x1b[2J", "net_2J"),
    ("net2-aug", "net2-aug"), ("/etc/passwd", "_etc_passwd"), ("C:\\x", "C_x"),
])
def test_safe_component(name, safe):
    assert atomic.safe_component(name) == safe


def run_process(argv, cwd=None):
    """``augsnn ARGV`` as a user runs it: (exit status, standard error)."""
    r = subprocess.run([sys.executable, "-m", "augsnn", *map(str, argv)], capture_output=True,
                       text=True, timeout=300, cwd=cwd,
                       env=dict(os.environ, PYTHONPATH=str(Path(__file__).parents[1])))
    return r.returncode, r.stderr


@pytest.mark.mnist
def test_build_folder_from_a_hostile_model_name_stays_inside(model_file, tmp_path):
    hostile = rewrite(model_file, tmp_path / "h.npz", lambda h: h.update(name="../../../x"))
    work = tmp_path / "a" / "b" / "c"
    work.mkdir(parents=True)
    code, err = run_process(["build", hostile, "--board", "ulx3s-85f", "--no-synth",
                             "--cycle-images", "2"], cwd=work)
    assert code == 0, err
    assert sorted(os.listdir(work / "out" / "build")) == ["_x-ulx3s-85f"]
    assert (work / "out" / "build" / "_x-ulx3s-85f" / "report.json").is_file()
    assert sorted(os.listdir(tmp_path)) == ["a", "h.npz", "m.npz"]


@pytest.mark.parametrize("name", ["a\nb", "x\x1b[31m", "n" * 201, ""])
def test_model_names_with_control_characters_are_refused(model_file, tmp_path, name):
    bad = rewrite(model_file, tmp_path / "n.npz", lambda h: h.update(name=name))
    with pytest.raises(ModelFileError, match=r"n\.npz: name: must"):
        load(bad)


# --- model files: one validation for every command ----------------------------------------

@pytest.mark.parametrize("command", [["eval"], ["verilog", "-o", "{o}"], ["sim"],
                                     ["build", "--board", "icebreaker", "--no-synth"]])
def test_huge_threshold_is_refused_at_load_by_every_command(model_file, tmp_path, command):
    def edit(h):
        next(layer for layer in h["layers"] if "weight" in layer)["theta_p"] = 10 ** 30
    bad = rewrite(model_file, tmp_path / "big.npz", edit)
    argv = [command[0], bad] + [a.format(o=tmp_path / "x.v") for a in command[1:]]
    code, err = run_process(argv, cwd=tmp_path)
    assert_one_error(code, err, command[0], "big.npz: layers[", "].theta_p: must be <= ",
                     "not 1000000000000000000000000000000")
    assert sorted(os.listdir(tmp_path)) == ["big.npz", "m.npz"]


def test_bit_flipped_and_nested_files_give_one_line(model_file, tmp_path, capsys):
    data = bytearray(model_file.read_bytes())
    data[len(data) // 3] ^= 0x04
    flipped = tmp_path / "flip.npz"
    flipped.write_bytes(bytes(data))
    code, err = run_cli(["eval", flipped], capsys)
    assert_one_error(code, err, "eval", "flip.npz")
    deep = tmp_path / "deep.npz"
    np.savez(deep, header=np.array("[" * 50_000 + "]" * 50_000))
    code, err = run_cli(["verilog", deep, "-o", tmp_path / "x.v"], capsys)
    assert_one_error(code, err, "verilog", "deep.npz: header: nested 50000 deep")


@pytest.mark.parametrize("meta, message", [
    ({"T": "64"}, "meta.T: must be null or an integer in [1, 65535], not '64'"),
    ({"T": 0}, "meta.T: must be null or an integer in [1, 65535], not 0"),
    ({"dataset": "imagenet"}, "meta.dataset: must be null or one of"),
    ({"ann_accuracy": "high"}, "meta.ann_accuracy: must be null or a fraction"),
    ({"ann_test_correct": "zz"}, "meta.ann_test_correct: must be null or a hex string"),
])
def test_meta_fields_commands_read_are_validated(model_file, tmp_path, meta, message):
    bad = rewrite(model_file, tmp_path / "meta.npz", lambda h: h["meta"].update(meta))
    with pytest.raises(ModelFileError) as info:
        load(bad)
    assert message in str(info.value)


# --- CLI arguments --------------------------------------------------------------------------

@pytest.mark.parametrize("argv, command, message", [
    (["eval", "{m}", "--T", "0"], "eval", "--T must be >= 1, not 0"),
    (["eval", "{m}", "--batch-size", "0"], "eval", "--batch-size must be >= 1, not 0"),
    (["eval", "{m}", "--batch-size", "-5"], "eval", "--batch-size must be >= 1, not -5"),
    (["sim", "{m}", "--T", "0"], "sim", "--T must be between 1 and 65535, not 0"),
])
def test_bad_numbers_are_refused(model_file, argv, command, message, capsys):
    code, err = run_cli([a.format(m=model_file) for a in argv], capsys)
    assert_one_error(code, err, command, message)


@pytest.mark.mnist
def test_missing_serial_port(model_file, tmp_path, capsys):
    pytest.importorskip("serial")
    code, err = run_cli(["board", model_file, "--board", "ulx3s-85f", "--images", "1",
                         "--port", tmp_path / "no-such-tty"], capsys)
    assert_one_error(code, err, "board", "no-such-tty")


def test_empty_and_mismatched_checkpoints(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    from augsnn.golden import ann
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    code, err = run_cli(["convert", empty, "--method", "aug", "-o", tmp_path / "m.npz"], capsys)
    assert_one_error(code, err, "convert", "empty.pt: empty file, not a checkpoint")
    net = ann.build_net("4c5-p2-10", (1, 28, 28))
    wrong = tmp_path / "wrong.pt"
    torch.save({"format": "augsnn-ann", "arch": "8c5-p2-10", "input_shape": [1, 28, 28],
                "act": "leaky", "alpha": 0.125, "dropout": 0.0, "state_dict": net.state_dict(),
                "meta": {"dataset": "mnist"}}, wrong)
    code, err = run_cli(["convert", wrong, "--method", "aug", "-o", tmp_path / "m.npz"], capsys)
    assert_one_error(code, err, "convert", "wrong.pt: not a usable checkpoint", "size mismatch")
    keyless = tmp_path / "keyless.pt"
    torch.save({"format": "augsnn-ann"}, keyless)
    code, err = run_cli(["convert", keyless, "--method", "aug", "-o", tmp_path / "m.npz"],
                        capsys)
    assert_one_error(code, err, "convert", "keyless.pt: not a usable checkpoint (KeyError")
    assert not (tmp_path / "m.npz").exists()


def test_unexpected_failures_are_one_line_and_debug_shows_the_traceback(monkeypatch, capsys):
    from augsnn.golden import modelfile

    def broken(model):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(modelfile, "load", broken)
    code, err = run_cli(["eval", "tiny-aug"], capsys)
    assert_one_error(code, err, "eval", "ZeroDivisionError: boom", "rerun with --debug")
    code, err = run_cli(["eval", "tiny-aug", "--debug"], capsys)
    assert code == 2 and "Traceback" in err and "ZeroDivisionError: boom" in err


def test_no_traceback_in_a_real_process(model_file, tmp_path):
    """The installed entry point, as a user runs it: stderr holds one line."""
    for argv in (["verilog", model_file, "-o", model_file],
                 ["eval", model_file, "--batch-size", "0"]):
        code, err = run_process(argv)
        assert code == 2 and "Traceback" not in err, err
        assert err.count("error:") == 1


# --- the data cache -------------------------------------------------------------------------

def _fake_mnist(monkeypatch, tmp_path):
    rng = np.random.default_rng(0)
    contents = {}
    for split, n in (("train", 6), ("test", 4)):
        images, labels = datasets._IDX_NAMES[split]
        contents[images] = (bytes([0, 0, 8, 3]) + n.to_bytes(4, "big") + (28).to_bytes(4, "big")
                            * 2 + rng.integers(0, 256, n * 784, dtype=np.uint8).tobytes())
        contents[labels] = (bytes([0, 0, 8, 1]) + n.to_bytes(4, "big")
                            + rng.integers(0, 10, n, dtype=np.uint8).tobytes())
    monkeypatch.setenv("AUGSNN_DATA", str(tmp_path))
    monkeypatch.setattr(datasets, "MNIST_SHA256", {
        name: hashlib.sha256(data).hexdigest() for name, data in contents.items()})

    def source(names, workdir):
        source.calls += 1
        if source.offline:
            raise OSError("offline")
        for name in names:
            (workdir / name).write_bytes(contents[name])
        return {name: workdir / name for name in names}

    source.calls, source.offline = 0, False
    monkeypatch.setattr(datasets, "_MNIST_SOURCES", (source,))
    return contents, source


def test_corrupted_cache_file_is_fetched_again(monkeypatch, tmp_path, capsys):
    contents, source = _fake_mnist(monkeypatch, tmp_path)
    x, y = datasets.load_mnist("test")
    assert source.calls == 1
    path = tmp_path / "mnist" / "t10k-images-idx3-ubyte"
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF                          # same length, one pixel changed
    path.write_bytes(bytes(data))
    x2, y2 = datasets.load_mnist("test")
    assert source.calls == 2 and path.read_bytes() == contents[path.name]
    np.testing.assert_array_equal(x, x2)
    assert f"cached file {path} is corrupted" in capsys.readouterr().err
    datasets.load_mnist("test")                # unchanged file: no fetch, no re-hash needed
    assert source.calls == 2


def test_corrupted_cache_file_is_refused_when_offline(monkeypatch, tmp_path, capsys):
    contents, source = _fake_mnist(monkeypatch, tmp_path)
    datasets.load_mnist("test")
    path = tmp_path / "mnist" / "t10k-labels-idx1-ubyte"
    data = bytearray(path.read_bytes())
    data[-1] = (data[-1] + 1) % 10
    path.write_bytes(bytes(data))
    source.offline = True
    with pytest.raises(datasets.ChecksumError, match=rf"cached MNIST file {path} is corrupted"):
        datasets.load_mnist("test")
    code, err = run_cli(["eval", "tiny-aug", "--images", "2"], capsys)
    assert_one_error(code, err, "eval", f"cached MNIST file {path} is corrupted")


def test_unchanged_cache_files_are_not_hashed_again(monkeypatch, tmp_path):
    """Cheap: a settled file whose size and mtime are unchanged keeps its recorded digest;
    a rewrite (new mtime) is hashed again and caught even at the same length."""
    contents, source = _fake_mnist(monkeypatch, tmp_path)
    datasets.load_mnist("test")
    old = 1_000_000_000_000_000_000               # 2001: long settled
    for p in (tmp_path / "mnist").iterdir():
        os.utime(p, ns=(old, old))
    hashed = []
    real = datasets._sha256
    monkeypatch.setattr(datasets, "_sha256", lambda p: hashed.append(p.name) or real(p))
    datasets.load_mnist("test")                   # hashed once more (mtime changed) ...
    datasets.load_mnist("test")                   # ... then taken from the record
    assert sorted(hashed) == ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
    path = tmp_path / "mnist" / "t10k-images-idx3-ubyte"
    data = bytearray(path.read_bytes())
    data[200] ^= 1
    path.write_bytes(bytes(data))
    datasets.load_mnist("test")
    assert source.calls == 2 and path.read_bytes() == contents[path.name]


# --- the serial link: frame slips, every field checked, timeouts -----------------------------

class FakeBoard:
    """A pyserial stand-in answering like a board running ``model`` (golden answers, a fixed
    cycle count), with faults injected per image: ``twice`` (the answer sent twice),
    ``short`` (only 7 bytes, once), ``stray`` (one byte before the answer), ``dead`` (7
    bytes, every time), ``cycles0`` (the cycles word 0)."""

    instances = []

    def __init__(self, model, faults, cycles=5000):
        from augsnn.boards.protocol import answer_bytes
        self.model, self.faults, self.cycles = model, dict(faults), cycles
        self.buffer, self.images, self.done = bytearray(), 0, set()
        self.n = answer_bytes(model.n_classes, len(model.weighted))

    def __call__(self, port, baud, timeout):  # as serial.Serial(port, baud, timeout=...)
        self.timeout = timeout
        FakeBoard.instances.append(self)
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def write(self, request: bytes):
        from augsnn.boards.protocol import decode_image, expected_answers
        T, rule, raw = decode_image(request)
        pixels = np.frombuffer(raw, np.uint8)[None]
        ans = expected_answers(self.model, pixels, T, rule)[0]
        words = [ans["class"], *ans["counts"], *ans["events"], ans["steps"], self.cycles]
        fault = self.faults.get(self.images)
        if fault == "cycles0":
            words[-1] = 0
        frame = np.array([w & 0xFFFFFFFF for w in words], "<u4").tobytes()
        assert len(frame) == self.n
        if fault == "twice":
            frame += frame
        elif fault == "stray":
            frame = b"\x5a" + frame
        elif fault == "dead" or (fault == "short" and self.images not in self.done):
            self.done.add(self.images)
            frame = frame[:7]
            self.images -= 1           # the same image is asked again
        self.buffer += frame
        self.images += 1

    @property
    def in_waiting(self):
        return len(self.buffer)

    def read(self, n):
        out = bytes(self.buffer[:n])
        del self.buffer[:n]
        return out

    def reset_input_buffer(self):
        self.buffer.clear()


def run_board(model_file, tmp_path, monkeypatch, capsys, faults, images=4):
    serial = pytest.importorskip("serial")
    board = FakeBoard(load(model_file), faults)
    monkeypatch.setattr(serial, "Serial", board)
    report = tmp_path / "board.json"
    code = main(["board", str(model_file), "--board", "ulx3s-85f", "--port", "/dev/fake",
                 "--images", str(images), "--T", "8", "--timeout", "0.05",
                 "--json", str(report)])
    captured = capsys.readouterr()
    return code, captured.err, (json.loads(report.read_text()) if report.exists() else None)


@pytest.mark.mnist
def test_board_clean_link(model_file, tmp_path, monkeypatch, capsys):
    code, err, report = run_board(model_file, tmp_path, monkeypatch, capsys, {})
    assert code == 0, err
    assert report["mismatches"] == 0 and report["frame_slips"] == []


@pytest.mark.mnist
@pytest.mark.parametrize("fault, message", [
    ("twice", "frame slip: 56 byte(s) arrived after the previous answer (an answer sent twice "
              "or too long?); discarded before image 2"),
    ("short", "frame slip: image 1: the answer was 7 of 56 bytes within 0.05 s; asking again"),
    ("stray", "frame slip: image 1: 1 stray byte(s) before the answer; resynchronised on the "
              "frame start"),
])
def test_board_frame_slip_is_reported_once_and_resynchronised(model_file, tmp_path,
                                                              monkeypatch, capsys, fault,
                                                              message):
    code, err, report = run_board(model_file, tmp_path, monkeypatch, capsys, {1: fault})
    assert code == 1 and "Traceback" not in err
    assert err.count("frame slip") == 1 and message in err, err
    assert report["mismatches"] == 0, report["first_mismatches"]   # every answer still right
    assert len(report["frame_slips"]) == 1


@pytest.mark.mnist
def test_board_checks_the_cycles_word(model_file, tmp_path, monkeypatch, capsys):
    code, err, report = run_board(model_file, tmp_path, monkeypatch, capsys, {2: "cycles0"})
    assert code == 1
    assert report["mismatches"] == 1
    assert report["first_mismatches"][0]["fields"] == []
    assert report["first_mismatches"][0]["checks"] == ["cycles 0 is not in [steps=8, 2**31)"]
    assert "MISMATCH check: cycles 0 is not in [steps=8, 2**31)" in err


@pytest.mark.mnist
def test_board_that_stops_answering_times_out_clearly(model_file, tmp_path, monkeypatch,
                                                      capsys):
    code, err, report = run_board(model_file, tmp_path, monkeypatch, capsys, {1: "dead"})
    assert_one_error(code, err, "board", "image 1: the board answered 7 of 56 bytes within "
                                         "0.05 s, twice (wrong port, baud or model?)")
    assert report is None                                          # no half-written report


def test_answer_problems_catch_a_misaligned_frame():
    from augsnn.boards.protocol import answer_limits, answer_problems, decode_answer
    model = load("tiny-aug")
    limits = answer_limits(model, 16)
    words = [3] + [0, 0, 0, 9, 0, 0, 0, 0, 0, 0] + [12, 16, 1234]
    good = np.array(words, "<u4").tobytes()
    n_layers = len(model.weighted)
    assert answer_problems(decode_answer(good, 10, n_layers), limits) == []
    shifted = decode_answer(b"\x00" + good[:-1], 10, n_layers)
    assert answer_problems(shifted, limits)
    lost = decode_answer(good[1:] + b"\x00", 10, n_layers)
    assert answer_problems(lost, limits)


def test_reliability_doc_names_only_tests_that_exist():
    """docs/reliability.md: every test its table names is defined (the table stays true)."""
    import re
    root = Path(__file__).parents[1]
    doc = (root / "docs" / "reliability.md").read_text()
    named = set(re.findall(r"`(?:fuzz )?(test_\w+)", doc))
    defined = set()
    for f in ("test_reliability.py", "test_fuzz_modelfile.py"):
        defined |= set(re.findall(r"^def (test_\w+)", (root / "tests" / f).read_text(), re.M))
    assert len(named) > 25 and not named - defined, sorted(named - defined)


def test_a_babbling_line_is_an_error_not_a_hang():
    from augsnn.boards.protocol import AnswerReader, AnswerTimeout, answer_limits

    class Babbling:
        in_waiting = 100

        def read(self, n):
            return b"\x55" * n

        def write(self, data):
            pass

    reader = AnswerReader(Babbling(), answer_limits(load("tiny-aug"), 8), 1, timeout=0.2)
    with pytest.raises(AnswerTimeout, match=r"the line did not go quiet within 0\.2 s"):
        reader.exchange(b"\x08\x00", "image 0")
