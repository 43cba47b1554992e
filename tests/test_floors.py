"""The house's floors (docs/architecture.md): a room imports only from the rooms below it, and no two modules
import each other, directly or around a longer loop. Read from the source with `ast`, imports inside functions
included: a lazy import is still a dependency."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# room -> the rooms it may import (itself included). Bottom to top: exporter; warehouse; discovery, scraper,
# scoring, prober (the scraper and the prober may use discovery's Target); api; naap, the shell.
ALLOWED: dict[str, set[str]] = {
    "exporter": {"exporter"},
    "warehouse": {"exporter", "warehouse"},
    "discovery": {"exporter", "warehouse", "discovery"},
    "scraper": {"exporter", "warehouse", "discovery", "scraper"},
    "scoring": {"exporter", "warehouse", "scoring"},
    "prober": {"exporter", "warehouse", "discovery", "prober"},
    "api": {"exporter", "warehouse", "discovery", "scoring", "prober", "api"},
    "naap": {"exporter", "warehouse", "discovery", "scraper", "scoring", "prober", "api", "naap"},
}
ROOMS = set(ALLOWED)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    return {module_name(p): p for room in ROOMS if (ROOT / room).is_dir() for p in (ROOT / room).rglob("*.py")}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The project modules `name` imports: `import a.b`, `from a.b import c` (c itself when it is a module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)
    return {m for m in found if m in known and m != name}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    mods = project_modules()
    return {name: imports_of(name, path, set(mods)) for name, path in mods.items()}


def violations(graph: dict[str, set[str]]) -> list[str]:
    return sorted(
        f"{m} imports {d}" for m, deps in graph.items() for d in deps if d.split(".")[0] not in ALLOWED[m.split(".")[0]]
    )


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_every_room_imports_only_rooms_below_it(graph: dict[str, set[str]]) -> None:
    assert not violations(graph), "\n".join(violations(graph))


def test_no_import_cycles(graph: dict[str, set[str]]) -> None:
    assert not cycles(graph), cycles(graph)


def test_the_checks_see_planted_faults(tmp_path: Path) -> None:
    """The checker itself: a lazy import counts, a lower room importing a higher one is reported, and so is a
    loop of three modules."""
    (tmp_path / "a.py").write_text("def f():\n    from b import x\n")
    (tmp_path / "b.py").write_text("x = 1\n")
    assert imports_of("a", tmp_path / "a.py", {"a", "b"}) == {"b"}
    assert violations({"exporter.x": {"naap.cli"}, "naap.cli": {"exporter.x"}}) == ["exporter.x imports naap.cli"]
    assert cycles({"scraper.a": {"scraper.b"}, "scraper.b": {"scraper.c"}, "scraper.c": {"scraper.a"}, "scraper.d": set()}) == [
        ["scraper.a", "scraper.b", "scraper.c"]
    ]
