"""Shared helpers for the benchmarks in ``bench/``: processes, load generators, floors.

Every server a benchmark measures runs as its own process on 127.0.0.1, and the load
comes from another process: ``wrk`` (Debian's ``wrk`` package) when it is installed,
else the small aiohttp load generator below. As a script this file is the entry point of
those helper processes::

    python bench/_harness.py floor --kind bare|sqlite|postgresql --port P [--dsn DSN]
    python bench/_harness.py load SPEC.json    # aiohttp load generator, prints JSON

The floors are what a handler costs with nothing of callpool in it: ``bare`` answers a
constant JSON body; ``sqlite`` and ``postgresql`` run one ``UPDATE ... RETURNING`` on a
1,000-row table with the same driver callpool uses and no ORM (one aiosqlite connection
in WAL mode with ``synchronous=NORMAL``; an asyncpg pool of 10 to 20 connections, the
size of callpool's).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import math
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
FLOOR_PATH = "/floor"
FLOOR_ROWS = 1_000
BARE_BODY = {"ttl": 900, "heartbeat": 30}


# --------------------------------------------------------------------------- results


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of already sorted values (0 for none)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass(frozen=True, slots=True)
class LoadResult:
    """One measurement: completed requests over a fixed time with N connections."""

    requests: int
    seconds: float
    non_2xx: int
    socket_errors: int
    p50_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket_errors


@dataclass(frozen=True, slots=True)
class Target:
    """POSTs to ``url`` with ``headers``; ``bodies`` are sent in turn, one per request."""

    url: str
    headers: dict[str, str]
    bodies: tuple[str, ...]


# --------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """A server in its own process group; its output goes to ``log_path``.

    ``stop`` sends SIGTERM to that group (aiohttp's ``run_app`` shuts down cleanly on
    it), then SIGKILL after ``grace`` seconds. Use it as a context manager.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        port: int,
        log_path: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.port = port
        self.log_path = log_path
        self._argv = list(argv)
        self._env = env
        self._cwd = cwd
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def start(self, ready_timeout: float = 30.0) -> None:
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                self._argv,
                env=self._env,
                cwd=self._cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self._proc.returncode}:\n{self.tail()}"
                )
            with contextlib.suppress(OSError), socket.create_connection((HOST, self.port), 0.2):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.name} did not listen on {self.port} in {ready_timeout:.0f} s")

    def stop(self, grace: float = 5.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, grace)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


# --------------------------------------------------------------------------- load: wrk

_WRK_SCRIPT = """\
{headers}
local requests = {{}}
local n = 0
local i = 0
local threads = 0
setup = function(thread)
  thread:set("offset", threads)
  threads = threads + 1
end
init = function(args)
  for line in io.lines(args[1]) do
    requests[#requests + 1] = wrk.format("POST", nil, nil, line)
  end
  n = #requests
  -- each thread starts at its own place so threads do not send the same bodies in step
  i = (offset * 7919) % n
end
request = function()
  i = i % n + 1
  return requests[i]
end
done = function(summary, latency, _requests)
  local e = summary.errors
  io.write(string.format(
    '\\n{{"requests": %d, "duration_us": %d, "status": %d, "connect": %d, "read": %d, ' ..
    '"write": %d, "timeout": %d, "p50_us": %.1f, "p99_us": %.1f}}\\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def _lua_string(value: str) -> str:
    if not value.isascii() or not value.isprintable():
        raise ValueError(f"not printable ASCII: {value!r}")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def run_wrk(
    target: Target, *, connections: int, seconds: float, threads: int, workdir: Path
) -> LoadResult:
    """Closed-loop load with ``wrk``: every connection sends its next request on answer."""
    bodies = workdir / "wrk-bodies.txt"
    bodies.write_text("".join(body + "\n" for body in target.bodies), encoding="utf-8")
    headers = "\n".join(
        f"wrk.headers[{_lua_string(k)}] = {_lua_string(v)}" for k, v in target.headers.items()
    )
    script = workdir / "wrk-post.lua"
    script.write_text(_WRK_SCRIPT.format(headers=headers), encoding="utf-8")
    argv = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        target.url,
        "--",
        str(bodies),
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, check=False)
    line = next(
        (ln for ln in reversed(done.stdout.splitlines()) if ln.startswith('{"requests"')), None
    )
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    data = json.loads(line)
    return LoadResult(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        non_2xx=data["status"],
        socket_errors=data["connect"] + data["read"] + data["write"] + data["timeout"],
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
    )


# --------------------------------------------------------------------------- load: aiohttp


def run_aiohttp_load(
    target: Target, *, connections: int, seconds: float, workdir: Path
) -> LoadResult:
    """The same closed loop as ``run_wrk`` from an aiohttp client in a child process."""
    spec = workdir / "load-spec.json"
    spec.write_text(
        json.dumps(
            {
                "url": target.url,
                "headers": target.headers,
                "bodies": list(target.bodies),
                "connections": connections,
                "seconds": seconds,
            }
        ),
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "load", str(spec)],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed ({done.returncode}): {done.stderr}")
    data = json.loads(done.stdout.strip().splitlines()[-1])
    return LoadResult(**data)


async def _aiohttp_load(spec: dict[str, Any]) -> LoadResult:
    import aiohttp

    url: str = spec["url"]
    headers: dict[str, str] = spec["headers"]
    bodies: list[bytes] = [body.encode() for body in spec["bodies"]]
    connections: int = spec["connections"]
    latencies: list[float] = []
    counts = {"non_2xx": 0, "socket_errors": 0}
    start = time.perf_counter()
    deadline = start + float(spec["seconds"])
    timeout = aiohttp.ClientTimeout(total=10)

    async def worker(session: aiohttp.ClientSession, offset: int) -> None:
        i = offset
        while time.perf_counter() < deadline:
            body = bodies[i % len(bodies)]
            i += 1
            sent = time.perf_counter()
            try:
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    if not 200 <= response.status < 300:
                        counts["non_2xx"] += 1
            except (aiohttp.ClientError, TimeoutError):
                counts["socket_errors"] += 1
                continue
            latencies.append(time.perf_counter() - sent)

    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        offsets = [random.randrange(len(bodies)) for _ in range(connections)]
        await asyncio.gather(*(worker(session, offset) for offset in offsets))
    elapsed = time.perf_counter() - start
    latencies.sort()
    return LoadResult(
        requests=len(latencies),
        seconds=elapsed,
        non_2xx=counts["non_2xx"],
        socket_errors=counts["socket_errors"],
        p50_ms=percentile(latencies, 50) * 1000,
        p99_ms=percentile(latencies, 99) * 1000,
    )


def measure(
    target: Target,
    *,
    connections: int,
    seconds: float,
    warmup: float,
    client: str,
    threads: int,
    workdir: Path,
) -> LoadResult:
    """A warm-up run (discarded), then the measured run, with ``wrk`` or aiohttp."""

    def once(duration: float) -> LoadResult:
        if client == "wrk":
            return run_wrk(
                target, connections=connections, seconds=duration, threads=threads, workdir=workdir
            )
        return run_aiohttp_load(target, connections=connections, seconds=duration, workdir=workdir)

    if warmup > 0:
        once(warmup)
    return once(seconds)


# --------------------------------------------------------------------------- floors

Handler = Callable[[Any], Awaitable[Any]]


def _sqlite_floor(path: str) -> tuple[Callable[[Any], AsyncIterator[None]], Handler]:
    import aiosqlite
    from aiohttp import web

    state: dict[str, aiosqlite.Connection] = {}

    async def ctx(_app: web.Application) -> AsyncIterator[None]:
        # Autocommit: the UPDATE is its own transaction, as a visit is one.
        conn = await aiosqlite.connect(path, isolation_level=None)
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA synchronous=NORMAL")
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS bench_rows "
            "(id INTEGER PRIMARY KEY, hits INTEGER NOT NULL, touched_at TEXT)"
        )
        await conn.execute("DELETE FROM bench_rows")
        await conn.executemany(
            "INSERT INTO bench_rows (id, hits) VALUES (?, 0)",
            [(i,) for i in range(1, FLOOR_ROWS + 1)],
        )
        state["conn"] = conn
        yield
        await conn.close()

    async def handler(request: web.Request) -> web.Response:
        await request.read()
        row_id = random.randint(1, FLOOR_ROWS)
        rows = await state["conn"].execute_fetchall(
            "UPDATE bench_rows SET hits = hits + 1, touched_at = ? WHERE id = ? RETURNING hits",
            (datetime.now(UTC).isoformat(), row_id),
        )
        return web.json_response({"id": row_id, "hits": next(iter(rows))[0]})

    return ctx, handler


def _postgresql_floor(dsn: str) -> tuple[Callable[[Any], AsyncIterator[None]], Handler]:
    import asyncpg
    from aiohttp import web

    state: dict[str, asyncpg.Pool] = {}

    async def ctx(_app: web.Application) -> AsyncIterator[None]:
        pool = await asyncpg.create_pool(dsn, min_size=10, max_size=20)
        async with pool.acquire() as conn:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS bench_rows "
                "(id integer PRIMARY KEY, hits integer NOT NULL, touched_at timestamptz)"
            )
            await conn.execute("TRUNCATE bench_rows")
            await conn.execute(
                "INSERT INTO bench_rows (id, hits) SELECT g, 0 FROM generate_series(1, $1) g",
                FLOOR_ROWS,
            )
        state["pool"] = pool
        yield
        await pool.close()

    async def handler(request: web.Request) -> web.Response:
        await request.read()
        row_id = random.randint(1, FLOOR_ROWS)
        hits = await state["pool"].fetchval(
            "UPDATE bench_rows SET hits = hits + 1, touched_at = $1 WHERE id = $2 RETURNING hits",
            datetime.now(UTC),
            row_id,
        )
        return web.json_response({"id": row_id, "hits": hits})

    return ctx, handler


def serve_floor(kind: str, port: int, dsn: str | None) -> None:
    from aiohttp import web

    app = web.Application()
    if kind == "bare":

        async def bare(request: web.Request) -> web.Response:
            await request.read()
            return web.json_response(BARE_BODY)

        app.router.add_post(FLOOR_PATH, bare)
    else:
        if dsn is None:
            raise SystemExit(f"--dsn is required for the {kind} floor")
        make = _sqlite_floor if kind == "sqlite" else _postgresql_floor
        ctx, handler = make(dsn)
        app.cleanup_ctx.append(ctx)
        app.router.add_post(FLOOR_PATH, handler)
    web.run_app(app, host=HOST, port=port, print=None, access_log=None)


def floor_argv(kind: str, port: int, dsn: str | None = None) -> list[str]:
    argv = [sys.executable, str(Path(__file__).resolve()), "floor", "--kind", kind]
    argv += ["--port", str(port)]
    return argv + (["--dsn", dsn] if dsn else [])


# --------------------------------------------------------------------------- entry point


# --------------------------------------------------------------------------- databases


def asyncpg_dsn(url: str, database: str | None = None) -> str:
    """A SQLAlchemy PostgreSQL URL as a plain asyncpg DSN (optionally another database)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


async def _pg_admin(dsn: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        await conn.execute(sql, timeout=30)
    finally:
        await conn.close()


@contextlib.contextmanager
def throwaway_pg_database(pg_url: str) -> Iterator[str | None]:
    """callpool's URL of a fresh PostgreSQL database next to ``pg_url``, dropped
    afterwards; None (with a line saying why) when PostgreSQL is unreachable."""
    import asyncpg
    from sqlalchemy.engine import make_url

    admin = asyncpg_dsn(pg_url)
    try:
        asyncio.run(_pg_admin(admin, "SELECT 1"))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        where = f"{make_url(admin).host}:{make_url(admin).port}"
        print(f"PostgreSQL at {where} unreachable, skipped: {type(exc).__name__}: {exc}")
        yield None
        return
    name = f"cpbench_{os.getpid()}_{secrets.token_hex(3)}"
    asyncio.run(_pg_admin(admin, f'CREATE DATABASE "{name}"'))
    try:
        url = make_url(pg_url).set(drivername="postgresql+asyncpg", database=name)
        yield url.render_as_string(hide_password=False)
    finally:
        asyncio.run(_pg_admin(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def callpool_argv() -> list[str]:
    """How to run the ``callpool`` command of this venv."""
    script = Path(sys.executable).with_name("callpool")
    return [str(script)] if script.exists() else [sys.executable, "-m", "callpool.cli"]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True)
    floor = sub.add_parser("floor", help="serve a floor handler on 127.0.0.1")
    floor.add_argument("--kind", choices=("bare", "sqlite", "postgresql"), required=True)
    floor.add_argument("--port", type=int, required=True)
    floor.add_argument("--dsn", help="SQLite file path or asyncpg DSN")
    load = sub.add_parser("load", help="run the aiohttp load generator on a JSON spec")
    load.add_argument("spec", type=Path)
    args = parser.parse_args(argv)
    if args.command == "floor":
        serve_floor(args.kind, args.port, args.dsn)
    else:
        spec = json.loads(args.spec.read_text(encoding="utf-8"))
        result = asyncio.run(_aiohttp_load(spec))
        print(json.dumps(dataclasses.asdict(result)))


if __name__ == "__main__":
    main()
