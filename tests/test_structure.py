"""The layout rules of the hardware half (docs/engines.md), checked on the source with ast.

* nothing outside the engine registry (hw/engine.py) branches on an engine's name;
* shared helpers are defined once (bit widths, checks, the answer size, the hex emitter,
  the result layout, the model digest);
* the plans of both engines have the same interface;
* no function in hw/ is longer than 200 lines (one screen or two per idea).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("augsnn", "golden", "repro", "hw", "sim", "boards")


def _sources():
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            yield path, ast.parse(path.read_text(), filename=str(path))


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
