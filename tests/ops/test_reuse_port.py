"""CALLPOOL_REUSE_PORT: several `callpool serve` processes listen on one port."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

CALLPOOL = [str(Path(sys.executable).with_name("callpool"))]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def listening(port: int) -> int:
    """IPv4 sockets listening on ``port`` (one per process sharing it)."""
    lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(
        1
        for line in lines
        if line.split()[3] == "0A" and int(line.split()[1].rsplit(":", 1)[1], 16) == port
    )


@contextlib.contextmanager
def serve(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*CALLPOOL, "serve"], env=env, cwd=log.parent, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def server_env(tmp_path: Path, port: int, reuse: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLPOOL_")}
    env.update(
        CALLPOOL_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'callpool.db'}",
        CALLPOOL_HOST="127.0.0.1",
        CALLPOOL_PORT=str(port),
        CALLPOOL_SCHEDULER_ENABLED="false",
        CALLPOOL_REUSE_PORT="true" if reuse else "false",
    )
    return env


def test_two_processes_share_the_port_with_reuse_port(tmp_path: Path) -> None:
    port = free_port()
    env = server_env(tmp_path, port, reuse=True)
    with serve(env, tmp_path / "first.log") as first:
        assert wait_for(lambda: listening(port) == 1), first.poll()
        with serve(env, tmp_path / "second.log") as second:
            assert wait_for(lambda: listening(port) == 2), second.poll()
            assert first.poll() is None and second.poll() is None
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as r:
                assert r.status == 200


def test_without_reuse_port_a_second_process_cannot_listen(tmp_path: Path) -> None:
    port = free_port()
    env = server_env(tmp_path, port, reuse=False)
    with serve(env, tmp_path / "first.log") as first:
        assert wait_for(lambda: listening(port) == 1), first.poll()
        with serve(env, tmp_path / "second.log") as second:
            assert second.wait(30) != 0
            assert "already in use" in (tmp_path / "second.log").read_text().lower()
        assert first.poll() is None
