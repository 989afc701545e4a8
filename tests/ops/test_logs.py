"""Logs: one JSON object a line with the request id; numbers and secrets masked."""

from __future__ import annotations

import io
import json
import logging
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from callpool.app import create_app
from callpool.logs import configure_logging, mask
from callpool.settings import load_settings
from callpool.web.request_id import HEADER, request_id_for
from tests.pbx.listening import wait_until
from tests.pbx.test_listener_faults import Serve

log = logging.getLogger("callpool.test")


@pytest.mark.pure
@pytest.mark.parametrize(
    ("line", "want"),
    [
        ("call from 79161110001 to +74950000001", "call from *********01 to +*********01"),
        ("own number +7 495 123-45-67.", "own number +* *** ***-**-67."),
        ("linkedid 1795401185.25 seq 42", "linkedid 1795401185.25 seq 42"),
        ("session 0196f3a2-1234-7abc-8def-0123456789ab", None),
        ("at 2026-11-24 12:00:00.123", None),
        ("request 3f9a1b2c4d5e6f70", None),
        ("Action: Login Secret: s3cr3t", "Action: Login Secret: ***"),
        ("{'Secret': 'hunter2', 'Username': 'u'}", "{'Secret': '***', 'Username': 'u'}"),
        ('"token": "abcdef"', '"token": "***"'),
        ("Authorization: Bearer abc.def", "Authorization: ***"),
        ("postgresql+asyncpg://callpool:pw@db/callpool", "postgresql+asyncpg://callpool:***@db/callpool"),
    ],
)  # fmt: skip
def test_mask_hides_numbers_and_secrets_and_nothing_else(line: str, want: str | None) -> None:
    assert mask(line) == (line if want is None else want)


@pytest.mark.pure
def test_request_ids_are_taken_when_sane_and_made_otherwise() -> None:
    assert request_id_for("abc-123.x:y_z") == "abc-123.x:y_z"
    for bad in (None, "", "-leading", "a b", "x" * 129, "ünïcode", "a\nb"):
        made = request_id_for(bad)
        assert made != bad and len(made) == 16 and int(made, 16) >= 0


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = configure_logging("INFO", "json", stream=stream)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


async def _logging_handler(request: web.Request) -> web.Response:
    log.info("caller %s called %s", "+79161110001", "74950000001", extra={"pbx": "main"})
    log.debug("not at INFO")
    try:
        raise RuntimeError("refused row with caller_number=79161110001")
    except RuntimeError:
        log.exception("a failure")
    return web.Response(text="ok")


async def test_json_lines_carry_the_request_id_and_no_numbers(
    aiohttp_client: Any, database_url: str, json_logs: io.StringIO
) -> None:
    app = create_app(load_settings(database_url=database_url))
    app.router.add_get("/test/log", _logging_handler)
    client = await aiohttp_client(app)
    given = await client.get("/test/log", headers={HEADER: "req-42"})
    assert given.headers[HEADER] == "req-42"
    made = await client.get("/test/log", headers={HEADER: "bad id with spaces"})
    made_id = made.headers[HEADER]
    assert made_id != "bad id with spaces"
    log.info("outside any request")
    lines = [json.loads(line) for line in json_logs.getvalue().splitlines()]
    mine = [line for line in lines if line["logger"] == "callpool.test"]
    assert [(m["message"][:9], m.get("request_id")) for m in mine] == [
        ("caller +*", "req-42"),
        ("a failure", "req-42"),
        ("caller +*", made_id),
        ("a failure", made_id),
        ("outside a", None),
    ]
    first = mine[0]
    assert first["level"] == "INFO" and first["pbx"] == "main" and "time" in first
    assert "RuntimeError" in mine[1]["exc_info"]
    assert "79161110001" not in json_logs.getvalue()
    assert "74950000001" not in json_logs.getvalue()


def test_debug_lines_may_show_numbers_when_allowed() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = configure_logging("DEBUG", "text", caller_numbers_at_debug=True, stream=stream)
    try:
        log.debug("debug %s", "79161110001")
        log.info("info %s", "79161110001")
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    debug, info = stream.getvalue().splitlines()
    assert debug.endswith("debug 79161110001")
    assert info.endswith("info *********01")


def get(port: int, path: str, headers: dict[str, str]) -> tuple[Any, bytes]:
    """GET, retried while the server is still binding its port; headers and body."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers)
    for _ in range(100):
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                return resp.headers, resp.read()
        except ConnectionRefusedError:
            time.sleep(0.1)
        except urllib.error.URLError as exc:
            if not isinstance(exc.reason, ConnectionRefusedError):
                raise
            time.sleep(0.1)
    raise AssertionError(f"nothing listens on {port}")


async def test_serve_writes_json_lines_with_the_request_id(
    database_url: str, tmp_path: Path
) -> None:
    serve = Serve(database_url, 5038, tmp_path)
    serve.env.update(
        CALLPOOL_AMI_ENABLED="false",
        CALLPOOL_LOG_FORMAT="json",
        CALLPOOL_ACCESS_LOG="true",
        CALLPOOL_ADMIN_TOKEN="admin-secret-token",
    )
    serve.start()
    try:
        await wait_until(lambda: '"callpool on http://' in serve.output(), within=30)
        port = int(re.search(r"http://127\.0\.0\.1:(\d+)", serve.output())[1])  # type: ignore[index]
        assert get(port, "/healthz", {HEADER: "probe-1"})[0][HEADER] == "probe-1"
        await wait_until(lambda: "probe-1" in serve.output())
    finally:
        serve.stop()
    assert serve.proc is not None and serve.proc.returncode == 0
    lines = [json.loads(line) for line in serve.output().splitlines()]
    (access,) = [line for line in lines if line["logger"] == "aiohttp.access"]
    assert access["request_id"] == "probe-1" and '"GET /healthz' in access["message"]
    messages = [line["message"] for line in lines]
    assert messages[-1] == "callpool stopped"
    assert any(m.startswith("stopping: no new connections") for m in messages)
    assert "admin-secret-token" not in serve.output()
