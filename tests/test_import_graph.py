"""The package-level import graph of polyroute: the layers that must not form a cycle, and the
router, which must know nothing of observability or the server.

Imports are read with `ast` from the source (not by importing), every one counted: at module
level, inside functions (a lazy import is still a dependency) and under TYPE_CHECKING (a type a
module names is a concept it depends on).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "polyroute"
LAYERS = (
    "observability",
    "server",
    "inbound",
    "router",
    "spend",
    "config",
    "auth",
    "protocol",
    "providers",
)


def _package_of(module: str) -> str | None:
    """`polyroute.router.engine` -> `router`; a top-level module is its own package."""
    parts = module.split(".")
    if parts[0] != "polyroute" or len(parts) < 2:
        return None
    return parts[1]


def _module_name(path: Path) -> str:
    relative = path.relative_to(SRC.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[str, int]]:
    """(imported module, line) for every import in the file, relative ones resolved."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.append((target, node.lineno))
            # `from polyroute import router` imports a package, not a name of polyroute/__init__
            if target == "polyroute":
                found += [(f"polyroute.{alias.name}", node.lineno) for alias in node.names]
    return found


def package_graph() -> dict[str, dict[str, list[str]]]:
    """package -> imported package -> the `file:line`s that make the edge."""
    graph: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for path in sorted(SRC.rglob("*.py")):
        source = _package_of(_module_name(path))
        for target, line in _imports(path):
            imported = _package_of(target)
            if source and imported and imported != source:
                graph[source][imported].append(f"{path.relative_to(SRC.parent)}:{line}")
    return graph


def find_cycle(graph: dict[str, dict[str, list[str]]], nodes: tuple[str, ...]) -> list[str] | None:
    """One cycle among `nodes` (as a path that ends where it starts), or None."""
    WHITE, GREY, BLACK = 0, 1, 2
    color = dict.fromkeys(nodes, WHITE)
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        color[node] = GREY
        stack.append(node)
        for target in sorted(graph.get(node, {})):
            if target not in color:
                continue
            if color[target] == GREY:
                return [*stack[stack.index(target) :], target]
            if color[target] == WHITE and (cycle := visit(target)):
                return cycle
        stack.pop()
        color[node] = BLACK
        return None

    for node in nodes:
        if color[node] == WHITE and (cycle := visit(node)):
            return cycle
    return None


def _describe(graph: dict[str, dict[str, list[str]]], cycle: list[str]) -> str:
    lines = [" -> ".join(cycle)]
    for source, target in zip(cycle, cycle[1:], strict=False):
        lines.append(f"  {source} -> {target}: {', '.join(graph[source][target][:5])}")
    return "\n".join(lines)


def test_the_layers_import_each_other_without_a_cycle():
    graph = package_graph()
    cycle = find_cycle(graph, LAYERS)
    assert cycle is None, "import cycle between polyroute's packages:\n" + _describe(graph, cycle or [])


def test_the_router_imports_neither_observability_nor_the_server():
    graph = package_graph()
    edges = {
        target: graph["router"][target] for target in ("observability", "server") if target in graph["router"]
    }
    assert not edges, f"router/ imports {sorted(edges)}: {edges}"


def test_the_model_worker_does_not_import_the_server():
    graph = package_graph()
    assert "server" not in graph["worker"], graph["worker"]["server"]


def test_the_request_record_and_usage_are_leaves():
    """The record every sink reads sits at the bottom of the graph: it imports no package but
    the errors, the usage leaf and (for the ASGI helper) the JSON depth check."""
    graph = package_graph()
    for leaf in ("record", "usage", "asgi"):
        assert set(graph[leaf]) <= {"errors", "protocol", "usage"}, (leaf, dict(graph[leaf]))


def test_the_cycle_finder_finds_a_cycle_and_names_its_imports():
    """The check above can fail: a made-up graph with a cycle is caught and described."""
    graph = {"a": {"b": ["a/x.py:3"]}, "b": {"c": ["b/y.py:7"]}, "c": {"a": ["c/z.py:9"]}}
    cycle = find_cycle(graph, ("a", "b", "c"))
    assert cycle == ["a", "b", "c", "a"]
    assert "b -> c: b/y.py:7" in _describe(graph, cycle)
    assert find_cycle({"a": {"b": ["a.py:1"]}}, ("a", "b")) is None
