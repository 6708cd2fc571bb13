"""The layout is the architecture: no import cycles among keyworker's modules, and the
development-only code (the local stack, the demo, the command line, the template loader)
stays out of what the Lambda functions import."""

from __future__ import annotations

import ast
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "build_artifacts", Path(__file__).resolve().parents[2] / "infra" / "build_artifacts.py"
)
assert _spec is not None
assert _spec.loader is not None
ba = importlib.util.module_from_spec(_spec)
sys.modules["build_artifacts"] = ba
_spec.loader.exec_module(ba)

PACKAGE = Path(__file__).resolve().parents[2] / "lambda" / "keyworker"
# Development only: left out of the Lambda layer (infra/build_artifacts.py says which), so
# never imported by what ships.
DEVELOPMENT = tuple(
    path.removesuffix("/").removesuffix(".py").replace("/", ".") for path in ba.DEVELOPMENT_ONLY
)
HANDLERS = (
    "keyworker.handlers.api",
    "keyworker.handlers.worker",
    "keyworker.handlers.events",
    "keyworker.handlers.expiry",
    "keyworker.handlers.webhooks",
)


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(name: str, path: Path, known: set[str]) -> Iterator[str]:
    """Every keyworker module ``name`` imports, anywhere in it (type-checking and
    function-level imports included: a cycle through them is still a cycle of design)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text())):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        for target in targets:
            found = target
            while found and found not in known:
                found = found.rpartition(".")[0]
            if found and found != name:
                yield found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: set(_imports(name, path, known)) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _is_package_edge(a: str, b: str) -> bool:
    # A package's __init__ re-exporting its own modules is not a cycle of design.
    return b.startswith(a + ".") or a.startswith(b + ".")


def test_no_import_cycles() -> None:
    graph = _graph()
    graph = {a: {b for b in bs if not _is_package_edge(a, b)} for a, bs in graph.items()}
    assert _cycles(graph) == []


def _reachable(start: str, graph: dict[str, set[str]]) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(graph.get(name, ()))
        # Importing a module runs its package's __init__ first.
        parent = name.rpartition(".")[0]
        if parent:
            todo.append(parent)
    return seen


def test_handlers_never_reach_development_code() -> None:
    graph = _graph()
    for handler in HANDLERS:
        reached = _reachable(handler, graph)
        assert not [m for m in reached if m.startswith(DEVELOPMENT)], handler
