"""Benchmark: number allocation (``visit``) and ``heartbeat`` on a real callpool server.

For each backend (a SQLite file, then PostgreSQL) it prepares a database with the CLI
(``db upgrade``, ``site add``, ``campaign add``, ``numbers import`` of ``--numbers``
pool numbers, timed), starts ``callpool serve`` on 127.0.0.1, and drives it from another process
(``wrk``, or an aiohttp client when wrk is missing) with ``--connections`` connections:

- ``visit``: new visitors (no visitor or session id), so every request leases a number;
- ``heartbeat``: the sessions of ``--sessions`` earlier visits, in turn.

Two floors run in the same way, each as its own one-process aiohttp server: a bare
handler answering constant JSON, and a handler doing one ``UPDATE ... RETURNING`` with
the backend's driver and no ORM. It prints req/s and p50/p99 latency of each, the ratios
the issue sets targets for, and PASS/FAIL per target; it exits 1 when any server
answered an error, and with ``--strict`` also when a target is missed.

    .venv/bin/python bench/allocate.py [--backend sqlite|postgresql|both] [--duration 8]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import aiohttp
from sqlalchemy import func, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _harness as h

from callpool.db.engine import create_engine
from callpool.db.tables import (
    Lease,
    PoolCounter,
    Session,
)

SITE = "bench"
CAMPAIGN = "main"
ORIGIN = "https://shop.example"
OWN_NUMBER = "+74951234567"
USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)
HEADERS = {
    "Content-Type": "text/plain;charset=UTF-8",
    "Origin": ORIGIN,
    "User-Agent": USER_AGENT,
}
VISIT_BODY = json.dumps({"url": f"{ORIGIN}/landing", "title": "Landing", "consent": True})
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
RATE_LIMITS = {
    "CALLPOOL_IP_RATE_PER_SECOND": "1000000",
    "CALLPOOL_IP_BURST": "1000000",
    "CALLPOOL_VISITOR_RATE_PER_SECOND": "1000000",
    "CALLPOOL_VISITOR_BURST": "1000000",
}


@dataclass(frozen=True, slots=True)
class Goal:
    """A ratio the issue asks for: ``value`` must be ``>=`` or ``<=`` ``limit``."""

    name: str
    value: Callable[[BackendReport], float]
    op: str
    limit: float
    aim: float | None = None

    def passed(self, report: BackendReport) -> bool:
        value = self.value(report)
        return value >= self.limit if self.op == ">=" else value <= self.limit


@dataclass(slots=True)
class BackendReport:
    backend: str
    results: dict[str, h.LoadResult] = field(default_factory=dict)
    # Rows written by the visit measurement, read back from the database.
    visit_sessions: int = 0
    visit_leases: int = 0
    exhausted: int = 0
    # One heartbeat per seeded session, 20 at a time, before the heartbeat measurement.
    first_beats_per_second: float = 0.0
    # `callpool numbers import` of the pool, wall clock including the CLI's start-up.
    import_seconds: float = 0.0
    problems: list[str] = field(default_factory=list)


GOALS = (
    Goal("visit req/s / db floor req/s", lambda r: _ratio(r, "visit", "db floor"), ">=", 0.4, 0.8),
    Goal("heartbeat req/s / bare req/s", lambda r: _ratio(r, "heartbeat", "bare floor"), ">=", 0.3),
    Goal(
        "visit p99 / db floor p99",
        lambda r: r.results["visit"].p99_ms / max(r.results["db floor"].p99_ms, 1e-9),
        "<=",
        5.0,
    ),
)


def _ratio(report: BackendReport, name: str, floor: str) -> float:
    return report.results[name].rps / max(report.results[floor].rps, 1e-9)


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True, slots=True)
class Options:
    backends: tuple[str, ...]
    duration: float
    warmup: float
    connections: int
    numbers: int
    sessions: int
    client: str
    threads: int
    pg_url: str
    log_level: str
    access_log: bool
    strict: bool
    keep_logs: Path | None


def parse_args(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        description="Benchmark visit/heartbeat against callpool serve and two floors."
    )
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per measurement")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before each")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--numbers", type=int, default=60_000, help="size of the number pool")
    parser.add_argument("--sessions", type=int, default=1_000, help="sessions for heartbeats")
    parser.add_argument("--client", choices=("auto", "wrk", "aiohttp"), default="auto")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("CALLPOOL_BENCH_PG_URL", DEFAULT_PG_URL),
        help="an existing PostgreSQL database; a throwaway one is created next to it",
    )
    parser.add_argument(
        "--log-level",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        default="INFO",
        help="callpool's log level",
    )
    parser.add_argument(
        "--access-log", action="store_true", help="callpool writes an access log line a request"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--keep-logs", type=Path, help="copy the server logs to this directory")
    args = parser.parse_args(argv)
    client = args.client
    if client == "auto":
        client = "wrk" if h.wrk_available() else "aiohttp"
    elif client == "wrk" and not h.wrk_available():
        parser.error("wrk is not installed (apt-get install wrk), use --client aiohttp")
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    return Options(
        backends=backends,
        duration=args.duration,
        warmup=args.warmup,
        connections=args.connections,
        numbers=args.numbers,
        sessions=args.sessions,
        client=client,
        threads=args.threads,
        pg_url=args.pg_url,
        log_level=args.log_level,
        access_log=args.access_log,
        strict=args.strict,
        keep_logs=args.keep_logs,
    )


# --------------------------------------------------------------------------- databases


@dataclass(frozen=True, slots=True)
class Database:
    backend: str
    url: str  # callpool's SQLAlchemy URL
    floor_dsn: str  # the floor's: a SQLite path or an asyncpg DSN


@contextlib.contextmanager
def database(backend: str, options: Options, workdir: Path) -> Iterator[Database | None]:
    """A fresh database for one backend, removed afterwards; None when unreachable."""
    if backend == "sqlite":
        yield Database(
            backend, f"sqlite+aiosqlite:///{workdir / 'callpool.db'}", str(workdir / "floor.db")
        )
        return
    with h.throwaway_pg_database(options.pg_url) as url:
        yield None if url is None else Database(backend, url, h.asyncpg_dsn(url))


def server_env(db: Database, options: Options) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLPOOL_")}
    env.update(RATE_LIMITS)
    env.update(
        CALLPOOL_DATABASE_URL=db.url,
        CALLPOOL_SCHEDULER_ENABLED="false",
        CALLPOOL_LOG_LEVEL=options.log_level,
        CALLPOOL_ACCESS_LOG="true" if options.access_log else "false",
    )
    return env


def cli(db: Database, options: Options, workdir: Path, *args: str) -> str:
    done = subprocess.run(
        [*h.callpool_argv(), *args],
        env=server_env(db, options),
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"callpool {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def prepare(db: Database, options: Options, workdir: Path) -> tuple[str, float]:
    """Schema, a site, a campaign with default hold, and the pool imported with
    ``callpool numbers import``; returns the site key and the import's seconds."""
    cli(db, options, workdir, "db", "upgrade")
    added = cli(
        db, options, workdir, "site", "add", SITE, "--origin", ORIGIN, "--number", OWN_NUMBER
    )
    match = re.search(r"snippet key (\S+)", added)
    if match is None:
        raise RuntimeError(f"no site key in {added!r}")
    cli(db, options, workdir, "campaign", "add", SITE, CAMPAIGN)
    csv_path = workdir / "numbers.csv"
    lines = [f"+7495{2_000_000 + i:07d},{SITE},{CAMPAIGN}" for i in range(options.numbers)]
    csv_path.write_text("number,site,campaign\n" + "\n".join(lines) + "\n")
    started = time.perf_counter()
    cli(db, options, workdir, "numbers", "import", str(csv_path))
    import_seconds = time.perf_counter() - started
    asyncio.run(_analyze(db.url))
    return match.group(1), import_seconds


async def _analyze(url: str) -> None:
    """On PostgreSQL, statistics for the new rows (autovacuum would take up to a minute)."""
    engine = create_engine(url)
    try:
        if engine.dialect.name == "postgresql":
            async with engine.begin() as conn:
                await conn.execute(text("ANALYZE"))
    finally:
        await engine.dispose()


async def _counts(url: str) -> tuple[int, int, int]:
    """(sessions, leases, exhausted visits), read in one statement: one snapshot."""
    exhausted = select(func.coalesce(func.sum(PoolCounter.count), 0)).where(
        PoolCounter.kind == "exhausted"
    )
    query = select(
        select(func.count()).select_from(Session).scalar_subquery(),
        select(func.count()).select_from(Lease).scalar_subquery(),
        exhausted.scalar_subquery(),
    )
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            row = (await conn.execute(query)).one()
    finally:
        await engine.dispose()
    return int(row[0]), int(row[1]), int(row[2])


def settle(url: str, timeout: float = 30.0) -> tuple[int, int, int]:
    """The counts once visits still in flight after a load run have finished."""
    deadline = time.monotonic() + timeout
    counts = asyncio.run(_counts(url))
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = asyncio.run(_counts(url))
        if now == counts:
            break
        counts = now
    return counts


async def seed_sessions(base: str, count: int) -> tuple[list[tuple[str, str]], list[str]]:
    """(visitor id, session id) of ``count`` visits that got a pool number, and failures."""
    sem = asyncio.Semaphore(20)
    seeded: list[tuple[str, str]] = []
    failures: list[str] = []

    async def one(session: aiohttp.ClientSession) -> None:
        async with sem, session.post(f"{base}/visit", data=VISIT_BODY, headers=HEADERS) as resp:
            data = await resp.json(content_type=None)
            if resp.status != 200:
                failures.append(f"{resp.status} {data}")
                return
        if data["numbers"][0]["number"] == OWN_NUMBER or data["ttl"] is None:
            failures.append(f"no pool number: {data}")
            return
        seeded.append((data["visitor_id"], data["session_id"]))

    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        await asyncio.gather(*(one(session) for _ in range(count)))
    return seeded, failures


async def first_beats(base: str, seeded: list[tuple[str, str]]) -> tuple[float, list[str]]:
    """One heartbeat per session, 20 at a time (each loads and extends its lease): the
    rate, and failures. Afterwards every measured heartbeat can be a cache hit."""
    sem = asyncio.Semaphore(20)
    failures: list[str] = []

    async def one(session: aiohttp.ClientSession, visitor_id: str, session_id: str) -> None:
        body = json.dumps({"visitor_id": visitor_id, "session_id": session_id})
        async with sem, session.post(f"{base}/heartbeat", data=body, headers=HEADERS) as resp:
            if resp.status != 200:
                failures.append(f"{resp.status} {await resp.text()}")

    started = time.perf_counter()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        await asyncio.gather(*(one(session, v, s) for v, s in seeded))
    return len(seeded) / (time.perf_counter() - started), failures


# --------------------------------------------------------------------------- the run


def _log_tail(server: h.ServerProcess, lines: int = 6) -> str:
    """The end of a server's log without its access log lines."""
    kept = [ln for ln in server.tail(5_000).splitlines() if " aiohttp.access " not in ln]
    return "\n".join(kept[-lines:])


def run_backend(db: Database, options: Options, workdir: Path) -> BackendReport:
    report = BackendReport(db.backend)

    def load(name: str, target: h.Target, server: h.ServerProcess) -> None:
        print(f"  {db.backend}: {name} ...", flush=True)
        result = h.measure(
            target,
            connections=options.connections,
            seconds=options.duration,
            warmup=options.warmup,
            client=options.client,
            threads=options.threads,
            workdir=workdir,
        )
        report.results[name] = result
        if result.errors:
            report.problems.append(
                f"{name}: {result.non_2xx} non-2xx answers and {result.socket_errors} socket "
                f"errors (--keep-logs DIR keeps the logs); {server.name} log ends with:\n"
                f"{_log_tail(server)}"
            )

    def floor_target(port: int) -> h.Target:
        return h.Target(f"http://{h.HOST}:{port}{h.FLOOR_PATH}", HEADERS, (VISIT_BODY,))

    # The database floor, on the same backend and driver.
    port = h.free_port()
    argv = h.floor_argv(db.backend, port, db.floor_dsn)
    with h.ServerProcess("db floor", argv, port=port, log_path=workdir / "floor-db.log") as srv:
        load("db floor", floor_target(port), srv)

    # callpool itself.
    print(f"  {db.backend}: preparing the database ({options.numbers} numbers) ...", flush=True)
    key, report.import_seconds = prepare(db, options, workdir)
    port = h.free_port()
    argv = [*h.callpool_argv(), "serve", "--host", h.HOST, "--port", str(port)]
    log = workdir / f"callpool-{db.backend}.log"
    env = server_env(db, options)
    with h.ServerProcess("callpool", argv, port=port, log_path=log, env=env, cwd=workdir) as srv:
        base = f"http://{h.HOST}:{port}/api/v1/t/{key}"
        seeded, failures = asyncio.run(seed_sessions(base, options.sessions))
        if failures:
            report.problems.append(
                f"seeding: {len(failures)} of {options.sessions} visits (20 at a time) "
                f"failed, e.g. {failures[0]}"
            )
        if not seeded:
            raise RuntimeError(f"no visit got a pool number:\n{_log_tail(srv)}")
        # Statistics for the tables the seeding filled, as autovacuum's analyze does once
        # 50 rows are in (this machine's PostgreSQL runs with autovacuum off). Planned on
        # empty tables, the foreign-key checks on visitors and sessions stay sequential
        # scans and a visit's cost grows with every row (1 ms to 9 ms in 12 s).
        asyncio.run(_analyze(db.url))
        before = settle(db.url)
        load("visit", h.Target(f"{base}/visit", HEADERS, (VISIT_BODY,)), srv)
        after = settle(db.url)
        report.first_beats_per_second, failures = asyncio.run(first_beats(base, seeded))
        if failures:
            report.problems.append(f"first heartbeats: {len(failures)} failed, e.g. {failures[0]}")
        beats = tuple(json.dumps({"visitor_id": v, "session_id": s}) for v, s in seeded)
        load("heartbeat", h.Target(f"{base}/heartbeat", HEADERS, beats), srv)
    report.visit_sessions = after[0] - before[0]
    report.visit_leases = after[1] - before[1]
    report.exhausted = after[2]
    if report.exhausted:
        report.problems.append(f"visit: the pool ran out {report.exhausted} times; raise --numbers")
    if report.visit_leases != report.visit_sessions:
        report.problems.append(
            f"visit: {report.visit_sessions} sessions but {report.visit_leases} leases"
        )

    # The bare floor.
    port = h.free_port()
    argv = h.floor_argv("bare", port)
    with h.ServerProcess("bare", argv, port=port, log_path=workdir / "floor-bare.log") as srv:
        load("bare floor", floor_target(port), srv)
    return report


def print_report(reports: list[BackendReport], options: Options) -> bool:
    """The table, the ratios and PASS/FAIL; True when every target passed."""
    print()
    print(
        f"{options.client}, {options.connections} connections, {options.duration:g} s "
        f"(+{options.warmup:g} s warm-up) per line; {platform.node()}, {os.cpu_count()} CPUs"
    )
    columns = ("req/s", "p50 ms", "p99 ms", "errors")
    print(f"{'backend':<11} {'measurement':<11} " + " ".join(f"{c:>8}" for c in columns))
    for report in reports:
        for name in ("bare floor", "db floor", "visit", "heartbeat"):
            r = report.results[name]
            print(
                f"{report.backend:<11} {name:<11} {r.rps:>8.0f} {r.p50_ms:>8.2f} "
                f"{r.p99_ms:>8.2f} {r.errors:>7}"
            )
    print()
    passed = True
    for report in reports:
        print(
            f"{report.backend}: the visit run wrote {report.visit_sessions} sessions and "
            f"{report.visit_leases} leases ({report.exhausted} exhausted); first heartbeats "
            f"(lease load + extend, 20 at a time): {report.first_beats_per_second:.0f}/s; "
            f"`numbers import` of {options.numbers} numbers: {report.import_seconds:.1f} s"
        )
        for goal in GOALS:
            value = goal.value(report)
            ok = goal.passed(report)
            passed &= ok
            aim = f", aim {goal.aim:g}" if goal.aim is not None else ""
            verdict = "PASS" if ok else "FAIL"
            print(
                f"  {verdict}  {goal.name:<30} {value:6.2f}  (target {goal.op} {goal.limit:g}{aim})"
            )
    return passed


def _raise_on_term(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_on_term)
    started = time.monotonic()
    reports: list[BackendReport] = []
    with tempfile.TemporaryDirectory(prefix="cpbench-") as tmp:
        for backend in options.backends:
            workdir = Path(tmp) / backend
            workdir.mkdir()
            print(f"{backend}:", flush=True)
            try:
                with database(backend, options, workdir) as db:
                    if db is not None:
                        reports.append(run_backend(db, options, workdir))
            finally:
                if options.keep_logs is not None:
                    options.keep_logs.mkdir(parents=True, exist_ok=True)
                    for log in workdir.glob("*.log"):
                        shutil.copy(log, options.keep_logs / log.name)
    if not reports:
        print("no backend was measured")
        return 1
    passed = print_report(reports, options)
    problems = [f"{r.backend} {p}" for r in reports for p in r.problems]
    for problem in problems:
        print(f"ERROR: {problem}", file=sys.stderr)
    print(f"\ndone in {time.monotonic() - started:.0f} s")
    if problems:
        return 1
    return 1 if options.strict and not passed else 0


if __name__ == "__main__":
    sys.exit(main())
