"""Database failures explained in one line: the cases no CLI test can provoke for real."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from callpool.db.problems import describe, why_not_writable
from callpool.errors import DatabaseUnusable


@pytest.mark.pure
def test_a_full_disk_under_sqlite_is_explained(tmp_path: Path) -> None:
    # A real SQLITE_FULL: the database may not grow past its two pages.
    with sqlite3.connect(tmp_path / "full.db") as conn:
        conn.execute("CREATE TABLE t (x)")
        conn.execute("PRAGMA max_page_count = 2")
        with pytest.raises(sqlite3.OperationalError) as full:
            conn.executemany("INSERT INTO t VALUES (?)", [("x" * 1000,)] * 100)
    problem = describe(full.value, f"sqlite+aiosqlite:///{tmp_path / 'full.db'}")
    assert isinstance(problem, DatabaseUnusable)
    assert str(problem) == (
        f"the disk holding the SQLite database {tmp_path}/full.db is full: free some space"
    )


@pytest.mark.pure
def test_a_file_in_the_way_of_a_directory_is_named(tmp_path: Path) -> None:
    (tmp_path / "var").write_text("")
    target = tmp_path / "var" / "journal" / "main"
    with pytest.raises(OSError) as refused:
        target.mkdir(parents=True)
    assert why_not_writable(refused.value, target) == f"{tmp_path}/var is a file, not a directory"


@pytest.mark.pure
def test_a_full_disk_keeps_the_systems_reason() -> None:
    with pytest.raises(OSError) as full, open("/dev/full", "wb") as device:
        device.write(b"x")
        device.flush()
    assert why_not_writable(full.value, Path("/var/journal")) == "No space left on device"
