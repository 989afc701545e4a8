"""The pure core stays pure: no I/O library and no clock, followed through every import.

Each module named here is domain logic (STYLE.md: plain, typed, synchronous Python taking
``now`` as an argument). The test parses the source (nothing is imported), follows every
``callpool`` import transitively, and fails if any module reached imports an adapter
library or reads the clock.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.pure

PACKAGE = Path(__file__).resolve().parents[1] / "callpool"

PURE_MODULES = (
    "callpool.attribution",
    "callpool.phone",
    "callpool.catalog.spec",
    "callpool.catalog.readiness",
    "callpool.tracking.embed",
    "callpool.tracking.classify",
    "callpool.tracking.pool",
    "callpool.tracking.capacity",
    "callpool.tracking.guard",
    "callpool.tracking.visits",
    "callpool.pbx.assembly.calls",
    "callpool.pbx.assembly.live",
    "callpool.pbx.assembly.cdr_csv",
    "callpool.metrics.definitions",
    "callpool.metrics.registry",
    "callpool.retention.policy",
    "callpool.recordings.naming",
    "callpool.recordings.signing",
    "callpool.recordings.retention",
    "callpool.recordings.policy",
)
FORBIDDEN = {
    "sqlalchemy",
    "aiohttp",
    "asyncio",
    "asyncpg",
    "aiosqlite",
    "panoramisk",
    "apscheduler",
    "socket",
    "subprocess",
    "click",
    "time",
}
CLOCK_CALLS = {"now", "utcnow", "today", "monotonic", "perf_counter", "time_ns"}


def module_path(name: str) -> Path:
    relative = Path(*name.split(".")[1:])
    package = PACKAGE / relative / "__init__.py"
    return package if package.exists() else PACKAGE / relative.with_suffix(".py")


def imports_of(tree: ast.AST, name: str) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.level:  # relative: resolve against this module's package
                base = name.rsplit(".", node.level)[0]
                found.add(f"{base}.{node.module}")
            else:
                found.add(node.module)
                # `from callpool.x import y` may name a module y
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def clock_reads(tree: ast.AST) -> list[str]:
    return [
        ast.unparse(node.func)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in CLOCK_CALLS
    ]


def reachable(start: str) -> dict[str, tuple[set[str], list[str]]]:
    """Every callpool module reached from ``start``: its imports and its clock reads."""
    seen: dict[str, tuple[set[str], list[str]]] = {}
    todo = [start]
    while todo:
        name = todo.pop()
        path = module_path(name)
        if name in seen or not path.exists():
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = imports_of(tree, name)
        seen[name] = (imported, clock_reads(tree))
        todo.extend(i for i in imported if i.split(".")[0] == "callpool")
    return seen


@pytest.mark.parametrize("start", PURE_MODULES)
def test_pure_module_reaches_no_io_library_and_no_clock(start: str) -> None:
    assert module_path(start).exists(), f"{start} is listed as pure but does not exist"
    problems = []
    for name, (imported, clocks) in sorted(reachable(start).items()):
        bad = sorted(i for i in imported if i.split(".")[0] in FORBIDDEN)
        if bad:
            problems.append(f"{name} imports {', '.join(bad)}")
        if clocks:
            problems.append(f"{name} reads the clock: {', '.join(clocks)}")
    assert not problems, f"{start} is not pure: " + "; ".join(problems)


def test_the_check_catches_an_adapter_behind_an_import(tmp_path: Path) -> None:
    tree = ast.parse("from sqlalchemy import select\nx = datetime.now(UTC)\n")
    assert "sqlalchemy" in imports_of(tree, "callpool.x")
    assert clock_reads(tree) == ["datetime.now"]
    # The listener is an adapter: starting there must fail the check.
    reached = reachable("callpool.pbx.listener")
    assert any(i.split(".")[0] in FORBIDDEN for imported, _ in reached.values() for i in imported)
