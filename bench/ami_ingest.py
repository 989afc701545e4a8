"""Benchmark: AMI ingest through the whole listener path, against panoramisk alone.

A stream of ``--calls`` calls is built from the captures in ``tests/fixtures/ami``
(renumbered copies, :func:`~callpool.pbx.sim.streams.renumbered_stream`) and written to a
temp file. For every measurement a fresh :class:`~callpool.pbx.sim.server.AmiSimulator` process
(``speed=0``: as fast as it can write) serves that stream on 127.0.0.1 and a fresh
receiver process logs in and takes all of it; only the receiver is measured, from its
first event:

- ``splitter``: callpool's ``FrameSplitter`` on a bare asyncio protocol (the ceiling of
  a Python AMI client, and proof that the simulator is not the bottleneck);
- ``panoramisk``: a plain panoramisk ``Manager`` with one no-op callback on ``*``;
- ``connection``: callpool's ``AmiConnection`` (panoramisk, header decoding, the queue and
  the consumer task) with a no-op handler;
- ``listener``: ``PbxListener`` on a migrated database with the captures' tracking numbers
  (receive, parse, journal with fsync, assemble, write raw events and calls), until every
  event is received **and** written, and every call is in the ``calls`` table after a
  last ``flush(now=...)`` past the CDR grace.

Per backend, ``--repeat`` rounds run panoramisk, connection and listener in turn, and
the best run of each is kept (the machine is shared: the least disturbed run is the
truest). The listener's rows are checked against the pure assembly of the same stream:
the same linkedids, the same direction/disposition/answered_by, no duplicates, every
event that matters stored. The ratio the issue sets is listener events/s over panoramisk
events/s on the same backend in the same run (target >= 0.5). Events per second of the
receiver's own CPU time are printed too: steadier than wall time on a busy machine.

    .venv/bin/python bench/ami_ingest.py [--backend sqlite|postgresql|both] [--calls 3000]
        [--repeat 2] [--pg-url postgresql://postgres@127.0.0.1:5432/test] [--spy DIR]
        [--keep-logs DIR] [--strict]

As a script it is also the entry point of its child processes (``sim`` and ``receive``);
that is why it is past 400 lines: the run, the simulator and the four receivers are one
file, so what each process does can be read side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import logging
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

from sqlalchemy import delete, func, select

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _harness as h

from callpool.pbx.sim.streams import renumbered_stream, split_frames

ROOT = Path(__file__).resolve().parent.parent
CAPTURES = ROOT / "tests" / "fixtures" / "ami"
PBX = "bench"
USERNAME, SECRET = "callpool", "secret"
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
TARGET = 0.5
# The tracking numbers the captures' inbound calls dial, so inbound calls are attributed
# as in production (number and lease look-ups; no leases exist, so "unattributed").
TRACKING_NUMBERS = [f"+7495000000{i}" for i in range(1, 10)] + ["+74950000010"]


# --------------------------------------------------------------------------- the stream


@dataclass(frozen=True, slots=True)
class Stream:
    path: Path
    events: int  # frames, all of them events
    matter: int  # events the assembly folds (journalled and stored by the listener)
    calls: int  # calls the pure assembly makes of it
    linkedids: int  # distinct Linkedid of Newchannel events (count_calls)
    shape_digest: str  # of the sorted (linkedid, direction, disposition, answered_by)
    megabytes: float


def shape_digest(rows: Iterable[tuple[Any, ...]]) -> str:
    text = "\n".join("|".join(str(v) for v in row) for row in sorted(rows))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def build_stream(calls: int, path: Path) -> Stream:
    from callpool.pbx.assembly.calls import assemble_calls
    from callpool.pbx.assembly.dialplan import PbxDialplan
    from callpool.pbx.assembly.events import parse_message
    from callpool.pbx.call_store import DISPOSITION
    from callpool.pbx.listener import MATTERS
    from callpool.pbx.sim.streams import count_calls, frame_name

    frames = renumbered_stream(sorted(CAPTURES.glob("*.ami")), calls)
    path.write_bytes(b"".join(frames))
    start = datetime.now(UTC)
    events = (
        (parse_message(frame), start + timedelta(milliseconds=i)) for i, frame in enumerate(frames)
    )
    assembled = assemble_calls(events, PbxDialplan(pbx=PBX))
    matter = {name.encode() for name in MATTERS}
    return Stream(
        path=path,
        events=len(frames),
        matter=sum(1 for frame in frames if frame_name(frame) in matter),
        calls=len(assembled),
        linkedids=count_calls(frames),
        shape_digest=shape_digest(
            (c.linkedid, c.direction, DISPOSITION[c.outcome], c.answered_by) for c in assembled
        ),
        megabytes=sum(map(len, frames)) / 1e6,
    )


# --------------------------------------------------------------------------- children


async def serve_sim(frames: list[bytes], port: int) -> None:
    """The AMI server: plays ``frames`` once, as fast as it can, to whoever logs in."""
    from callpool.pbx.sim.server import AmiSimulator

    sim = AmiSimulator(
        frames, port=port, speed=0.0, fully_booted=False, username=USERNAME, secret=SECRET
    )
    async with sim:
        await asyncio.Event().wait()


class Counter:
    """What every receiver does per event: count, note the first, wake at the last."""

    __slots__ = ("count", "cpu", "done", "first", "last", "total")

    def __init__(self, total: int) -> None:
        self.total = total
        self.count = 0
        self.first = 0.0
        self.last = 0.0
        self.cpu = 0.0
        self.done = asyncio.get_running_loop().create_future()

    def tick(self) -> None:
        self.count += 1
        if self.count == 1:
            self.first = time.perf_counter()
            self.cpu = time.process_time()
        if self.count == self.total:
            self.last = time.perf_counter()
            self.cpu = time.process_time() - self.cpu
            self.done.set_result(None)

    async def wait(self, within: float) -> dict[str, Any]:
        try:
            await asyncio.wait_for(asyncio.shield(self.done), within)
        except TimeoutError:
            raise SystemExit(f"{self.count} of {self.total} events in {within:.0f} s") from None
        return {"seconds": self.last - self.first, "cpu_seconds": self.cpu, "events": self.count}


async def receive_splitter(port: int, total: int, within: float) -> dict[str, Any]:
    from callpool.pbx.assembly.events import AmiMessage, FrameSplitter

    counter = Counter(total)

    class Protocol(asyncio.Protocol):
        def __init__(self) -> None:
            self.splitter = FrameSplitter()

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            login = f"Action: Login\r\nUsername: {USERNAME}\r\nSecret: {SECRET}\r\n\r\n"
            assert isinstance(transport, asyncio.WriteTransport)
            transport.write(login.encode())

        def data_received(self, data: bytes) -> None:
            for msg in self.splitter.feed(data):
                if isinstance(msg, AmiMessage) and msg.event:
                    counter.tick()

    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_connection(Protocol, h.HOST, port)
    try:
        return await counter.wait(within)
    finally:
        transport.close()


async def receive_panoramisk(port: int, total: int, within: float) -> dict[str, Any]:
    from panoramisk import Manager

    counter = Counter(total)
    tick = counter.tick

    def on_event(_manager: Any, _message: Any) -> None:
        tick()

    manager = Manager(host=h.HOST, port=port, username=USERNAME, secret=SECRET, ping_delay=3600)
    manager.register_event("*", on_event)
    await manager.connect()
    try:
        return await counter.wait(within)
    finally:
        manager.close()


async def receive_connection(port: int, total: int, within: float) -> dict[str, Any]:
    from pydantic import SecretStr

    from callpool.pbx.ami import AmiConfig, AmiConnection, Headers

    counter = Counter(total)
    tick = counter.tick

    async def handler(_headers: Headers, _received_at: float) -> None:
        tick()

    config = AmiConfig(PBX, h.HOST, port, USERNAME, SecretStr(SECRET))
    async with AmiConnection(config, handler):
        return await counter.wait(within)


async def receive_listener(
    port: int, total: int, within: float, url: str, journal_dir: Path
) -> dict[str, Any]:
    from pydantic import SecretStr

    from callpool.db.engine import connection, create_engine
    from callpool.db.tables import AmiEvent, Call
    from callpool.pbx.listener import PbxListener
    from callpool.settings import PbxSettings

    pbx = PbxSettings(name=PBX, host=h.HOST, port=port, username=USERNAME, secret=SecretStr(SECRET))
    engine = create_engine(url)
    listener = PbxListener(pbx, engine, journal_dir, region="RU")
    stats = listener.stats
    await listener.start()
    try:
        async with asyncio.timeout(within):
            # The listener has no per-event hook for us: poll its counters, every 1 ms for
            # the first event, then every 10 ms (the resolution of the end time; polling
            # every 1 ms would cost the listener a few % of its CPU).
            while stats.events == 0:  # noqa: ASYNC110
                await asyncio.sleep(0.001)
            first, first_cpu = time.perf_counter(), time.process_time()
            while stats.events < total:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            received = time.perf_counter()
            # Every call's CDR grace has run out by then, so flush finishes them all.
            later = datetime.now(UTC) + timedelta(seconds=10)
            while not await listener.flush(now=later) or stats.events_written < stats.journalled:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            written, written_cpu = time.perf_counter(), time.process_time()
    except TimeoutError:
        raise SystemExit(
            f"listener: {stats.events} of {total} events received, {stats.events_written} of "
            f"{stats.journalled} journalled written, in {within:.0f} s"
        ) from None
    finally:
        await listener.close()
    result: dict[str, Any] = {
        "seconds": written - first,
        "cpu_seconds": written_cpu - first_cpu,
        "receive_seconds": received - first,
        "events": stats.events,
        "journalled": stats.journalled,
        "events_written": stats.events_written,
        "calls_written": stats.calls_written,
        "rejected": stats.rejected,
        "write_failures": stats.write_failures,
        "bad_events": listener.assembler.stats.bad_events,
    }
    async with connection(engine) as conn:
        rows = (
            await conn.execute(
                select(Call.linkedid, Call.direction, Call.disposition, Call.answered_by).where(
                    Call.pbx == PBX
                )
            )
        ).all()
        result["stored_events"] = await conn.scalar(
            select(func.count()).select_from(AmiEvent).where(AmiEvent.pbx == PBX)
        )
    await engine.dispose()
    result["stored_calls"] = len(rows)
    result["distinct_linkedids"] = len({row[0] for row in rows})
    result["shape_digest"] = shape_digest(tuple(row) for row in rows)
    return result


def child_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="ami_ingest.py (child)")
    sub = parser.add_subparsers(dest="command", required=True)
    sim = sub.add_parser("sim")
    sim.add_argument("--stream", type=Path, required=True)
    sim.add_argument("--port", type=int, required=True)
    rec = sub.add_parser("receive")
    rec.add_argument("mode", choices=("splitter", "panoramisk", "connection", "listener"))
    rec.add_argument("--port", type=int, required=True)
    rec.add_argument("--events", type=int, required=True)
    rec.add_argument("--within", type=float, required=True)
    rec.add_argument("--db-url")
    rec.add_argument("--journal", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.command == "sim":
        asyncio.run(serve_sim(split_frames(args.stream.read_bytes()), args.port))
        return
    if args.mode == "listener":
        work = receive_listener(args.port, args.events, args.within, args.db_url, args.journal)
    else:
        receiver = {
            "splitter": receive_splitter,
            "panoramisk": receive_panoramisk,
            "connection": receive_connection,
        }[args.mode]
        work = receiver(args.port, args.events, args.within)
    print(json.dumps(asyncio.run(work)))


# --------------------------------------------------------------------------- databases


@contextlib.contextmanager
def database(backend: str, pg_url: str, workdir: Path) -> Iterator[str | None]:
    """A fresh database URL for one backend, removed afterwards; None when unreachable."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{workdir / 'callpool.db'}"
        return
    with h.throwaway_pg_database(pg_url) as url:
        yield url


def _callpool(url: str, workdir: Path, *args: str) -> None:
    argv = h.callpool_argv()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLPOOL_")}
    env["CALLPOOL_DATABASE_URL"] = url
    done = subprocess.run(
        [*argv, *args], env=env, cwd=workdir, capture_output=True, text=True, timeout=120
    )
    if done.returncode != 0:
        raise RuntimeError(f"callpool {' '.join(args)} failed: {done.stderr.strip()}")


def prepare(url: str, workdir: Path) -> None:
    """Schema, a site and a campaign, and the tracking numbers the captures dial."""
    _callpool(url, workdir, "db", "upgrade")
    _callpool(url, workdir, "site", "add", "shop", "--origin", "https://shop.example")
    _callpool(url, workdir, "campaign", "add", "shop", "main")
    numbers = workdir / "numbers.csv"
    numbers.write_text(
        "number,site,campaign\n" + "".join(f"{n},shop,main\n" for n in TRACKING_NUMBERS)
    )
    _callpool(url, workdir, "numbers", "import", str(numbers))


# --------------------------------------------------------------------------- running


@dataclass(slots=True)
class Row:
    """One path on one backend: every run of it, and the best one."""

    backend: str
    path: str
    calls: int
    runs: list[dict[str, Any]] = field(default_factory=list)
    baseline: Row | None = None  # the panoramisk row this one is compared with

    @property
    def best(self) -> dict[str, Any]:
        return min(self.runs, key=lambda run: float(run["seconds"]))

    @property
    def events(self) -> int:
        return int(self.best["events"])

    @property
    def seconds(self) -> float:
        return float(self.best["seconds"])

    @property
    def cpu_seconds(self) -> float:
        return min(float(run["cpu_seconds"]) for run in self.runs)

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    @property
    def calls_per_second(self) -> float:
        return self.calls / self.seconds if self.seconds > 0 else 0.0

    @property
    def events_per_cpu_second(self) -> float:
        """Events per second of the receiver process's own CPU time (all its threads)."""
        return self.events / self.cpu_seconds if self.cpu_seconds > 0 else 0.0

    @property
    def ratio(self) -> float | None:
        if self.baseline is None:
            return None
        return self.events_per_second / max(self.baseline.events_per_second, 1e-9)

    @property
    def cpu_ratio(self) -> float | None:
        if self.baseline is None:
            return None
        return self.events_per_cpu_second / max(self.baseline.events_per_cpu_second, 1e-9)


def measure(
    mode: str,
    stream: Stream,
    workdir: Path,
    *,
    spy: Path | None = None,
    db_url: str | None = None,
    label: str = "",
) -> dict[str, Any]:
    """Start a simulator process, run one receiver process against it, return its JSON."""
    port = h.free_port()
    tag = f"{label or mode}-{mode}"
    sim = h.ServerProcess(
        "simulator",
        [sys.executable, __file__, "sim", "--stream", str(stream.path), "--port", str(port)],
        port=port,
        log_path=workdir / f"sim-{tag}.log",
    )
    within = max(120.0, stream.events / 2_000)
    argv = [sys.executable, __file__, "receive", mode, "--port", str(port)]
    argv += ["--events", str(stream.events), "--within", str(within)]
    if db_url is not None:
        journal = workdir / f"journal-{tag}"
        argv += ["--db-url", db_url, "--journal", str(journal)]
    if spy is not None:
        spy.mkdir(parents=True, exist_ok=True)
        out = spy / f"{tag}.txt"
        argv = [_py_spy(), "record", "-r", "250", "-f", "raw", "-o", str(out), "--", *argv]
    with sim:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=within + 60)
    log = workdir / f"receive-{tag}.log"
    log.write_text(done.stderr)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{mode} receiver failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return dict(json.loads(lines[-1]))


def _py_spy() -> str:
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy") or "py-spy"


def check_listener(result: dict[str, Any], stream: Stream) -> list[str]:
    """What the listener stored against the pure assembly of the same stream."""
    problems = []
    expected = {
        "events": stream.events,
        "journalled": stream.matter,
        "events_written": stream.matter,
        "stored_events": stream.matter,
        "stored_calls": stream.calls,
        "distinct_linkedids": stream.calls,
        "shape_digest": stream.shape_digest,
        "rejected": 0,
        "bad_events": 0,
    }
    for key, want in expected.items():
        if result.get(key) != want:
            problems.append(f"{key}: {result.get(key)} (expected {want})")
    return problems


async def _wipe(url: str) -> None:
    """Empty what a listener run wrote, so the next run starts from the same database."""
    from callpool.db.engine import connection, create_engine
    from callpool.db.tables import AmiEvent, Call

    engine = create_engine(url)
    try:
        async with connection(engine) as conn:
            await conn.execute(delete(Call).where(Call.pbx == PBX))
            await conn.execute(delete(AmiEvent).where(AmiEvent.pbx == PBX))
    finally:
        await engine.dispose()


def run(options: argparse.Namespace, stream: Stream, workdir: Path) -> tuple[list[Row], list[str]]:
    """Per backend, ``--repeat`` rounds of panoramisk, connection, listener, in turn."""
    rows: list[Row] = []
    problems: list[str] = []

    def measured(row: Row, result: dict[str, Any]) -> None:
        row.runs.append(result)
        rate = result["events"] / result["seconds"]
        print(f"  {row.path:<12} {rate:>9,.0f} events/s  {result['seconds']:6.2f} s", flush=True)

    print("floor:", flush=True)
    splitter = Row("-", "splitter", stream.calls)
    measured(splitter, measure("splitter", stream, workdir))
    rows.append(splitter)
    for backend in options.backends:
        print(f"{backend}:", flush=True)
        bdir = workdir / backend
        bdir.mkdir()
        with database(backend, options.pg_url, bdir) as url:
            if url is None:
                continue
            prepare(url, bdir)
            base = Row(backend, "panoramisk", stream.calls)
            connection = Row(backend, "connection", stream.calls, baseline=base)
            listener = Row(backend, "listener", stream.calls, baseline=base)
            rows += [base, connection, listener]
            for round_ in range(options.repeat):
                label = f"{backend}{round_}"
                measured(base, measure("panoramisk", stream, bdir, label=label))
                measured(connection, measure("connection", stream, bdir, label=label))
                if round_:
                    asyncio.run(_wipe(url))
                spy = options.spy if round_ == 0 else None
                result = measure("listener", stream, bdir, spy=spy, db_url=url, label=label)
                measured(listener, result)
                problems += [f"{label} listener: {p}" for p in check_listener(result, stream)]
    return rows, problems


def print_report(rows: list[Row], stream: Stream, repeat: int) -> bool:
    """The table (best run of each path), PASS/FAIL per backend; True when all passed."""
    print()
    print(
        f"{stream.events:,} events ({stream.matter:,} folded), {stream.calls:,} calls, "
        f"{stream.megabytes:.0f} MB; best of {repeat} per path; {platform.node()}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )
    head = ["backend", "path", "events", "calls", "seconds", "events/s", "calls/s", "ratio"]
    head += ["ev/cpu-s", "cpu ratio"]
    print(f"{head[0]:<11} {head[1]:<11}" + "".join(f" {c:>9}" for c in head[2:]))
    passed = True
    for r in rows:
        ratio, cpu_ratio = r.ratio, r.cpu_ratio
        verdict = ""
        if r.path == "listener" and ratio is not None:
            ok = ratio >= TARGET
            passed &= ok
            verdict = "PASS" if ok else "FAIL"
        print(
            f"{r.backend:<11} {r.path:<11} {r.events:>9,} {r.calls:>9,} {r.seconds:>9.2f} "
            f"{r.events_per_second:>9,.0f} {r.calls_per_second:>9,.0f} "
            f"{'' if ratio is None else f'{ratio:.2f}':>9} {r.events_per_cpu_second:>9,.0f} "
            f"{'' if cpu_ratio is None else f'{cpu_ratio:.2f}':>9} {verdict}"
        )
    for r in rows:
        if r.path == "listener":
            d = r.best
            print(
                f"{r.backend} listener: received all in {d['receive_seconds']:.2f} s, written "
                f"{r.seconds - d['receive_seconds']:.2f} s later; {d['stored_calls']:,} calls "
                f"and {d['stored_events']:,} raw events stored, {d['calls_written']:,} call "
                f"writes, {d['write_failures']} failed writes"
            )
    print(
        f"target: listener events/s >= {TARGET} x panoramisk alone, same backend, same run. "
        "ev/cpu-s: events per second of the receiver's own CPU time (all its threads; not "
        "the simulator's or PostgreSQL's), steadier than wall time on a busy machine"
    )
    return passed


def _raise_on_term(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("sim", "receive"):
        child_main(argv)
        return 0
    parser = argparse.ArgumentParser(
        description="AMI ingest: the listener's whole path against panoramisk alone."
    )
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--calls", type=int, default=3_000, help="calls in the stream")
    parser.add_argument(
        "--repeat", type=int, default=2, help="rounds per backend; the best of each is kept"
    )
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("CALLPOOL_BENCH_PG_URL", DEFAULT_PG_URL),
        help="an existing PostgreSQL database; a throwaway one is created next to it",
    )
    parser.add_argument("--spy", type=Path, help="profile the listener with py-spy into DIR")
    parser.add_argument("--keep-logs", type=Path, help="copy the child logs to this directory")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    options = parser.parse_args(argv)
    options.backends = ("sqlite", "postgresql") if options.backend == "both" else (options.backend,)
    if options.spy is not None and not Path(_py_spy()).exists():
        parser.error("--spy needs py-spy on PATH (pip install py-spy)")
    signal.signal(signal.SIGTERM, _raise_on_term)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="cpbench-ami-") as tmp:
        workdir = Path(tmp)
        print(f"building a stream of {options.calls:,} calls...", flush=True)
        stream = build_stream(options.calls, workdir / "stream.ami")
        if stream.calls != stream.linkedids:
            print(f"note: {stream.linkedids} linkedids, {stream.calls} of them calls")
        try:
            rows, problems = run(options, stream, workdir)
        finally:
            if options.keep_logs is not None:
                options.keep_logs.mkdir(parents=True, exist_ok=True)
                for log in workdir.rglob("*.log"):
                    shutil.copy(log, options.keep_logs / log.name)
    passed = print_report(rows, stream, options.repeat)
    for problem in problems:
        print(f"ERROR: {problem}", file=sys.stderr)
    print(f"\ndone in {time.monotonic() - started:.0f} s")
    if problems:
        return 1
    return 1 if options.strict and not passed else 0


if __name__ == "__main__":
    sys.exit(main())
