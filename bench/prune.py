"""Pruning while the listener writes: how fast old rows go, and what it costs a writer.

For each backend: a migrated database with one site keeping 30 days of raw events, page
views and sessions; ``--events`` raw AMI events 100 days old and as many from today;
``--sessions`` sessions 100 days old with a page view each. In the same process and on
the same engine (as in ``serve``, where on SQLite every task shares one connection), a
"listener" writes ``--write-rows`` events every 0.25 s (the listener's write interval)
in one transaction, timing each write: first for ``--baseline`` seconds alone, then while
the pruning job (``retention.prune.prune``, default batch and pause) deletes the old
rows. Prints rows deleted per second, the longest batch, and the writer's p50/p99/max
latency during pruning against the baseline measured in the same run.

    .venv/bin/python bench/prune.py [--backend sqlite|postgresql|both] [--events 200000]
        [--sessions 50000] [--baseline 5] [--pg-url postgresql://postgres@127.0.0.1/test]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _harness as h

from callpool.catalog import store as catalog_store
from callpool.catalog.spec import SiteSpec
from callpool.db import migrate
from callpool.db.engine import connection, create_engine
from callpool.db.tables import AmiEvent, PageView, Session, Site, Visitor
from callpool.retention.prune import prune
from callpool.tracking.leases import new_id

CHUNK = 5000


async def seed(engine: AsyncEngine, events: int, sessions: int, now: datetime) -> None:
    await catalog_store.add_site(
        engine,
        SiteSpec(
            name="shop",
            raw_events_retention_days=30,
            page_views_retention_days=30,
            sessions_retention_days=30,
        ),
        "RU",
    )
    async with connection(engine) as conn:
        site_id = await conn.scalar(select(Site.id))
    old = now - timedelta(days=100)
    seq = 0
    for at, count in ((old, events), (now, events)):
        for start in range(0, count, CHUNK):
            rows = []
            for _ in range(min(CHUNK, count - start)):
                seq += 1
                rows.append(
                    {
                        "pbx": "main",
                        "seq": seq,
                        "received_at": at,
                        "event": "Newstate",
                        "linkedid": f"{seq // 26}.0",
                        "frame": "Event: Newstate\r\nChannel: PJSIP/100-0001\r\n" * 8,
                    }
                )
            async with connection(engine) as conn:
                await conn.execute(insert(AmiEvent), rows)
    for start in range(0, sessions, CHUNK):
        ids = [(new_id(), new_id()) for _ in range(min(CHUNK, sessions - start))]
        async with connection(engine) as conn:
            await conn.execute(
                insert(Visitor),
                [
                    {"id": v, "site_id": site_id, "first_seen_at": old, "last_seen_at": old}
                    for v, _ in ids
                ],
            )
            await conn.execute(
                insert(Session),
                [
                    {
                        "id": s,
                        "visitor_id": v,
                        "site_id": site_id,
                        "source": "direct",
                        "click_ids": {},
                        "started_at": old,
                        "last_seen_at": old,
                    }
                    for v, s in ids
                ],
            )
            await conn.execute(
                insert(PageView),
                [
                    {"session_id": s, "url": "https://shop.example/", "viewed_at": old}
                    for _, s in ids
                ],
            )


class Writer:
    """The listener's shape of writing: a batch of events every 0.25 s, each timed."""

    def __init__(self, engine: AsyncEngine, rows: int) -> None:
        self.engine = engine
        self.rows = rows
        self.seq = 10**9

    async def run(self, until: asyncio.Event | float) -> list[float]:
        latencies: list[float] = []
        deadline = until if isinstance(until, float) else None
        while not (until.is_set() if isinstance(until, asyncio.Event) else False):
            if deadline is not None and time.monotonic() >= deadline:
                break
            batch = []
            for _ in range(self.rows):
                self.seq += 1
                batch.append(
                    {
                        "pbx": "main",
                        "seq": self.seq,
                        "received_at": datetime.now(UTC),
                        "event": "Newstate",
                        "linkedid": "1.0",
                        "frame": "Event: Newstate",
                    }
                )
            started = time.perf_counter()
            async with connection(self.engine) as conn:
                await conn.execute(insert(AmiEvent), batch)
            latencies.append(time.perf_counter() - started)
            await asyncio.sleep(0.25)
        return latencies


def summary(latencies: list[float]) -> tuple[float, float, float]:
    ordered = sorted(latencies)
    return (
        h.percentile(ordered, 50) * 1000,
        h.percentile(ordered, 99) * 1000,
        ordered[-1] * 1000,
    )


async def run_backend(name: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    engine = create_engine(url)
    try:
        await migrate.upgrade(engine)
        now = datetime.now(UTC)
        started = time.perf_counter()
        await seed(engine, args.events, args.sessions, now)
        seeded = time.perf_counter() - started
        if name == "postgresql":
            async with connection(engine) as conn:
                await conn.exec_driver_sql("ANALYZE")
        writer = Writer(engine, args.write_rows)
        baseline = await writer.run(time.monotonic() + args.baseline)
        done = asyncio.Event()
        during_task = asyncio.create_task(writer.run(done))
        started = time.perf_counter()
        report = await prune(engine, datetime.now(UTC))
        took = time.perf_counter() - started
        done.set()
        during = await during_task
        async with connection(engine) as conn:
            left_old = await conn.scalar(
                select(func.count())
                .select_from(AmiEvent)
                .where(AmiEvent.received_at < now - timedelta(days=30))
            )
        deleted = sum(report.deleted.values())
        return {
            "backend": name,
            "seeded_s": seeded,
            "deleted": report.deleted,
            "left_old": left_old,
            "prune_s": took,
            "rows_per_s": deleted / took if took else 0.0,
            "batches": report.batches,
            "longest_batch_ms": report.longest_batch_seconds * 1000,
            "baseline": summary(baseline),
            "during": summary(during) if during else (0.0, 0.0, 0.0),
            "writes_during": len(during),
        }
    finally:
        await engine.dispose()


def print_result(r: dict[str, Any]) -> None:
    base, during = r["baseline"], r["during"]
    print(
        f"\n{r['backend']}: seeded in {r['seeded_s']:.1f} s; pruned {r['deleted']} in "
        f"{r['prune_s']:.1f} s ({r['rows_per_s']:,.0f} rows/s, cascaded page views not "
        f"counted twice), {r['batches']} batches, longest {r['longest_batch_ms']:.1f} ms; "
        f"old events left: {r['left_old']}"
    )
    print(f"  writer (events, 1 transaction / 0.25 s): {r['writes_during']} writes while pruning")
    print(f"  {'':10} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    print(f"  {'alone':10} {base[0]:8.1f} {base[1]:8.1f} {base[2]:8.1f}")
    print(f"  {'pruning':10} {during[0]:8.1f} {during[1]:8.1f} {during[2]:8.1f}")
    ratio = during[1] / base[1] if base[1] else float("inf")
    print(f"  writer p99 while pruning / alone: {ratio:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--sessions", type=int, default=50_000)
    parser.add_argument("--write-rows", type=int, default=25)
    parser.add_argument("--baseline", type=float, default=5.0)
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite+aiosqlite:///{tmp}/prune.db"
            print_result(asyncio.run(run_backend("sqlite", url, args)))
    if args.backend in ("postgresql", "both"):
        with h.throwaway_pg_database(args.pg_url) as url:
            if url is not None:
                print_result(asyncio.run(run_backend("postgresql", url, args)))


if __name__ == "__main__":
    main()
