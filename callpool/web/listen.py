"""Where ``serve`` listens: the sockets, bound before anything else starts, and the line
that says so.

Binding first means a port already in use stops start-up with one line, before the
database is upgraded or a PBX listener connects; and the announced URL is the one really
bound (port 0 picks a free port).
"""

from __future__ import annotations

import errno
import socket

from sqlalchemy.engine import make_url

from callpool.errors import ConfigError
from callpool.settings import Settings

BACKLOG = 128  # aiohttp's default


def bind(host: str, port: int, *, reuse_port: bool = False) -> list[socket.socket]:
    """Listening sockets for every address ``host`` resolves to; one clear line if not."""
    where = f"{host}:{port}"
    try:
        infos = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror:
        raise ConfigError(
            f"cannot listen on {where}: {host!r} is not an address of this machine; "
            "set --host or CALLPOOL_HOST"
        ) from None
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:  # several serve processes share the port (the kernel balances)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(BACKLOG)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        raise ConfigError(f"cannot listen on {where}: {_why(exc, port)}") from None
    return sockets


def _why(exc: OSError, port: int) -> str:
    if exc.errno == errno.EADDRINUSE:
        return (
            f"port {port} is already in use (another callpool?); stop that process, "
            "or choose another port with --port or CALLPOOL_PORT"
        )
    if exc.errno == errno.EACCES:
        return f"not allowed to use port {port}; use a port above 1023"
    if exc.errno == errno.EADDRNOTAVAIL:
        return "not an address of this machine; set --host or CALLPOOL_HOST"
    return exc.strerror or str(exc)


def serving_line(settings: Settings, sockets: list[socket.socket], listeners: list[str]) -> str:
    """``callpool on http://127.0.0.1:8080 (database ...; scheduler on; AMI: main)``."""
    urls = ", ".join(_url(sock) for sock in sockets)
    database = make_url(settings.database_url.get_secret_value())
    if database.get_backend_name() == "sqlite":
        shown = f"SQLite {database.database}"
    else:  # host, port and name only: never the password
        shown = f"PostgreSQL {database.host}:{database.port or 5432}/{database.database}"
    parts = [
        f"database {shown}",
        f"scheduler {'on' if settings.scheduler_enabled else 'off'}",
        f"AMI listeners: {', '.join(listeners)}" if listeners else "AMI off",
    ]
    if settings.public_url:
        parts.insert(0, f"public URL {settings.public_url}")
    return f"callpool on {urls} ({'; '.join(parts)})"


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if sock.family == socket.AF_INET6 else f"http://{host}:{port}"
