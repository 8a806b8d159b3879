"""Data flows one way through avec: the graph of its modules' imports has no cycle.

The graph is read from the source with :mod:`ast`, so an import hidden inside a function (the
usual way to dodge a cycle at import time) still counts: it is a dependency all the same.
Imports under ``if TYPE_CHECKING:`` never run and are left out.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import avec

PACKAGE = Path(avec.__file__).parent


def module_names() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its ``__init__``)."""
    names = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imported(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """The dotted names ``module`` imports anywhere in its body, functions included."""
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    skip = {
        id(child)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and is_type_checking(node)
        for statement in node.body
        for child in ast.walk(statement)
    }
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def edges(module: str, targets: set[str], modules: set[str]) -> set[str]:
    """The avec modules that importing ``targets`` runs, seen from ``module``.

    Importing ``avec.a.b`` also runs the package ``avec.a`` first, unless ``module`` sits inside
    it (then it is already running). The root ``avec`` is left out: it is the public facade that
    re-exports from the modules, run once before any of them, not a step in the flow.
    """
    own = {".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 1)}
    runs = set()
    for target in targets & modules:
        parts = target.split(".")
        runs.update(".".join(parts[:i]) for i in range(2, len(parts) + 1))
    return (runs & modules) - own - {"avec", module}


def import_graph() -> dict[str, set[str]]:
    """``{module: the avec modules it imports}`` for every module of the package."""
    names = module_names()
    graph = {}
    for module, path in names.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        targets = imported(tree, module, path.name == "__init__.py")
        graph[module] = edges(module, targets, set(names))
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Cycles of ``graph``, one per edge it takes to break them all (empty when acyclic)."""
    graph = {node: set(targets) for node, targets in graph.items()}
    found = []
    while True:
        try:
            graphlib.TopologicalSorter(graph).prepare()
        except graphlib.CycleError as error:
            cycle = error.args[1]
            found.append(cycle[::-1])
            graph[cycle[-1]].discard(cycle[-2])
        else:
            return found


def test_the_graph_sees_imports_inside_functions_and_packages_run_on_import():
    tree = ast.parse(
        "from avec.engine.state import State\n"
        "def f():\n    from avec import families\n"
        "if TYPE_CHECKING:\n    from avec import report\n"
    )
    targets = imported(tree, "avec.x", is_package=False)
    modules = {"avec", "avec.engine", "avec.engine.state", "avec.families", "avec.report"}
    assert edges("avec.x", targets, modules) == {
        "avec.engine",
        "avec.engine.state",
        "avec.families",
    }
    assert edges("avec.engine.step", targets, modules) == {"avec.engine.state", "avec.families"}


def test_every_cycle_is_found_and_named_in_import_order():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"e"}, "e": {"d", "f"}, "f": set()}
    found = cycles(graph)
    assert {frozenset(cycle) for cycle in found} == {frozenset("abc"), frozenset("de")}
    for cycle in found:
        assert cycle[0] == cycle[-1]
        assert all(b in graph[a] for a, b in zip(cycle, cycle[1:], strict=False))
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_import_graph_of_avec_has_no_cycle():
    graph = import_graph()
    assert {"avec.families", "avec.engine.state", "avec.envs"} <= set(graph)
    found = cycles(graph)
    assert not found, "import cycles in avec:\n" + "\n".join(" -> ".join(c) for c in found)
