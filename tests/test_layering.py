"""The package's layering, read from the source with ``ast`` (nothing is imported).

- golden/ is the NumPy reference: no module but ``golden/ann.py`` (the torch front end)
  imports torch anywhere, and none imports matplotlib at module level (plots import it when
  they draw).
- Only the command modules (``*/commands.py``) import the command line ``augsnn.cli``.
- golden/, hw/, sim/ and boards/ do not import the experiments in repro/.
- No import cycle among the modules of golden/ (nor of repro/), lazy imports included.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# import name of each package folder (pyproject.toml's package-dir)
PACKAGES = {"golden": "augsnn.golden", "repro": "augsnn.repro", "hw": "augsnn.hw",
            "sim": "augsnn.sim", "boards": "augsnn.boards", "frontends": "augsnn.frontends",
            "scaleout": "augsnn.scaleout"}


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT)
    parts = [PACKAGES[rel.parts[0]], *rel.parts[1:-1]]
    if path.stem != "__init__":
        parts.append(path.stem)
    return ".".join(parts)


def _sources(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def _imports(path: Path) -> list[tuple[str, bool, int]]:
    """``(absolute module name, at module level, line)`` of every import in ``path``.

    ``from X import a, b`` yields ``X`` and ``X.a``, ``X.b`` (a name may be a submodule).
    Module level: not inside a function (imports under a top-level ``if``/``try`` count).
    """
    tree = ast.parse(path.read_text(), filename=str(path))
    name = _module_name(path)
    package = name if path.stem == "__init__" else name.rpartition(".")[0]
    out = []

    def visit(node, top: bool):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                visit(child, False)
                continue
            if isinstance(child, ast.Import):
                out.extend((a.name, top, child.lineno) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[:len(base) - (child.level - 1)]
                    mod = ".".join(base + ([child.module] if child.module else []))
                else:
                    mod = child.module
                out.append((mod, top, child.lineno))
                out.extend((f"{mod}.{a.name}", top, child.lineno) for a in child.names)
            visit(child, top)
    visit(tree, True)
    return out


def _is(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_import_reader_resolves_relative_and_lazy_imports(tmp_path, monkeypatch):
    """The reader the tests below rely on sees what Python would import."""
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    (tmp_path / "golden").mkdir()
    src = tmp_path / "golden" / "x.py"
    src.write_text("import numpy as np\nfrom . import model\nfrom .network import simulate\n"
                   "try:\n    import matplotlib\nexcept ImportError:\n    pass\n"
                   "def f():\n    import torch\n    from augsnn.cli import CLIError\n")
    got = _imports(src)
    assert ("numpy", True, 1) in got
    assert ("augsnn.golden.model", True, 2) in got
    assert ("augsnn.golden.network.simulate", True, 3) in got
    assert ("matplotlib", True, 5) in got
    assert ("torch", False, 9) in got and ("augsnn.cli.CLIError", False, 10) in got


def test_golden_imports_no_torch_outside_ann_and_no_matplotlib_at_module_level():
    """torch: ann.py, and intmm.py lazily (the optional int8 back end, docs/golden-model.md)."""
    bad = []
    for path in _sources("golden"):
        for mod, top, line in _imports(path):
            if _is(mod, "torch") and path.name != "ann.py" and \
                    not (path.name == "intmm.py" and not top):
                bad.append(f"{_rel(path)}:{line} imports {mod}")
            if _is(mod, "matplotlib") and top:
                bad.append(f"{_rel(path)}:{line} imports {mod} at module level")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("folder", ["golden", "repro", "hw", "sim", "boards", "frontends",
                                    "scaleout"])
def test_only_command_modules_import_the_cli(folder):
    bad = [f"{_rel(path)}:{line} imports {mod}"
           for path in _sources(folder) if path.name != "commands.py"
           for mod, _, line in _imports(path) if _is(mod, "augsnn.cli")]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("folder", ["golden", "hw", "sim", "boards", "frontends", "scaleout"])
def test_libraries_do_not_import_the_experiments(folder):
    bad = [f"{_rel(path)}:{line} imports {mod}" for path in _sources(folder)
           for mod, _, line in _imports(path) if _is(mod, "augsnn.repro")]
    assert not bad, "\n".join(bad)


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a list of nodes (first repeated at the end), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = 2
        stack.pop()
        return None
    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_front_ends_sit_on_golden():
    """frontends/ (docs/frontends.md) builds on golden/ and never on hw/sim/boards; golden/
    reaches it only lazily, from ``ann.py`` (a traced module) and ``commands.py`` (the
    ``.onnx``/``.nir`` branches of ``augsnn convert``)."""
    bad = [f"{_rel(path)}:{line} imports {mod}" for path in _sources("golden")
           for mod, top, line in _imports(path) if _is(mod, "augsnn.frontends")
           and (top or path.name not in ("ann.py", "commands.py"))]
    bad += [f"{_rel(path)}:{line} imports {mod}" for path in _sources("frontends")
            for mod, _, line in _imports(path)
            if any(_is(mod, f"augsnn.{p}") for p in ("hw", "sim", "boards", "repro"))]
    assert not bad, "\n".join(bad)


def test_only_scaleout_imports_ray_and_only_when_it_runs():
    bad = [f"{_rel(path)}:{line} imports {mod}{' at module level' if top else ''}"
           for folder in PACKAGES for path in _sources(folder)
           for mod, top, line in _imports(path)
           if _is(mod, "ray") and (folder != "scaleout" or top)]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("folder", ["golden", "repro", "frontends", "scaleout"])
def test_no_import_cycle(folder):
    paths = _sources(folder)
    modules = {_module_name(p): p for p in paths}
    graph = {}
    for name, path in modules.items():
        # importing a module imports its packages first: an edge to an enclosing package's
        # __init__ is no cycle of its own
        graph[name] = {mod for mod, _, _ in _imports(path)
                       if mod in modules and mod != name and not _is(name, mod)}
    assert len(graph) > 3
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))
