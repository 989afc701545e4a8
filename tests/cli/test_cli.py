"""The `callpool` command on both databases: clear one-line errors, nothing half-written."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from callpool.cli import main


def run(database_url: str, *args: str, input: str | None = None) -> tuple[int, str, str]:
    runner = CliRunner()
    result = runner.invoke(main, ["--database-url", database_url, *args], input=input)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_management_commands_build_a_catalog(database_url: str, tmp_path: Path) -> None:
    code, out, _ = run(
        database_url,
        "site",
        "add",
        "shop",
        "--origin",
        "https://shop.example",
        "--number",
        "+7 495 123-45-67",
    )
    assert code == 0 and "snippet key" in out
    assert (
        run(database_url, "campaign", "add", "shop", "autumn", "--timezone", "Europe/Moscow")[0]
        == 0
    )
    assert (
        run(
            database_url,
            "channel",
            "add",
            "shop",
            "autumn",
            "google",
            "--utm-source",
            "google",
            "--utm-medium",
            "cpc",
            "--priority",
            "10",
        )[0]
        == 0
    )
    assert (
        run(database_url, "channel", "add", "shop", "autumn", "radio", "--kind", "static")[0] == 0
    )
    csv_file = tmp_path / "numbers.csv"
    csv_file.write_text(
        "number,site,campaign,channel\n+74950000001,shop,autumn,\n8 495 000 00 02,shop,autumn,\n"
        "+74950000003,shop,autumn,radio\n"
    )
    code, out, _ = run(database_url, "numbers", "import", str(csv_file))
    assert (code, out.strip()) == (0, "imported 3 numbers")

    code, out, _ = run(database_url, "site", "list", "--json")
    assert json.loads(out)[0]["own_numbers"] == ["+74951234567"]
    code, out, _ = run(database_url, "channel", "list", "shop", "autumn")
    assert out.splitlines()[0].startswith("name=google")
    code, out, _ = run(database_url, "campaign", "list")
    assert "timezone=Europe/Moscow" in out


def test_bad_csv_row_is_one_line_and_imports_nothing(database_url: str, tmp_path: Path) -> None:
    run(database_url, "site", "add", "shop")
    run(database_url, "campaign", "add", "shop", "autumn")
    csv_file = tmp_path / "numbers.csv"
    csv_file.write_text("number,site,campaign\n+74950000001,shop,autumn\n12ab,shop,autumn\n")
    code, out, err = run(database_url, "numbers", "import", str(csv_file))
    assert code == 2
    assert err.strip().startswith('error: row 2, column "number":')
    assert len(err.strip().splitlines()) == 1
    csv_file.write_text("number,site,campaign\n+74950000001,shop,autumn\n")
    code, out, _ = run(database_url, "numbers", "import", str(csv_file))
    assert out.strip() == "imported 1 numbers"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("site", "add", "x", "--origin", "ftp://x"), "must look like https"),
        (("campaign", "add", "nosuch", "c"), "no site named 'nosuch'"),
        (("campaign", "add", "shop", "c", "--timezone", "Nowhere/Town"), "unknown time zone"),
        (("campaign", "add", "shop", "c", "--hold-seconds", "1"), "hold_seconds"),
        (("site", "add", "shop"), "already exists"),
    ],
)
def test_bad_input_is_one_clear_line(
    database_url: str, args: tuple[str, ...], message: str
) -> None:
    run(database_url, "site", "add", "shop")
    code, _, err = run(database_url, *args)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_user_and_token(database_url: str) -> None:
    code, out, _ = run(
        database_url,
        "user",
        "add",
        "ann",
        "--role",
        "admin",
        input="correct horse battery\ncorrect horse battery\n",
    )
    assert code == 0, out
    code, out, _ = run(database_url, "token", "create", "ann")
    assert code == 0 and out.strip().startswith("cp_")
    code, _, err = run(database_url, "user", "add", "bob", input="short\nshort\n")
    assert (
        code == 2 and "at least 10 characters" in err and "short" not in err.replace("short", "", 0)
    )


def test_db_commands_report_the_revision(database_url: str) -> None:
    code, out, _ = run(database_url, "db", "current")
    assert code == 0 and out.startswith("0")
    assert run(database_url, "db", "downgrade", "base")[0] == 0
    assert run(database_url, "db", "current")[1].startswith("none")
    assert run(database_url, "db", "upgrade")[0] == 0


def test_bad_setting_stops_with_one_line_naming_it(tmp_path: Path) -> None:
    env = {**os.environ, "CALLPOOL_PORT": "eighty"}
    proc = subprocess.run(
        [sys.executable, "-m", "callpool.cli", "db", "current"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "error: invalid setting CALLPOOL_PORT: Input should be a valid integer, "
        "unable to parse string as an integer"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_upgrades_sqlite_and_answers_healthz(tmp_path: Path) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "CALLPOOL_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'new.db'}",
    }
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "callpool.cli", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        body = _wait_for_json(f"http://127.0.0.1:{port}/healthz", deadline=time.monotonic() + 30)
        assert body["status"] == "ok"
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


def _wait_for_json(url: str, deadline: float) -> dict[str, object]:
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return json.loads(resp.read())  # type: ignore[no-any-return]
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_pool_status_and_retire_from_the_cli(database_url: str) -> None:
    run(database_url, "site", "add", "shop")
    run(database_url, "campaign", "add", "shop", "autumn")
    code, out, _ = run(
        database_url, "numbers", "add", "shop", "autumn", "+74950000001", "+74950000002"
    )
    assert (code, out.strip()) == (0, "added 2 numbers")
    code, out, _ = run(database_url, "pool", "status", "shop", "autumn")
    assert code == 0 and out.startswith("shop / autumn: 2 numbers (0 retiring)")
    assert "rule of thumb" in out
    assert run(database_url, "numbers", "retire", "+74950000002")[1].strip() == "1 numbers retiring"
    code, out, _ = run(database_url, "pool", "status", "shop", "autumn", "--json")
    assert json.loads(out)["retiring"] == 1
    code, _, err = run(database_url, "numbers", "retire", "+74950000077")
    assert code == 2 and "not tracking numbers: +74950000077" in err
