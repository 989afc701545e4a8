"""What a newcomer gets wrong at start-up is one line naming the problem and the fix, exit 2.

Each case runs the real command (click's runner in-process, or a subprocess where the
process itself matters) against the real thing: a held port, a PostgreSQL server with a
database or user that does not exist, a closed port, a read-only or broken SQLite file,
an installation without its migrations. A secret in the settings (the database password,
the AMI secret) never appears in the line.
"""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy.engine import make_url

import callpool
from callpool.cli import main
from tests import pg

DB_PASSWORD = "pw-Db-S3cret"
AMI_SECRET = "ami-S3cret-value"
PBX = f'{{"name": "main", "username": "callpool", "secret": "{AMI_SECRET}"'


def one_line_error(*args: str, env: dict[str, str] | None = None) -> str:
    """Run ``callpool ARGS``; assert it printed one ``error:`` line and exited 2; the line."""
    result = CliRunner().invoke(main, list(args), env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError("a traceback instead of one line") from result.exception
    return _checked(result.exit_code, result.stdout, result.stderr)


def one_line_error_in_process(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> str:
    """The same, in a process of its own: what a user's shell shows."""
    proc = subprocess.run(
        [sys.executable, "-m", "callpool.cli", *args],
        env={**os.environ, **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return _checked(proc.returncode, proc.stdout, proc.stderr)


def _checked(code: int, out: str, err: str) -> str:
    assert (code, out) == (2, ""), (code, out, err)
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for secret in (DB_PASSWORD, AMI_SECRET):
        assert secret not in err
    return lines[0]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- settings -------------------------------------------------------------------------


@pytest.mark.pure
def test_pbx_setting_that_is_not_json_is_one_line() -> None:
    line = one_line_error_in_process("db", "current", env={"CALLPOOL_PBX": "not json"})
    assert line.startswith(
        "error: invalid setting CALLPOOL_PBX: not valid JSON (line 1, column 1: Expecting value);"
        " write a JSON list such as [{"
    )
    # Broken after the secret: the line says where, never what.
    line = one_line_error("ami", "check", env={"CALLPOOL_PBX": f"[{PBX}, ]"})
    assert "not valid JSON (line 1, column " in line


@pytest.mark.pure
@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (f'[{PBX}, "timezone": "Mars/Olympus"}}]', "PBX 1: timezone: unknown time zone"),
        (f'[{PBX}, "agent_channel_patterns": ["("]}}]', "'(' is not a regular expression"),
        (f'[{PBX}, "agent_channel_patterns": ["^PJSIP/"]}}]', "needs a group (?P<ext>...)"),
        (f"[{PBX}}}, {PBX}}}]", "two PBXes are named 'main'"),
        (f'[{PBX}, "port": "x"}}]', "PBX 1: port: Input should be a valid integer"),
        (f'[{{"name": "main", "secret": "{AMI_SECRET}"}}]', "PBX 1: username: is required"),
        ('{"name": "main"}', "CALLPOOL_PBX: must be a list"),
    ],
)
def test_an_invalid_pbx_entry_is_one_line(entry: str, message: str) -> None:
    line = one_line_error("ami", "check", env={"CALLPOOL_PBX": entry})
    assert line.startswith("error: invalid setting CALLPOOL_PBX: ")
    assert message in line


# --- serve ----------------------------------------------------------------------------


def test_serve_on_a_port_in_use_is_one_line_and_touches_nothing(tmp_path: Path) -> None:
    database = tmp_path / "callpool.db"
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        line = one_line_error_in_process(
            "--database-url", f"sqlite+aiosqlite:///{database}", "serve", "--port", str(port)
        )
    assert line == (
        f"error: cannot listen on 127.0.0.1:{port}: port {port} is already in use (another "
        "callpool?); stop that process, or choose another port with --port or CALLPOOL_PORT"
    )
    assert not database.exists()  # the port is checked before the database is touched


def test_serve_when_postgresql_is_not_running_is_one_line() -> None:
    port = _closed_port()
    url = f"postgresql+asyncpg://callpool:{DB_PASSWORD}@127.0.0.1:{port}/callpool"
    line = one_line_error_in_process("--database-url", url, "serve", "--port", "0")
    assert line == (
        f"error: cannot connect to PostgreSQL at 127.0.0.1:{port}: connection refused; "
        "start PostgreSQL, or fix the host and port in CALLPOOL_DATABASE_URL"
    )


def test_serve_with_an_unwritable_journal_directory_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "var").write_text("a file where the journal's directory should be")
    env = {
        "CALLPOOL_AMI_ENABLED": "true",
        "CALLPOOL_PBX": f"[{PBX}}}]",
        "CALLPOOL_JOURNAL_DIR": str(tmp_path / "var" / "journal"),
    }
    url = f"sqlite+aiosqlite:///{tmp_path / 'callpool.db'}"
    line = one_line_error("--database-url", url, "serve", "--port", "0", env=env)
    assert line == (
        f"error: the AMI journal directory {tmp_path}/var/journal/main is not usable: "
        f"{tmp_path}/var is a file, not a directory; make it writable, free some space, "
        "or set CALLPOOL_JOURNAL_DIR"
    )


# --- PostgreSQL -----------------------------------------------------------------------

COMMANDS = [("db", "current"), ("db", "upgrade"), ("site", "list"), ("site", "add", "shop")]


def _pg_url(base: str, **parts: str) -> str:
    url = make_url(base).set(password=DB_PASSWORD, **parts)  # type: ignore[arg-type]
    return url.render_as_string(hide_password=False)


@pytest.mark.parametrize("command", COMMANDS)
def test_any_command_on_a_missing_postgresql_database_is_one_line(
    pg_base_url: str, command: tuple[str, ...]
) -> None:
    url = _pg_url(pg_base_url, database="callpool_no_such_db")
    line = one_line_error("--database-url", url, *command)
    base = make_url(pg_base_url)
    assert line == (
        f"error: PostgreSQL at {base.host}:{base.port or 5432} has no database "
        f"'callpool_no_such_db': create it (createdb -h {base.host} -p {base.port or 5432} "
        f"-U {base.username} callpool_no_such_db), then run `callpool db upgrade`"
    )


def test_serve_on_a_missing_postgresql_database_is_one_line(pg_base_url: str) -> None:
    url = _pg_url(pg_base_url, database="callpool_no_such_db")
    line = one_line_error("--database-url", url, "serve", "--port", "0")
    assert "has no database 'callpool_no_such_db': create it" in line


@pytest.mark.parametrize("command", [*COMMANDS, ("serve", "--port", "0")])
def test_a_refused_postgresql_login_is_one_line(pg_base_url: str, command: tuple[str, ...]) -> None:
    # The test server trusts local connections, so the refusal a wrong password would get
    # (SQLSTATE 28P01) is shown here by a user that does not exist (28000), same class.
    url = _pg_url(pg_base_url, username="callpool_no_such_user")
    line = one_line_error("--database-url", url, *command)
    assert "refused user 'callpool_no_such_user' (unknown role, or no pg_hba.conf" in line
    assert line.endswith("check the user in CALLPOOL_DATABASE_URL")


def test_a_postgresql_database_without_tables_says_upgrade(pg_base_url: str) -> None:
    url = pg.create_database(pg_base_url)
    try:
        line = one_line_error("--database-url", url, "site", "list")
    finally:
        pg.drop_database(pg_base_url, url)
    assert line == (
        f"error: the database {make_url(url).database!r} has no callpool tables: "
        "run `callpool db upgrade`"
    )


# --- SQLite ---------------------------------------------------------------------------


def test_a_read_only_sqlite_database_is_one_line(tmp_path: Path) -> None:
    database = tmp_path / "callpool.db"
    CliRunner().invoke(main, ["--database-url", f"sqlite+aiosqlite:///{database}", "db", "upgrade"])
    # Opened read-only by URI: the same refusal a file this user may not write gets
    # (SQLITE_READONLY), also when the tests run as root and file modes do not bind.
    url = f"sqlite+aiosqlite:///file:{database}?mode=ro&uri=true"
    expected = (
        f"error: the SQLite database file:{database} is read-only: make the file and its "
        "directory writable by this user, or point CALLPOOL_DATABASE_URL elsewhere"
    )
    assert one_line_error("--database-url", url, "site", "add", "shop") == expected
    assert one_line_error("--database-url", url, "serve", "--port", "0") == expected


@pytest.mark.parametrize(
    ("setup", "command", "message"),
    [
        ("file", ("db", "current"), "{dir}/blocker is a file, not a directory"),
        ("garbage", ("site", "list"), "{dir}/x.db is not a SQLite database"),
        ("directory", ("db", "current"), "cannot open the SQLite database {dir}/x.db"),
        ("nothing", ("site", "list"), "the database {dir}/x.db has no callpool tables"),
    ],
)
def test_a_broken_sqlite_path_is_one_line(
    tmp_path: Path, setup: str, command: tuple[str, ...], message: str
) -> None:
    path = tmp_path / "x.db"
    if setup == "file":
        (tmp_path / "blocker").write_text("")
        path = tmp_path / "blocker" / "x.db"
    elif setup == "garbage":
        path.write_text("not a database, just text " * 100)
    elif setup == "directory":
        path.mkdir()
    line = one_line_error("--database-url", f"sqlite+aiosqlite:///{path}", *command)
    assert message.format(dir=tmp_path) in line


# --- migrations -----------------------------------------------------------------------


def test_a_database_from_a_newer_callpool_is_one_line(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    CliRunner().invoke(main, ["--database-url", url, "db", "upgrade"])
    with sqlite3.connect(tmp_path / "x.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    for command in (("db", "upgrade"), ("serve", "--port", "0")):
        line = one_line_error("--database-url", url, *command)
        assert line.startswith(
            "error: the database is at schema revision '9999', which this version of callpool "
            "does not know"
        )


@pytest.mark.pure
def test_an_unknown_target_revision_is_one_line(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    line = one_line_error("--database-url", url, "db", "upgrade", "0042")
    assert line.startswith("error: no schema revision '0042': give head, base or one of 0001,")


def test_an_installation_without_migrations_is_one_line(tmp_path: Path) -> None:
    # The package as a broken wheel would install it: everything but the migrations.
    package = Path(callpool.__file__).parent
    shutil.copytree(package, tmp_path / "site" / "callpool", ignore=_no_migrations)
    env = {"PYTHONPATH": str(tmp_path / "site")}
    url = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    for command in (("db", "upgrade"), ("serve", "--port", "0")):
        # From tmp_path: `python -m` puts the working directory first on the path.
        line = one_line_error_in_process("--database-url", url, *command, env=env, cwd=tmp_path)
        assert line == (
            "error: the database migrations are missing from this installation (looked in "
            f"{tmp_path}/site/callpool/db/migrations): reinstall callpool, e.g. pip install "
            "--force-reinstall callpool"
        )


def _no_migrations(directory: str, names: list[str]) -> list[str]:
    ignored = [name for name in names if name == "__pycache__"]
    return ignored + (["migrations"] if directory.endswith("db") else [])
