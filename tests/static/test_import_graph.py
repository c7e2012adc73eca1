"""The package's import graph: arrows only run down the layers, and no module imports itself back.

Layers, lowest first: models/errors/settings < formats/records < domain < adapters/ingestion/digestion/
hooks < services < api < local < cli/functions (and the client, which only the CLI and the package's
facade import).
Every import counts, function-local ones too (they hid a cycle once); imports under
``if TYPE_CHECKING:`` do not run and are left out.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parents[2]
PACKAGE_DIR = PROJECT_DIR / "layers" / "openlqs" / "openlqs"
FUNCTIONS_DIR = PROJECT_DIR / "functions"

#: Each layer may import its own and lower layers only. Names are the package's top-level modules.
LAYERS: list[set[str]] = [
    {"version", "errors", "models", "settings", "auth"},
    {"formats", "records", "queries"},
    {"domain"},
    {"adapters", "ingestion", "digestion", "hooks"},
    {"services", "bootstrap"},
    {"api"},
    {"local"},
    {"cli", "client", "openlqs", "functions"},
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def _module_name(path: Path) -> str:
    if path.is_relative_to(FUNCTIONS_DIR):
        return f"functions.{path.parent.name}"
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    paths = [*PACKAGE_DIR.rglob("*.py"), *FUNCTIONS_DIR.glob("*/app.py")]
    return {_module_name(path): path for path in paths}


def _type_checking_lines(tree: ast.AST) -> set[int]:
    """Lines inside ``if TYPE_CHECKING:`` blocks."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for inner in node.body:
                lines.update(range(inner.lineno, (inner.end_lineno or inner.lineno) + 1))
    return lines


def _imports(path: Path, modules: set[str]) -> Iterator[str]:
    """The package modules ``path`` imports (a ``from package import module`` names the module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = _type_checking_lines(tree)
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skipped:
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if alias.name in modules)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module in modules:
            submodules = [f"{node.module}.{alias.name}" for alias in node.names]
            found = [name for name in submodules if name in modules]
            yield from found or [node.module]


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    names = set(modules)
    return {name: set(_imports(path, names)) - {name} for name, path in modules.items()}


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[0] if parts[0] == "functions" else (parts[1] if len(parts) > 1 else "openlqs")


def test_import_graph_names_every_top_level_module_in_a_layer() -> None:
    unplaced = sorted({_layer(module) for module in _graph()} - RANK.keys())

    assert unplaced == [], f"put these modules in a layer of {__file__}: {unplaced}"


def test_import_graph_arrows_only_run_down_the_layers() -> None:
    upward = sorted(
        f"{module} -> {imported}"
        for module, imports in _graph().items()
        for imported in imports
        if RANK.get(_layer(imported), 0) > RANK.get(_layer(module), len(LAYERS))
    )

    assert upward == []


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_import_graph_has_no_cycles() -> None:
    assert _cycles(_graph()) == []


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": {"b"}, "b": {"a"}}, [["a", "b"]]),
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
    ],
)
def test_import_graph_cycle_finder_finds_a_cycle(
    graph: dict[str, set[str]], expected: list[list[str]]
) -> None:
    assert _cycles(graph) == expected


def test_import_graph_sees_function_local_imports(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from openlqs.api import app\n", encoding="utf-8")

    assert list(_imports(module, {"openlqs.api", "openlqs.api.app"})) == ["openlqs.api.app"]
