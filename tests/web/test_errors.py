"""The error middleware over real HTTP: a client that goes away is not an error of ours."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.app import create_app
from callpool.settings import load_settings
from tests.seed import ORIGIN, make_catalog

HOST = "127.0.0.1"


@pytest.fixture
async def port(database_url: str) -> AsyncIterator[int]:
    """The app served as ``callpool serve`` serves it (aiohttp's test server differs: it
    cancels a handler whose client went away)."""
    runner = web.AppRunner(create_app(load_settings(database_url=database_url)))
    await runner.setup()
    await web.TCPSite(runner, HOST, 0).start()
    yield runner.addresses[0][1]
    await runner.cleanup()


async def test_client_leaving_mid_body_is_one_debug_line_not_an_unhandled_error(
    port: int, engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    catalog = await make_catalog(engine)
    caplog.set_level(logging.DEBUG, logger="callpool")
    path = f"/api/v1/t/{catalog.key}/visit"
    _, writer = await asyncio.open_connection(HOST, port)
    writer.write(
        (
            f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\nOrigin: {ORIGIN}\r\n"
            "Content-Type: text/plain\r\nContent-Length: 200\r\n\r\n"
            '{"url": "https://shop.example/'
        ).encode()
    )
    await writer.drain()
    await asyncio.sleep(0.2)  # the handler now waits for the rest of the body
    writer.close()
    await writer.wait_closed()
    for _ in range(200):
        if any("went away" in r.getMessage() for r in caplog.records):
            break
        await asyncio.sleep(0.01)
    ours = [(r.levelno, r.getMessage()) for r in caplog.records if r.name.startswith("callpool")]
    assert ours == [(logging.DEBUG, f"POST {path}: the client went away")]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]


async def test_a_body_arriving_in_pieces_is_read_whole(port: int, engine: AsyncEngine) -> None:
    catalog = await make_catalog(engine)
    body = b'{"url": "https://shop.example/landing", "referrer": "https://www.google.com/"}'
    reader, writer = await asyncio.open_connection(HOST, port)
    writer.write(
        (
            f"POST /api/v1/t/{catalog.key}/visit HTTP/1.1\r\nHost: {HOST}\r\n"
            f"Origin: {ORIGIN}\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n"
        ).encode()
        + body[:20]
    )
    await writer.drain()
    await asyncio.sleep(0.1)  # the server has read the first piece
    writer.write(body[20:])
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), timeout=10)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:300]
