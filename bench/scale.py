"""Benchmark: 1, 2 and 4 ``callpool serve`` processes on one port against one PostgreSQL.

Scale-out is N callpool processes on one PostgreSQL. Here the N processes share one
port through ``SO_REUSEPORT`` (``CALLPOOL_REUSE_PORT=true``; Linux spreads the incoming
connections over them), which is what a load balancer in front of N hosts does too.

For each N in ``--processes``, in turn: a fresh throwaway PostgreSQL database prepared
as ``allocate.py`` prepares one (``db upgrade``, a site, a campaign, ``--numbers`` pool
numbers, ``ANALYZE``), N ``callpool serve`` processes on one port, ``--sessions``
seeding visits and ``ANALYZE`` again (as allocate does), then the ``visit`` load of
allocate.py: new visitors, so every request creates a visitor and a session and leases
a number. It prints visits/s, p50 and p99 per N with the ratio to one process, the
load average as the run began and how busy the machine's CPUs were during it (other
work on the machine shows there), and the CPU time of the callpool processes (each
one's share shows the kernel spreading the connections) and of PostgreSQL per visit. It
exits 1 when a server answered an error, the pool ran out, or sessions and leases
disagree.

    .venv/bin/python bench/scale.py [--processes 1,2,4] [--duration 8] [--rounds 1]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _harness as h
import allocate as a

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- options


@dataclass(frozen=True, slots=True)
class Options:
    processes: tuple[int, ...]
    rounds: int
    duration: float
    warmup: float
    connections: int
    numbers: int
    sessions: int
    client: str
    threads: int
    pg_url: str
    log_level: str
    keep_logs: Path | None

    def allocate_options(self) -> a.Options:
        """allocate.py's options, for its database preparation and server settings."""
        return a.Options(
            backends=("postgresql",),
            duration=self.duration,
            warmup=self.warmup,
            connections=self.connections,
            numbers=self.numbers,
            sessions=self.sessions,
            client=self.client,
            threads=self.threads,
            pg_url=self.pg_url,
            log_level=self.log_level,
            access_log=False,
            strict=False,
            keep_logs=self.keep_logs,
        )


def parse_args(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        description="visits/s and p99 of 1, 2 and 4 callpool serve processes on one PostgreSQL"
    )
    parser.add_argument(
        "--processes", default="1,2,4", help="comma-separated process counts (default 1,2,4)"
    )
    parser.add_argument("--rounds", type=int, default=1, help="repeat the whole series")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per measurement")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before each")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--numbers", type=int, default=60_000, help="pool size per database")
    parser.add_argument("--sessions", type=int, default=1_000, help="seeding visits before")
    parser.add_argument("--client", choices=("auto", "wrk", "aiohttp"), default="auto")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("CALLPOOL_BENCH_PG_URL", a.DEFAULT_PG_URL),
        help="an existing PostgreSQL database; a throwaway one is created next to it per run",
    )
    parser.add_argument(
        "--log-level", choices=("DEBUG", "INFO", "WARNING", "ERROR"), default="INFO"
    )
    parser.add_argument("--keep-logs", type=Path, help="copy the server logs to this directory")
    args = parser.parse_args(argv)
    try:
        processes = tuple(int(n) for n in args.processes.split(","))
    except ValueError:
        parser.error(f"--processes: not a list of numbers: {args.processes!r}")
    if not processes or min(processes) < 1:
        parser.error("--processes: each count must be 1 or more")
    client = args.client
    if client == "auto":
        client = "wrk" if h.wrk_available() else "aiohttp"
    elif client == "wrk" and not h.wrk_available():
        parser.error("wrk is not installed (apt-get install wrk), use --client aiohttp")
    return Options(
        processes=processes,
        rounds=max(1, args.rounds),
        duration=args.duration,
        warmup=args.warmup,
        connections=args.connections,
        numbers=args.numbers,
        sessions=args.sessions,
        client=client,
        threads=args.threads,
        pg_url=args.pg_url,
        log_level=args.log_level,
        keep_logs=args.keep_logs,
    )


# --------------------------------------------------------------------------- CPU time


def machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of all CPUs since boot, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields[:8])  # user .. steal; guest time is already in user
    return total - idle, total


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of one process (all its threads); 0 once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    # The command name may hold spaces; the fields after its closing parenthesis don't.
    rest = stat.rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / CLOCK_TICKS


async def _backend_pids(dsn: str, database: str) -> list[int]:
    import asyncpg

    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            database,
        )
    finally:
        await conn.close()
    return [int(row["pid"]) for row in rows]


@dataclass(frozen=True, slots=True)
class CpuSnapshot:
    machine: tuple[int, int]
    servers: tuple[float, ...]
    postgres: dict[int, float]

    @classmethod
    def take(cls, server_pids: Sequence[int], pg_pids: Sequence[int]) -> CpuSnapshot:
        return cls(
            machine_ticks(),
            tuple(process_cpu_seconds(pid) for pid in server_pids),
            {pid: process_cpu_seconds(pid) for pid in pg_pids},
        )


@dataclass(frozen=True, slots=True)
class CpuUse:
    machine_busy: float  # 0..1 of all CPUs
    servers: tuple[float, ...]  # CPU seconds per callpool process
    postgres: float  # CPU seconds of the database's backends

    @classmethod
    def between(cls, before: CpuSnapshot, after: CpuSnapshot) -> CpuUse:
        busy = after.machine[0] - before.machine[0]
        total = after.machine[1] - before.machine[1]
        postgres = sum(cpu - before.postgres.get(pid, 0.0) for pid, cpu in after.postgres.items())
        return cls(
            busy / total if total else 0.0,
            tuple(b - a for a, b in zip(before.servers, after.servers, strict=True)),
            postgres,
        )


# --------------------------------------------------------------------------- processes


def listening_sockets(port: int) -> int:
    """How many IPv4 sockets listen on ``port`` (each SO_REUSEPORT process has its own)."""
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
            count += 1
    return count


@contextlib.contextmanager
def serve_processes(
    count: int, db: a.Database, options: Options, workdir: Path
) -> Iterator[list[h.ServerProcess]]:
    """``count`` callpool processes listening on one port, stopped afterwards.

    Connecting proves only that *some* process listens, so readiness is the number of
    listening sockets on the port: one per process.
    """
    port = h.free_port()
    env = a.server_env(db, options.allocate_options())
    env["CALLPOOL_REUSE_PORT"] = "true"
    argv = [*h.callpool_argv(), "serve", "--host", h.HOST, "--port", str(port)]
    servers = [
        h.ServerProcess(
            f"callpool #{i + 1}",
            argv,
            port=port,
            log_path=workdir / f"callpool-{count}x-{i + 1}.log",
            env=env,
            cwd=workdir,
        )
        for i in range(count)
    ]
    try:
        for server in servers:
            server.start()
        deadline = time.monotonic() + 30
        while listening_sockets(port) < count:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{listening_sockets(port)} of {count} processes listen on {port}:\n"
                    + "\n".join(s.tail(5) for s in servers)
                )
            time.sleep(0.05)
        yield servers
    finally:
        for server in servers:
            server.stop()


# --------------------------------------------------------------------------- one run


@dataclass(slots=True)
class Run:
    round: int
    processes: int
    result: h.LoadResult | None = None
    cpu: CpuUse | None = None
    # The machine's 1-minute load average as the measured run began: other work on it.
    load_average: float = 0.0
    visit_sessions: int = 0
    visit_leases: int = 0
    exhausted: int = 0
    problems: list[str] = field(default_factory=list)


def run_once(count: int, round_no: int, options: Options, workdir: Path) -> Run | None:
    run = Run(round_no, count)
    with h.throwaway_pg_database(options.pg_url) as url:
        if url is None:
            return None
        db = a.Database("postgresql", url, h.asyncpg_dsn(url))
        print(f"  {count} process(es): preparing ({options.numbers} numbers) ...", flush=True)
        key, _import_seconds = a.prepare(db, options.allocate_options(), workdir)
        with serve_processes(count, db, options, workdir) as servers:
            base = f"http://{h.HOST}:{servers[0].port}/api/v1/t/{key}"
            _seeded, failures = asyncio.run(a.seed_sessions(base, options.sessions))
            if failures:
                run.problems.append(f"seeding: {len(failures)} failed, e.g. {failures[0]}")
            asyncio.run(a._analyze(db.url))
            before = a.settle(db.url)
            target = h.Target(f"{base}/visit", a.HEADERS, (a.VISIT_BODY,))
            print(f"  {count} process(es): visit ...", flush=True)
            load_args = {
                "connections": options.connections,
                "client": options.client,
                "threads": options.threads,
                "workdir": workdir,
                "warmup": 0.0,
            }
            h.measure(target, seconds=options.warmup, **load_args)
            database = url.rsplit("/", 1)[1]
            pg_pids = asyncio.run(_backend_pids(h.asyncpg_dsn(options.pg_url), database))
            server_pids = [s.pid or 0 for s in servers]
            run.load_average = os.getloadavg()[0]
            start = CpuSnapshot.take(server_pids, pg_pids)
            run.result = h.measure(target, seconds=options.duration, **load_args)
            run.cpu = CpuUse.between(start, CpuSnapshot.take(server_pids, pg_pids))
            after = a.settle(db.url)
            if run.result.errors:
                tails = "\n".join(a._log_tail(s, 3) for s in servers)
                run.problems.append(
                    f"{run.result.non_2xx} non-2xx answers and {run.result.socket_errors} "
                    f"socket errors; the logs end with:\n{tails}"
                )
    run.visit_sessions = after[0] - before[0]
    run.visit_leases = after[1] - before[1]
    run.exhausted = after[2]
    if run.exhausted:
        run.problems.append(f"the pool ran out {run.exhausted} times; raise --numbers")
    if run.visit_leases != run.visit_sessions:
        run.problems.append(f"{run.visit_sessions} sessions but {run.visit_leases} leases")
    return run


# --------------------------------------------------------------------------- report


def print_report(runs: list[Run], options: Options) -> None:
    print()
    print(
        f"{options.client}, {options.connections} connections, {options.duration:g} s "
        f"(+{options.warmup:g} s warm-up) per line; one PostgreSQL; {platform.node()}, "
        f"{os.cpu_count()} CPUs"
    )
    header = (
        f"{'round':>5} {'procs':>5} {'visits/s':>9} {'ratio':>6} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'p99 ratio':>9} {'errors':>6} {'load':>5} {'CPU busy':>8} {'callpool ms/visit':>17} "
        f"{'pg ms/visit':>11}  callpool CPU s per process"
    )
    print(header)
    baseline: dict[int, h.LoadResult] = {}
    for run in runs:
        r, cpu = run.result, run.cpu
        if r is None or cpu is None:
            continue
        if run.processes == 1:
            baseline[run.round] = r
        base = baseline.get(run.round)
        ratio = f"{r.rps / base.rps:6.2f}" if base and base.rps else f"{'-':>6}"
        p99_ratio = f"{r.p99_ms / base.p99_ms:9.2f}" if base and base.p99_ms else f"{'-':>9}"
        visits = max(r.requests, 1)
        server_ms = sum(cpu.servers) / visits * 1000
        pg_ms = cpu.postgres / visits * 1000
        spread = ", ".join(f"{s:.1f}" for s in cpu.servers)
        print(
            f"{run.round:>5} {run.processes:>5} {r.rps:>9.0f} {ratio} {r.p50_ms:>7.1f} "
            f"{r.p99_ms:>7.1f} {p99_ratio} {r.errors:>6} {run.load_average:>5.1f} "
            f"{cpu.machine_busy:>8.0%} "
            f"{server_ms:>17.2f} {pg_ms:>11.2f}  {spread}"
        )
    print()
    for run in runs:
        print(
            f"round {run.round}, {run.processes} process(es): {run.visit_sessions} sessions, "
            f"{run.visit_leases} leases, {run.exhausted} exhausted"
        )


def _raise_on_term(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_on_term)
    started = time.monotonic()
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="cpscale-") as tmp:
        for round_no in range(1, options.rounds + 1):
            for count in options.processes:
                workdir = Path(tmp) / f"r{round_no}-{count}"
                workdir.mkdir()
                print(f"round {round_no}, {count} process(es):", flush=True)
                try:
                    run = run_once(count, round_no, options, workdir)
                finally:
                    if options.keep_logs is not None:
                        options.keep_logs.mkdir(parents=True, exist_ok=True)
                        for log in workdir.glob("*.log"):
                            shutil.copy(log, options.keep_logs / f"r{round_no}-{log.name}")
                if run is None:
                    print("PostgreSQL is needed for this benchmark")
                    return 1
                runs.append(run)
    print_report(runs, options)
    problems = [f"round {r.round}, {r.processes} processes: {p}" for r in runs for p in r.problems]
    for problem in problems:
        print(f"ERROR: {problem}", file=sys.stderr)
    print(f"\ndone in {time.monotonic() - started:.0f} s")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
