"""The package's layers, in one place, and the test that keeps imports pointing down.

A module may import from its own layer and the layers below it, never from a layer above; and no two modules may
import each other, directly or through others (imports inside functions count: a lazy import is still a
dependency). CONTRIBUTING.md explains the order.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "mmedrag"

# Bottom to top. Names are the first component under mmedrag (a sub-package or a top-level module);
# "__init__" is the public API re-exported by mmedrag/__init__.py.
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"errors", "_optional", "registry", "backends", "types", "domains", "anatomy", "progress", "config"}),
    frozenset({"io"}),
    frozenset({"quality", "calibration", "encoders", "stores", "datasets"}),
    frozenset({"retrieval", "routing", "generation", "kg"}),
    frozenset({"pipeline", "indexing", "indexing_milvus", "indexing_merge", "ingest", "factory"}),
    frozenset({"evaluation"}),
    frozenset({"training"}),
    frozenset({"apps", "cli", "serve", "envinfo", "__init__", "__main__"}),
)


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in PACKAGE.rglob("*.py")}


def _imports(path: Path, modules: dict[str, Path]) -> Iterator[str]:
    """Every mmedrag module ``path`` imports, at module level or inside functions."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "mmedrag":
            yield node.module
            for alias in node.names:
                if f"{node.module}.{alias.name}" in modules:
                    yield f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if alias.name.split(".")[0] == "mmedrag")


def _component(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _layer(module: str) -> int:
    component = _component(module)
    for number, layer in enumerate(LAYERS):
        if component in layer:
            return number
    raise AssertionError(f"{module}: {component!r} is in no layer; add it to LAYERS in {Path(__file__).name}")


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {
        name: {dep for dep in _imports(path, modules) if dep in modules and dep != name}
        for name, path in modules.items()
    }


def test_every_module_belongs_to_a_layer() -> None:
    modules = _modules()
    assert len(modules) > 100 and all(0 <= _layer(module) < len(LAYERS) for module in modules)


def _upward(graph: dict[str, set[str]]) -> list[str]:
    return [
        f"{module} (layer {_layer(module)}) imports {dep} (layer {_layer(dep)})"
        for module, deps in sorted(graph.items())
        for dep in sorted(deps)
        if _layer(dep) > _layer(module)
    ]


def test_no_module_imports_a_higher_layer() -> None:
    assert _upward(_graph()) == []


def test_an_upward_import_is_caught() -> None:
    graph = {"mmedrag.io.images": {"mmedrag.pipeline", "mmedrag.errors"}, "mmedrag.cli.ask": {"mmedrag.pipeline"}}
    assert _upward(graph) == ["mmedrag.io.images (layer 1) imports mmedrag.pipeline (layer 4)"]


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), i.e. import loops."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for dep in graph.get(node, ()):
            if dep not in index:
                visit(dep)
                low[node] = min(low[node], low[dep])
            elif dep in stack:
                low[node] = min(low[node], index[dep])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_loops() -> None:
    assert _cycles(_graph()) == []


@pytest.mark.parametrize(
    ("graph", "loops"),
    [({"a": {"b"}, "b": {"a"}}, [["a", "b"]]), ({"a": {"b"}, "b": {"c"}, "c": set()}, [])],
)
def test_the_loop_finder_finds_loops(graph: dict[str, set[str]], loops: list[list[str]]) -> None:
    assert _cycles(graph) == loops


def _defines(path: Path, name: str) -> bool:
    """True when ``name`` (``Class`` or ``Class.member``) is defined at the top of the module ``path``."""
    head, _, member = name.partition(".")
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)) and node.name == head:
            if not member or isinstance(node, ast.FunctionDef):
                return not member
            return any(getattr(item, "name", None) == member for item in node.body)
        targets = (
            node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        )
        if not member and any(isinstance(t, ast.Name) and t.id == head for t in targets):
            return True
    return False


def _backend_targets() -> list[tuple[str, str, str]]:
    """(role, module, attribute) of every entry ``mmedrag.backends`` registers by import path."""
    from mmedrag.backends import ROLES

    found = []
    for role, registry in ROLES.items():
        for kind in registry.names():
            target = registry.entry(kind).target
            if isinstance(target, str) and target.startswith("mmedrag."):
                module, _, attribute = target.partition(":")
                found.append((f"{role} {kind!r}", module, attribute))
    return found


def test_every_backend_string_target_exists_below_the_applications() -> None:
    """backends.py names its kinds by string (no import): a renamed class or moved module must fail here, not when
    a user first asks for that kind; and a registry never points up into the applications layer."""
    modules = _modules()
    targets = _backend_targets()
    assert len(targets) > 20
    problems = [
        f"{where}: {module}:{attribute} " + ("does not exist" if module not in modules else "is not defined there")
        for where, module, attribute in targets
        if module not in modules or not _defines(modules[module], attribute)
    ]
    applications = len(LAYERS) - 1
    problems += [
        f"{where}: {module} is in the applications layer"
        for where, module, _ in targets
        if module in modules and _layer(module) >= applications
    ]
    assert problems == []


def test_a_missing_backend_target_is_caught() -> None:
    modules = _modules()
    assert _defines(modules["mmedrag.stores.index"], "FolderIndex")
    assert _defines(modules["mmedrag.stores.index"], "FolderIndex.load")
    assert not _defines(modules["mmedrag.stores.index"], "FolderIndex.nope")
    assert not _defines(modules["mmedrag.stores.index"], "KnowledgeIndex")
