"""`callpool db size` on both databases; `callpool db backup` makes a database serve opens."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy.engine import make_url

from callpool.cli import main
from tests.ops.test_logs import get
from tests.pbx.test_listener_faults import Serve


def cli(database_url: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--database-url", database_url, *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def seed(database_url: str) -> None:
    for args in (
        ("site", "add", "shop", "--origin", "https://shop.example", "--number", "+74951234567"),
        ("campaign", "add", "shop", "main"),
        ("numbers", "add", "shop", "main", *(f"+749500000{i:02d}" for i in range(1, 31))),
    ):
        code, out, err = cli(database_url, *args)
        assert code == 0, out + err


def test_db_size_shows_rows_and_bytes_per_table(database_url: str) -> None:
    seed(database_url)
    code, out, _ = cli(database_url, "db", "size", "--json")
    assert code == 0
    found = json.loads(out)
    tables = {row["table"]: row for row in found["tables"]}
    assert tables["tracking_numbers"]["rows"] == 30
    assert tables["sites"]["rows"] == 1 and tables["calls"]["rows"] == 0
    assert {"ami_events", "page_views", "sessions"} <= tables.keys()
    numbers = tables["tracking_numbers"]
    if database_url.startswith("sqlite") and numbers["table_bytes"] is None:
        pytest.skip("this SQLite is built without dbstat: bytes are unknown")
    assert numbers["table_bytes"] > 0 and numbers["index_bytes"] > 0
    assert numbers["total_bytes"] == numbers["table_bytes"] + numbers["index_bytes"]
    assert found["database_bytes"] >= sum(t["total_bytes"] or 0 for t in found["tables"])
    totals = [t["total_bytes"] for t in found["tables"]]
    assert totals == sorted(totals, reverse=True)  # biggest first
    code, out, _ = cli(database_url, "db", "size")
    assert (
        code == 0
        and "tracking_numbers" in out
        and out.rstrip().splitlines()[-1].startswith("database: ")
    )


def test_backup_refuses_postgresql_with_a_pointer_to_pg_dump(pg_migrated_url: str) -> None:
    code, _, err = cli(pg_migrated_url, "db", "backup", "/tmp/never-written.db")
    assert code == 2 and "pg_dump" in err and len(err.strip().splitlines()) == 1
    assert not Path("/tmp/never-written.db").exists()


def test_backup_while_written_is_a_database_serve_opens(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'live.db'}"
    code, _, err = cli(url, "db", "upgrade")
    assert code == 0, err
    seed(url)
    # A writer in the middle of a transaction: the copy has what was committed, only.
    writer = sqlite3.connect(make_url(url).database or "", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE sites SET name = 'uncommitted'")
    target = tmp_path / "backups" / "copy.db"
    target.parent.mkdir()
    try:
        code, out, err = cli(url, "db", "backup", str(target))
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert code == 0 and out.startswith(f"backed up to {target}"), err
    assert not list(target.parent.glob(".*partial"))
    code, _, err = cli(url, "db", "backup", str(target))
    assert code == 2 and "exists" in err

    copy_url = f"sqlite+aiosqlite:///{target}"
    serve = Serve(copy_url, 5038, tmp_path)
    serve.env.update(CALLPOOL_AMI_ENABLED="false", CALLPOOL_ADMIN_TOKEN="admin-token-1234")
    serve.start()
    try:
        for _ in range(300):
            if "callpool on http://" in serve.output():
                break
            time.sleep(0.1)
        port = int(serve.output().split("http://127.0.0.1:")[1].split()[0])
        health = json.loads(get(port, "/healthz", {})[1])
        assert health["checks"]["database"]["schema_current"] is True
        _, body = get(port, "/api/v1/admin/sites", {"Authorization": "Bearer admin-token-1234"})
        (site,) = json.loads(body)["sites"]
        assert site["name"] == "shop" and site["own_numbers"] == ["+74951234567"]
    finally:
        serve.stop()
    assert serve.proc is not None and serve.proc.returncode == 0, serve.output()
    code, out, _ = cli(copy_url, "site", "list", "--json")
    assert [row["name"] for row in json.loads(out)] == ["shop"]
    code, out, _ = cli(copy_url, "db", "size", "--json")
    counts = {row["table"]: row["rows"] for row in json.loads(out)["tables"]}
    assert counts["tracking_numbers"] == 30
