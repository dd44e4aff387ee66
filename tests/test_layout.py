"""The package's layout: no module imports in a circle, in Python or in Rust.

Python: module-level imports between ``orbiter.*`` modules (imports inside functions and
under ``TYPE_CHECKING`` do not run at import time and are not edges). Rust: ``use crate::…``
and ``use super::…`` between the files of ``rust/`` (a ``mod.rs`` re-exporting its children
is the module itself, so edges from a ``mod.rs`` into its own folder are not counted).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYTHON = ROOT / "python"
RUST = ROOT / "rust"


def find_cycle(graph: Mapping[str, Iterable[str]]) -> list[str] | None:
    """One cycle of *graph* as a path ``[a, b, …, a]``, or ``None``."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in graph.get(node, ()):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)) is not None:
            return found
    return None


def test_find_cycle() -> None:
    assert find_cycle({"a": ["b"], "b": ["c"], "c": []}) is None
    assert find_cycle({"a": ["b"], "b": ["c"], "c": ["a"]}) == ["a", "b", "c", "a"]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PYTHON).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _top_level_imports(tree: ast.Module, module: str, is_package: bool) -> set[str]:
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{a.name}" for a in node.names)
    return found


def python_graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in (PYTHON / "orbiter").rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        imports = _top_level_imports(
            ast.parse(path.read_text(encoding="utf-8")), module, path.name == "__init__.py"
        )
        # importing a.b.c runs a and a.b first: a package's __init__ importing its own
        # submodules is how packages expose them, not a circle
        graph[module] = {
            m for m in imports if m in files and m != module and not m.startswith(f"{module}.")
        }
    return graph


def test_python_modules_import_in_one_direction() -> None:
    graph = python_graph()
    assert "orbiter.train.trainer" in graph
    assert find_cycle(graph) is None, find_cycle(graph)


def test_the_root_error_does_not_import_the_trainer() -> None:
    graph = python_graph()
    assert graph["orbiter.train.errors"] == set()
    assert "orbiter.train.errors" in graph["orbiter.train.trainer"]


def _rust_module(path: Path) -> str:
    parts = list(path.relative_to(RUST).with_suffix("").parts)
    if parts[-1] in ("mod", "lib"):
        parts.pop()
    return "::".join(["crate", *parts])


USE = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?use\s+((?:crate|super)(?:::\w+)*)", re.M)


def rust_graph() -> dict[str, set[str]]:
    files = {_rust_module(p): p for p in RUST.rglob("*.rs")}
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        text = path.read_text(encoding="utf-8")
        text = text.split("#[cfg(test)]", 1)[0]  # unit tests may use anything
        own = module.split("::")
        edges: set[str] = set()
        for target in USE.findall(text):
            parts = target.split("::")
            if parts[0] == "super":
                base = own[:-1]  # `super` of crate::a::b is crate::a, for b.rs and b/mod.rs
                parts = parts[1:]
                while parts and parts[0] == "super":
                    base, parts = base[:-1], parts[1:]
                parts = [*base, *parts]
            # the longest prefix that is a module file
            for k in range(len(parts), 0, -1):
                name = "::".join(parts[:k])
                if name in files:
                    if name != module and not name.startswith(f"{module}::"):
                        edges.add(name)
                    break
        graph[module] = edges
    return graph


def test_rust_modules_import_in_one_direction() -> None:
    graph = rust_graph()
    if not graph:
        pytest.skip("no rust/ sources next to the tests (an installed wheel)")
    assert "crate::reward::math::extract" in graph
    assert find_cycle(graph) is None, find_cycle(graph)
