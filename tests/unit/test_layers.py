"""The HTTP-side packages import one way: ``asgi`` <- ``health`` <- ``observability``.

``asgi`` is the base (the app, routing, the endpoint base, responses); ``health``
builds its endpoints on it; ``observability`` builds on both. A module may import
from its own layer and the layers below, never from one above: not at the top of
the module, not late inside a function. The one exception is a package's
``__getattr__``, which re-exports a name from above lazily (``anystream.asgi``
re-exports ``make_ping_asgi`` from ``anystream.health``, where users import it
today). Imports under ``if TYPE_CHECKING:`` do not run and are not counted.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
LAYERS = ("asgi", "health", "observability")  # lowest first


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_imports(tree: ast.Module, module: str, is_package: bool) -> Iterator[str]:
    """Every module imported when the code runs, with each name imported from it."""

    def visit(node: ast.AST) -> Iterator[str]:
        if isinstance(node, ast.If) and _is_type_checking(node):
            yield from (name for child in node.orelse for name in visit(child))
            return
        if is_package and isinstance(node, ast.FunctionDef) and node.name == "__getattr__":
            return  # the lazy re-export of a name from above
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(node, module, is_package)
            yield source
            yield from (f"{source}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            yield from visit(child)

    yield from visit(tree)


def _layer(module: str) -> int | None:
    parts = module.split(".")
    if len(parts) > 1 and parts[0] == "anystream" and parts[1] in LAYERS:
        return LAYERS.index(parts[1])
    return None


def _upward_imports() -> list[str]:
    found = []
    for layer in LAYERS:
        for path in sorted((SRC / "anystream" / layer).rglob("*.py")):
            module = _module_name(path)
            own = _layer(module)
            assert own is not None
            tree = ast.parse(path.read_text(), str(path))
            for imported in _runtime_imports(tree, module, path.name == "__init__.py"):
                target = _layer(imported)
                if target is not None and target > own:
                    found.append(f"{module} imports {imported}")
    return sorted(set(found))


def test_no_module_imports_from_a_layer_above_its_own() -> None:
    assert _upward_imports() == []


def test_the_checker_sees_a_late_import_from_above() -> None:
    # What anystream.asgi.asyncapi once did to reach the asset helpers.
    source = "def page():\n    from ..observability._assets import offline_asyncapi_assets\n"
    tree = ast.parse(source)
    imported = list(_runtime_imports(tree, "anystream.asgi._asyncapi", is_package=False))
    assert "anystream.observability._assets" in imported


@pytest.mark.parametrize("package", ["anystream", "anystream.asgi", "anystream.health"])
def test_the_http_side_runs_without_loading_observability(package: str) -> None:
    # A fresh interpreter: what the import itself loads, nothing left by other tests.
    code = (
        f"import sys, {package}\n"
        "print([m for m in sys.modules if m.startswith('anystream.observability')])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"


def _package(module: str) -> str | None:
    """The top-level part of anystream a module belongs to (``broker``, ``_adapters``, ...)."""
    parts = module.split(".")
    if len(parts) < 2 or parts[0] != "anystream":
        return None
    return parts[1]


def _package_graph() -> dict[str, set[str]]:
    """Which of anystream's packages import which, counting late imports too."""
    graph: dict[str, set[str]] = {}
    for path in sorted((SRC / "anystream").rglob("*.py")):
        module = _module_name(path)
        own = _package(module)
        if own is None or own.endswith(".py") or not (SRC / "anystream" / own).is_dir():
            continue  # top-level modules are leaves or the package's re-exports
        tree = ast.parse(path.read_text(), str(path))
        for imported in _runtime_imports(tree, module, path.name == "__init__.py"):
            target = _package(imported)
            if target and target != own and (SRC / "anystream" / target).is_dir():
                graph.setdefault(own, set()).add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    """Pairs of packages that reach each other through the graph."""

    def reach(start: str) -> set[str]:
        seen: set[str] = set()
        todo = [start]
        while todo:
            for nxt in graph.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    reached = {package: reach(package) for package in graph}
    return sorted(
        (a, b) for a in reached for b in reached[a] if a < b and a in reached.get(b, set())
    )


def test_no_two_packages_import_each_other() -> None:
    assert _cycles(_package_graph()) == []


def test_the_runtime_layer_imports_nothing_of_anystream_but_its_exceptions() -> None:
    assert _package_graph().get("runtime", set()) == set()


def test_the_cycle_check_finds_a_cycle_through_a_third_package() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [("a", "b"), ("a", "c"), ("b", "c")]
    assert _cycles({"a": {"b"}, "b": {"c"}}) == []
