"""The layout rules of the hardware half (docs/engines.md), checked on the source with ast.

* nothing outside the engine registry (hw/engine.py) branches on an engine's name;
* shared helpers are defined once (bit widths, checks, the answer size, the hex emitter,
  the result layout, the model digest, the neuron arithmetic, ``Model.stages``), and the
  frame receiver and result sender once, used by both engines;
* the plans of both engines have the same interface;
* no function in hw/ is longer than 200 lines (one screen or two per idea).
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("augsnn", "golden", "repro", "hw", "sim", "boards")


@functools.cache
def _parsed() -> tuple:
    return tuple((path, ast.parse(path.read_text(), filename=str(path)))
                 for pkg in PACKAGES for path in sorted((ROOT / pkg).rglob("*.py")))


def _sources():
    """Every source file of the packages with its syntax tree (parsed once per session)."""
    return _parsed()


def _name(node) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Call):
        return _name(node.func)
    if isinstance(node, ast.Subscript):
        return _name(node.value)
    return ""


def _engine_comparisons(tree) -> list[int]:
    """Lines comparing something named *engine* with a string (``engine == "compact"``)."""
    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Compare):
            continue
        sides = [node.left, *node.comparators]
        named = any("engine" in _name(s).lower() or
                    (isinstance(s, ast.Call) and any(isinstance(a, ast.Constant) and
                                                     a.value == "engine" for a in s.args))
                    for s in sides)
        literal = any(isinstance(s, ast.Constant) and isinstance(s.value, str) or
                      isinstance(s, ast.Tuple) and all(isinstance(e, ast.Constant) for e in s.elts)
                      for s in sides)
        if named and literal:
            lines.append(node.lineno)
    return lines


def test_no_engine_name_branches_outside_the_registry():
    found = {str(p.relative_to(ROOT)): ln for p, tree in _sources()
             if (ln := _engine_comparisons(tree)) and p != ROOT / "hw" / "engine.py"}
    assert not found, f"branches on an engine's name outside hw/engine.py: {found}"


def test_the_checker_finds_a_branch():
    tree = ast.parse('if board.engine == "compact":\n    pass\nx = r.get("engine") != "lanes"')
    assert _engine_comparisons(tree) == [1, 3]


@pytest.mark.parametrize("name", [
    "signed_bits", "unsigned_bits", "check_int", "check_bool", "answer_words", "result_layout",
    "pack_words", "hex_text", "write_files", "digest", "model_digest", "_model_digest",
    "_check_int", "_check_bool", "_bits", "_bits_signed", "_bits_for", "write_hex",
    "_hex_text", "compact_memories", "memories_of", "_lock",
])
def test_defined_at_most_once(name):
    where = [f"{p.relative_to(ROOT)}:{node.lineno}" for p, tree in _sources()
             for node in ast.walk(tree)
             if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name]
    assert len(where) <= 1, f"{name} is defined {len(where)} times: {where}"


@pytest.mark.parametrize("name, kind, where", [
    ("FrameReceiver", ast.ClassDef, "hw/frames.py"),
    ("ResultSender", ast.ClassDef, "hw/frames.py"),
    ("result_layout", ast.FunctionDef, "hw/frames.py"),
    ("answer_words", ast.FunctionDef, "hw/plan.py"),
    ("hex_text", ast.FunctionDef, "hw/emit.py"),
    ("signed_bits", ast.FunctionDef, "golden/checks.py"),
    ("unsigned_bits", ast.FunctionDef, "golden/checks.py"),
    ("check_int", ast.FunctionDef, "golden/checks.py"),
    ("check_bool", ast.FunctionDef, "golden/checks.py"),
    ("digest", ast.FunctionDef, "golden/model.py"),
    ("stages", ast.FunctionDef, "golden/model.py"),
    ("saturate", ast.FunctionDef, "hw/arith.py"),
    ("magnitude", ast.FunctionDef, "hw/arith.py"),
    ("division_step", ast.FunctionDef, "hw/arith.py"),
])
def test_defined_exactly_once(name, kind, where):
    # The neuron arithmetic once in the hardware; the proofs' reference model
    # (sim/formal_ref.py) states the rule again on purpose, independently of it.
    hw_only = where == "hw/arith.py"
    found = [str(p.relative_to(ROOT)) for p, tree in _sources() for node in ast.walk(tree)
             if isinstance(node, kind) and node.name == name
             and (not hw_only or p.is_relative_to(ROOT / "hw"))]
    assert found == [where], f"{name}: defined in {found}, expected once in {where}"


ENGINE_TOPS = ("hw/lanes/accelerator.py", "hw/compact/accelerator.py")


@pytest.mark.parametrize("path", ENGINE_TOPS)
def test_engines_take_frames_through_the_shared_units(path):
    """Each engine instantiates the frame receiver and the result sender and drives none of
    its ``i``/``o`` stream signals itself (the header and answer states are not written
    again)."""
    tree = ast.parse((ROOT / path).read_text())
    calls = {_name(node) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    assert {"FrameReceiver", "ResultSender"} <= calls, path
    driven = sorted({ast.unparse(node.func.value) for node in ast.walk(tree)
                     if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                     and node.func.attr == "eq"
                     and ast.unparse(node.func.value).startswith(("self.i.", "self.o."))})
    assert not driven, f"{path} drives {driven} itself"


def test_the_stream_check_finds_a_driver():
    tree = ast.parse("m.d.comb += self.o.valid.eq(1)")
    assert [ast.unparse(n.func.value) for n in ast.walk(tree) if isinstance(n, ast.Call)
            and isinstance(n.func, ast.Attribute) and n.func.attr == "eq"] == ["self.o.valid"]


def test_both_plans_have_one_interface():
    from augsnn.golden.modelfile import load
    from augsnn.hw.engine import engine_names, get_engine
    from augsnn.hw.plan import PlanError
    model = load("tiny-aug")
    members = ("describe", "memories", "memory_bits", "banks", "rom_images", "cycles",
               "critical", "lanes", "multipliers", "layers", "n_classes", "result_words")
    for name in engine_names():
        engine = get_engine(name)
        assert engine.name == name
        plan = engine.plan(model, **engine.select(lanes=2, padding=True))
        for member in members:
            assert hasattr(plan, member), (name, member)
        assert isinstance(plan.describe(), str) and plan.memories()
    with pytest.raises(ValueError, match=r"^unknown engine 'fast'; engines: lanes, compact$"):
        get_engine("fast")
    assert issubclass(PlanError, ValueError)


def test_hw_functions_fit_on_two_screens():
    long = [f"{p.relative_to(ROOT)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1})"
            for p, tree in _sources() if p.is_relative_to(ROOT / "hw")
            for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > 200]
    assert not long, f"functions longer than 200 lines in hw/: {long}"
