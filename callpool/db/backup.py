"""``callpool db backup FILE``: a consistent copy of a SQLite database, taken while it runs.

SQLite's online backup API copies the database page by page; a step copies ``pages``
pages and then lets writers in, and a write in between makes the copy start over from
the pages changed, so the result is one consistent moment even while ``serve`` writes.
The copy goes to a temporary file beside ``FILE`` and is renamed when complete and
checked (``PRAGMA quick_check``), so ``FILE`` is either a whole database or absent.

PostgreSQL is refused: ``pg_dump`` is the tool there (the README, "Backups").
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url

from callpool.db.engine import is_sqlite
from callpool.errors import ValidationError

PAGES_PER_STEP = 4096  # 16 MiB at SQLite's default 4 KiB pages


def sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise ValidationError("the database is in memory: there is nothing to back up")
    return Path(database)


def _copy(source: Path, target: Path) -> int:
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst, pages=PAGES_PER_STEP, sleep=0.005)
            (verdict,) = dst.execute("PRAGMA quick_check").fetchone()
        finally:
            dst.close()
    finally:
        src.close()
    if verdict != "ok":
        partial.unlink(missing_ok=True)
        raise ValidationError(f"the copy failed its check ({verdict}); {target} not written")
    os.replace(partial, target)
    return target.stat().st_size


def backup(url: str, target: Path) -> int:
    """Copy the SQLite database at ``url`` to ``target``; the bytes written."""
    if not is_sqlite(url):
        raise ValidationError(
            "callpool db backup is for SQLite; on PostgreSQL use pg_dump "
            "(e.g. pg_dump -Fc -f callpool.dump DBNAME) and pg_restore"
        )
    source = sqlite_path(url)
    if not source.exists():
        raise ValidationError(f"no database at {source}")
    if target.exists():
        raise ValidationError(f"{target} exists; give a new file name")
    if not target.parent.is_dir():
        raise ValidationError(f"{target.parent} is not a directory")
    if target.resolve() == source.resolve():
        raise ValidationError("the backup cannot be the database itself")
    try:
        return _copy(source, target)
    except sqlite3.Error as exc:
        raise ValidationError(f"backup failed: {exc}") from None
