"""Where serve listens: sockets bound first, and the one line that says so."""

from __future__ import annotations

import socket

import pytest

from callpool.errors import ConfigError
from callpool.settings import load_settings
from callpool.web import listen

DB_PASSWORD = "pw-Db-S3cret"


@pytest.mark.pure
def test_the_serving_line_shows_postgresql_without_its_password() -> None:
    settings = load_settings(
        database_url=f"postgresql+asyncpg://callpool:{DB_PASSWORD}@db.internal:5433/calls",
        scheduler_enabled=False,
        public_url="https://track.example",
    )
    sockets = listen.bind("127.0.0.1", 0)
    try:
        line = listen.serving_line(settings, sockets, [])
        port = sockets[0].getsockname()[1]
    finally:
        for sock in sockets:
            sock.close()
    assert line == (
        f"callpool on http://127.0.0.1:{port} (public URL https://track.example; "
        "database PostgreSQL db.internal:5433/calls; scheduler off; AMI off)"
    )


@pytest.mark.pure
def test_a_port_in_use_is_refused_before_anything_starts() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(ConfigError, match=f"port {port} is already in use"):
            listen.bind("127.0.0.1", port)


@pytest.mark.pure
def test_a_host_that_is_not_ours_is_refused() -> None:
    with pytest.raises(ConfigError, match="not an address of this machine"):
        listen.bind("192.0.2.1", 0)  # TEST-NET-1: never a local address
