"""The layers hold: no import cycle, and none of the imports that should never exist.

Every import of every module under ``src/volstore`` counts: at module level,
inside functions, and under ``TYPE_CHECKING`` (see docs/architecture.md).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "volstore"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_package(name: str) -> bool:
    return (SRC / name.replace(".", "/") / "__init__.py").exists()


def imports_of(path: Path) -> Iterator[str]:
    """Every volstore module ``path`` imports, wherever the import statement is."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "volstore":
                    yield alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target.split(".")[0] != "volstore":
                continue
            for alias in node.names:
                # ``from .pkg import submodule`` imports the submodule, and runs the
                # package's __init__ first: an edge to each.
                candidate = f"{target}.{alias.name}"
                if (SRC / (candidate.replace(".", "/") + ".py")).exists() or is_package(candidate):
                    yield candidate
                yield target


def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        edges[module_name(path)] = {t for t in imports_of(path) if t != module_name(path)}
    return edges


GRAPH = graph()


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                return [*stack[stack.index(target) :], target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_import_graph_is_read_whole() -> None:
    # The reader sees imports in functions and under TYPE_CHECKING, and relative ones.
    assert "volstore._engine" in GRAPH["volstore._tracker"]
    assert "volstore._tracker" in GRAPH["volstore._direct"]
    assert "volstore._session" in GRAPH["volstore._store"]
    assert len(GRAPH) > 30


def test_there_is_no_import_cycle() -> None:
    # Packages import their submodules to re-export them; a submodule importing
    # its own package's __init__ would be the cycle, so those edges stay in.
    assert find_cycle(GRAPH) is None, " -> ".join(find_cycle(GRAPH) or [])


def importers_of(targets: set[str]) -> set[str]:
    return {module for module, imported in GRAPH.items() if imported & targets}


FACADE_USERS = {
    "volstore",
    "volstore._store",
    "volstore.aio",  # the async facades, over the blocking ones
    "volstore.modal",
    "volstore.s3",
    "volstore.testing",
}


def _allowed(module: str, allowed: set[str]) -> bool:
    return module in allowed or any(module.startswith(a + ".") for a in allowed if a != "volstore")


def test_nothing_below_the_facades_imports_them() -> None:
    users = importers_of({"volstore._session", "volstore._store"})
    allowed = {*FACADE_USERS, "volstore.cli"}
    assert sorted(m for m in users if not _allowed(m, allowed)) == []


def test_nothing_but_modal_and_the_testing_kit_builds_on_the_async_facades() -> None:
    users = importers_of({m for m in GRAPH if m.startswith("volstore.aio")})
    below = {m for m in users if m.startswith("volstore.aio")}
    assert sorted(users - below) == sorted(
        m for m in users - below if _allowed(m, {"volstore.modal", "volstore.testing"})
    )


def test_the_tracker_knows_no_repository_or_query() -> None:
    forbidden = {
        "volstore._repository",
        "volstore._events",
        "volstore._retention",
        "volstore._query",
        "volstore._index",
        "volstore._plan",
        "volstore._reindex",
        "volstore._conditions",
        "volstore._fields",
        "volstore._order",
    }
    assert GRAPH["volstore._tracker"] & forbidden == set()


CONCRETE_BACKENDS = {
    "volstore.backends.local",
    "volstore.backends.memory",
    "volstore.backends.modal_mounted",
    "volstore.backends.modal_remote",
    "volstore.backends.s3",
    "volstore.backends._s3_client",
    "volstore.backends._fs",
}


def test_only_backends_modal_s3_testing_and_the_store_name_a_concrete_backend() -> None:
    users = importers_of(CONCRETE_BACKENDS)
    allowed = {"volstore", "volstore._store", "volstore.modal", "volstore.s3", "volstore.testing"}
    below = {m for m in users if m.startswith("volstore.backends")}
    assert sorted(m for m in users - below if not _allowed(m, allowed)) == []


@pytest.mark.parametrize(
    "ground",
    [
        "volstore._model",
        "volstore._codec",
        "volstore._keys",
        "volstore._errors",
        "volstore._time",
        "volstore._ids",
        "volstore._attrs_schema",
        # field values, conditions and index entries: pure, over the layout
        "volstore._order",
        "volstore._fields",
        "volstore._conditions",
        "volstore._index",
    ],
)
def test_the_ground_knows_no_storage(ground: str) -> None:
    storage = {m for m in GRAPH if m.startswith("volstore.backends")} | {"volstore._engine"}
    assert GRAPH[ground] & storage == set()


def test_the_library_never_imports_its_testing_kit() -> None:
    testing = {m for m in GRAPH if m == "volstore.testing" or m.startswith("volstore.testing.")}
    users = importers_of(testing) - testing
    assert sorted(users) == []


def external_imports_of(path: Path) -> set[str]:
    """The top-level names of the packages outside volstore that ``path`` imports, anywhere."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize(
    ("client", "adapters"),
    [
        ("modal", {"volstore.modal"}),
        ("boto3", {"volstore.backends._s3_client", "volstore.testing.seaweedfs"}),
        ("botocore", {"volstore.backends._s3_client"}),
    ],
)
def test_optional_clients_are_imported_by_their_adapter_only(
    client: str, adapters: set[str]
) -> None:
    users = {
        module_name(path) for path in PACKAGE.rglob("*.py") if client in external_imports_of(path)
    }
    assert users <= adapters, sorted(users - adapters)
    assert users, f"no module imports {client}: is the test still looking at the right thing?"


def test_no_module_is_too_big_to_read_whole() -> None:
    sizes = {module_name(p): len(p.read_text().splitlines()) for p in sorted(PACKAGE.rglob("*.py"))}
    assert {name: size for name, size in sizes.items() if size > 700} == {}
