"""`callpool user add` takes a password from a pipe as data: no "may be echoed" warning."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from sqlalchemy import select

from callpool.accounts import credentials
from callpool.db.engine import create_engine, transaction
from callpool.db.tables import User
from tests.cli.test_cli import run

PASSWORD = "correct horse battery"


def _callpool(database_url: str, *args: str, stdin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "callpool.cli", "--database-url", database_url, *args],
        input=stdin,
        env=os.environ,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def _hash_of(database_url: str, username: str) -> str:
    engine = create_engine(database_url)
    try:
        async with transaction(engine) as session:
            query = select(User.password_hash).where(User.username == username)
            return str(await session.scalar(query))
    finally:
        await engine.dispose()


@pytest.mark.parametrize("flag", [("--password-stdin",), ()])
async def test_a_piped_password_is_read_cleanly(database_url: str, flag: tuple[str, ...]) -> None:
    proc = _callpool(database_url, "user", "add", "ann", *flag, stdin=f"{PASSWORD}\n")
    assert (proc.returncode, proc.stdout, proc.stderr) == (
        0,
        "user 'ann' added with role viewer\n",
        "",
    )
    assert credentials.verify_password(await _hash_of(database_url, "ann"), PASSWORD)


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("--password-stdin",), "", "error: no password on the first line of stdin"),
        (
            ("--password-stdin", "--password", PASSWORD),
            PASSWORD,
            "error: give --password or --password-stdin, not both",
        ),
    ],
)
def test_password_stdin_refuses_in_one_line(
    database_url: str, args: tuple[str, ...], stdin: str, message: str
) -> None:
    code, out, err = run(database_url, "user", "add", "ann", *args, input=stdin)
    assert (code, out, err.strip()) == (2, "", message)
