"""Metrics at scale: the per-channel report over a year and a month, and the roll-up of
today, against a bare ``GROUP BY`` over the same table measured in the same run.

    .venv/bin/python bench/metrics.py [--calls 1000000] [--backend sqlite|postgresql|both]
        [--pg-url postgresql://postgres@127.0.0.1:5432/test] [--repeat 3] [--pg-db NAME]

``--pg-db NAME`` keeps the PostgreSQL database under that name instead of dropping it,
and a later run with the same name reuses it (schema upgraded, loading and building
skipped): to measure a change, or to EXPLAIN ANALYZE, without rebuilding a million calls.

For each backend (a SQLite file in a temp dir; a throwaway PostgreSQL database):

1. schema (alembic), 10 campaigns of one site in five time zones, 5 channels each;
2. ``--calls`` inbound calls over the year up to today, from 300,000 callers (skewed:
   a few call often, most once), 10% unattributed, 70% answered; 40% of the misses
   get an outbound call-back 1-120 minutes later (60% reached): these are extra rows.
   Bulk-loaded (COPY on PostgreSQL, executemany on SQLite), then ANALYZE;
3. every campaign's facts and roll-ups built a month at a time (``rebuild_campaign``, timed),
   then ANALYZE (as autovacuum would);
4. timed, best of ``--repeat`` interleaved rounds: the floor ``SELECT channel_id,
   count(*) FROM calls GROUP BY channel_id`` (every row); the same floor restricted to
   the report's campaign and year; the year report and the last month's report of one
   campaign (every metric, by channel); the roll-up of today (every campaign's today
   rebuilt). The year report's peak Python memory (tracemalloc) is printed too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._harness import asyncpg_dsn, throwaway_pg_database
from callpool.db import migrate
from callpool.db.engine import connection, create_engine
from callpool.metrics.campaigns import load_campaign
from callpool.metrics.definitions import period_bounds
from callpool.metrics.report_sql import campaign_report
from callpool.metrics.rollups import rebuild_campaign, rebuild_days

ZONES = ["Europe/Moscow", "Europe/Berlin", "America/New_York", "Asia/Yekaterinburg", "UTC"]
CAMPAIGNS = 10
CHANNELS_PER = 5
CALLERS = 300_000
NOW = datetime.now(UTC).replace(microsecond=0)
CALL_COLUMNS = (
    "id",
    "pbx",
    "linkedid",
    "uniqueid",
    "direction",
    "caller_number",
    "called_number",
    "started_at",
    "answered_at",
    "ended_at",
    "wait_seconds",
    "talk_seconds",
    "disposition",
    "answered_by",
    "transfers",
    "campaign_id",
    "channel_id",
    "raw_cdrs",
    "created_at",
    "updated_at",
    "hangup_cause",
    "end_estimated",
    "missed_by",
)


def generate(calls: int, seed: int = 13) -> Iterator[tuple[Any, ...]]:
    """Rows of ``calls`` (CALL_COLUMNS order); JSON columns as text."""
    rng = random.Random(seed)
    start = NOW - timedelta(days=365)
    span = int((NOW - start).total_seconds()) - 3600
    next_id = 1
    for _ in range(calls):
        campaign = rng.randrange(CAMPAIGNS) + 1
        channel = (
            None if rng.random() < 0.1 else (campaign - 1) * CHANNELS_PER + rng.randrange(5) + 1
        )
        caller = f"+7916{int(CALLERS * rng.random() ** 2):07d}"
        at = start + timedelta(seconds=rng.randrange(span))
        r = rng.random()
        disposition = (
            "answered" if r < 0.7 else "no answer" if r < 0.82 else "busy" if r < 0.87
            else "failed" if r < 0.9 else "abandoned"
        )  # fmt: skip
        wait = rng.randrange(60)
        talk = rng.randrange(600) if disposition == "answered" else 0
        ended = at + timedelta(seconds=wait + talk)
        yield _row(next_id, "inbound", caller, f"+7495000{campaign:04d}", at, wait, talk,
                   disposition, campaign, channel, rng)  # fmt: skip
        next_id += 1
        if disposition != "answered" and rng.random() < 0.4:
            back = ended + timedelta(minutes=rng.randrange(1, 120))
            reached = rng.random() < 0.6
            talk = rng.randrange(200) if reached else 0
            yield _row(next_id, "outbound", "101", caller, back, 5, talk,
                       "answered" if reached else "no answer", None, None, rng)  # fmt: skip
            next_id += 1


def _row(
    id_: int, direction: str, caller: str, called: str, at: datetime, wait: int, talk: int,
    disposition: str, campaign: int | None, channel: int | None, rng: random.Random,
) -> tuple[Any, ...]:  # fmt: skip
    answered = disposition == "answered"
    ended = at + timedelta(seconds=wait + talk)
    return (
        id_, "pbx", f"l{id_}", f"u{id_}", direction, caller, called, at,
        at + timedelta(seconds=wait) if answered else None, ended, wait, talk, disposition,
        f"20{rng.randrange(10)}" if answered and direction == "inbound" else None, "[]",
        campaign, channel, "[]", ended, ended, 16 if answered else rng.choice([16, 17, 19, 34]),
        False,
        # Inbound: one or two agents rang and did not answer a missed call.
        json.dumps(rng.sample(["201", "202", "203"], rng.randrange(1, 3)))
        if direction == "inbound" and not answered else "[]",
    )  # fmt: skip


async def seed_catalog(url: str) -> None:
    engine = create_engine(url)
    try:
        await migrate.upgrade(engine)
        async with connection(engine) as conn:
            created = (NOW - timedelta(days=400)).isoformat()
            await conn.exec_driver_sql(
                "INSERT INTO sites (id, name, public_key, allowed_origins, own_numbers, "
                "blocked_cidrs, consent_required, mask_callers, created_at, recordings_enabled, "
                "recordings_for_viewers, recording_keep_target_only) VALUES "
                f"(1, 'shop', 'k', '[]', '[\"+74951234567\"]', '[]', false, false, '{created}', "
                "false, false, false)"
            )
            for c in range(1, CAMPAIGNS + 1):
                await conn.exec_driver_sql(
                    "INSERT INTO campaigns (id, site_id, name, timezone, target_seconds, "
                    "hold_seconds, cooldown_seconds, attribution_grace_seconds, swap_numbers, "
                    "short_abandon_seconds, service_level_seconds, callback_window_days, "
                    "self_callback_same_day, outcomes, successful_outcomes, "
                    "telephony_cost_per_minute, created_at) VALUES "
                    f"({c}, 1, 'c{c}', '{ZONES[c % len(ZONES)]}', 10, 900, 60, 1800, '[]', "
                    f"5, 20, 7, true, '[]', '[\"sale\"]', 1.5, '{created}')"
                )
                for k in range(CHANNELS_PER):
                    ch = (c - 1) * CHANNELS_PER + k + 1
                    await conn.exec_driver_sql(
                        "INSERT INTO channels (id, campaign_id, name, kind, priority, "
                        f"ad_spend_per_day, created_at) VALUES ({ch}, {c}, 'ch{ch}', 'pool', "
                        f"10, 100, '{created}')"
                    )
    finally:
        await engine.dispose()


async def load_postgresql(url: str, calls: int) -> int:
    import asyncpg

    conn = await asyncpg.connect(asyncpg_dsn(url))
    count = 0
    try:
        batch: list[tuple[Any, ...]] = []
        for row in generate(calls):
            batch.append(row)
            if len(batch) == 50_000:
                await conn.copy_records_to_table("calls", records=batch, columns=CALL_COLUMNS)
                count += len(batch)
                batch = []
        if batch:
            await conn.copy_records_to_table("calls", records=batch, columns=CALL_COLUMNS)
            count += len(batch)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return count


def load_sqlite(path: str, calls: int) -> int:
    db = sqlite3.connect(path)
    marks = ", ".join("?" * len(CALL_COLUMNS))
    sql = f"INSERT INTO calls ({', '.join(CALL_COLUMNS)}) VALUES ({marks})"
    count = 0

    def plain(row: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(
            # SQLAlchemy's own text form (microseconds always): datetimes compare as text
            # on SQLite, and "…22:00:00" sorts before "…22:00:00.000000".
            v.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
            if isinstance(v, datetime)
            else v
            for v in row
        )

    batch: list[tuple[Any, ...]] = []
    for row in generate(calls):
        batch.append(plain(row))
        if len(batch) == 50_000:
            db.executemany(sql, batch)
            count += len(batch)
            batch = []
    db.executemany(sql, batch)
    count += len(batch)
    db.commit()
    db.execute("ANALYZE")
    db.close()
    return count


def _naive(moment: datetime) -> str:
    return moment.replace(tzinfo=None).isoformat(sep=" ")


async def best_of(repeat: int, func: Callable[[], Awaitable[Any]]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        await func()
        times.append(time.perf_counter() - start)
    return min(times)


async def measure(url: str, repeat: int, *, build: bool = True) -> dict[str, Any]:
    engine = create_engine(url)
    out: dict[str, Any] = {"build_facts_s": None}
    try:
        if build:
            start = time.perf_counter()
            for c in range(1, CAMPAIGNS + 1):
                await rebuild_campaign(engine, c, NOW)
            out["build_facts_s"] = time.perf_counter() - start
        # Statistics of the facts and roll-ups just written in bulk, as autovacuum's
        # analyze would have them in a running system: without them the planner takes
        # a year of facts for a handful of rows and sorts them on disk.
        async with connection(engine) as conn:
            await conn.exec_driver_sql("ANALYZE")
        async with connection(engine) as conn:
            campaign = await load_campaign(conn, 1)
        today = campaign.today(NOW)
        year = (today - timedelta(days=364), today)
        last = today.replace(day=1) - timedelta(days=1)
        month = (last.replace(day=1), last)
        first, after = period_bounds(*year, campaign.timezone)

        async def floor() -> None:
            async with connection(engine) as conn:
                await conn.exec_driver_sql(
                    "SELECT channel_id, count(*) FROM calls GROUP BY channel_id"
                )

        async def floor_same_rows() -> None:
            async with connection(engine) as conn:
                await conn.exec_driver_sql(
                    "SELECT channel_id, count(*) FROM calls WHERE campaign_id = 1 "
                    "AND started_at >= ? AND started_at < ? GROUP BY channel_id"
                    if engine.dialect.name == "sqlite" else
                    "SELECT channel_id, count(*) FROM calls WHERE campaign_id = 1 "
                    "AND started_at >= $1 AND started_at < $2 GROUP BY channel_id",
                    (_naive(first), _naive(after))
                    if engine.dialect.name == "sqlite" else (first, after),
                )  # fmt: skip

        def report(period: tuple[Any, Any]) -> Callable[[], Awaitable[Any]]:
            async def run() -> Any:
                async with connection(engine) as conn:
                    return await campaign_report(conn, campaign, "channel", *period, today)

            return run

        async with connection(engine) as conn:
            campaigns = [await load_campaign(conn, c) for c in range(1, CAMPAIGNS + 1)]

        async def rollup_today() -> None:
            for c in campaigns:
                day = c.today(NOW)
                await rebuild_days(engine, c.id, day, day, campaign=c)

        # Rounds interleave the measures, so that a shared machine's load, which comes
        # and goes over minutes, weighs on the floor as on the rest.
        measures = {
            "floor_s": floor,
            "floor_same_rows_s": floor_same_rows,
            "year_s": report(year),
            "month_s": report(month),
            "rollup_today_s": rollup_today,
        }
        for _ in range(repeat):
            for name, func in measures.items():
                took = await best_of(1, func)
                out[name] = min(out.get(name, took), took)
        tracemalloc.start()
        result = await report(year)()
        out["year_peak_mb"] = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()
        out["year_total_calls"] = result.total["calls"]
        out["year_unique_calls"] = result.total["unique_calls"]
    finally:
        await engine.dispose()
    return out


async def kept_pg_database(pg_url: str, name: str) -> tuple[str, int]:
    """The URL of database ``name`` next to ``pg_url`` (created if missing) and its calls."""
    import asyncpg
    from sqlalchemy.engine import make_url

    admin = await asyncpg.connect(asyncpg_dsn(pg_url))
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = make_url(pg_url).set(drivername="postgresql+asyncpg", database=name)
    rendered = url.render_as_string(hide_password=False)
    conn = await asyncpg.connect(asyncpg_dsn(rendered))
    try:
        exists = await conn.fetchval("SELECT to_regclass('calls') IS NOT NULL")
        rows = await conn.fetchval("SELECT count(*) FROM calls") if exists else 0
    finally:
        await conn.close()
    return rendered, int(rows)


async def upgrade(url: str) -> None:
    engine = create_engine(url)
    try:
        await migrate.upgrade(engine)
    finally:
        await engine.dispose()


def print_results(backend: str, rows: int, r: dict[str, Any]) -> None:
    floor = r["floor_s"]
    built = r["build_facts_s"]
    how = "reused" if built is None else f"built in {built:.1f} s"
    print(f"\n{backend}: {rows:,} call rows; facts {how}")
    print(f"  floor GROUP BY (all rows)        {floor * 1000:9.1f} ms")
    print(f"  floor, campaign 1 year rows      {r['floor_same_rows_s'] * 1000:9.1f} ms")
    for name, target in (("year_s", 3), ("month_s", 0.3), ("rollup_today_s", 0.5)):
        ratio = r[name] / floor
        verdict = "PASS" if ratio <= target else "FAIL"
        print(f"  {name[:-2]:<32} {r[name] * 1000:9.1f} ms  {ratio:6.2f} x floor "
              f"(target <= {target}) {verdict}")  # fmt: skip
    print(f"  year report peak Python memory   {r['year_peak_mb']:9.1f} MB")
    print(f"  year: {r['year_total_calls']:,} calls, {r['year_unique_calls']:,} unique")
    print(json.dumps({"backend": backend, "rows": rows, **r}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pg-db", help="keep (or reuse) the PostgreSQL database of this name")
    args = parser.parse_args()
    if args.backend in ("postgresql", "both") and args.pg_db:
        url, rows = asyncio.run(kept_pg_database(args.pg_url, args.pg_db))
        if rows == 0:
            asyncio.run(seed_catalog(url))
            start = time.perf_counter()
            rows = asyncio.run(load_postgresql(url, args.calls))
            print(f"postgresql: loaded {rows:,} rows in {time.perf_counter() - start:.1f} s")
            print_results("postgresql", rows, asyncio.run(measure(url, args.repeat)))
        else:
            asyncio.run(upgrade(url))
            print(f"postgresql: reusing {args.pg_db} ({rows:,} rows)")
            print_results("postgresql", rows, asyncio.run(measure(url, args.repeat, build=False)))
    elif args.backend in ("postgresql", "both"):
        with throwaway_pg_database(args.pg_url) as url:
            if url is not None:
                asyncio.run(seed_catalog(url))
                start = time.perf_counter()
                rows = asyncio.run(load_postgresql(url, args.calls))
                print(f"postgresql: loaded {rows:,} rows in {time.perf_counter() - start:.1f} s")
                print_results("postgresql", rows, asyncio.run(measure(url, args.repeat)))
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            path = f"{tmp}/bench.db"
            url = f"sqlite+aiosqlite:///{path}"
            asyncio.run(seed_catalog(url))
            start = time.perf_counter()
            rows = load_sqlite(path, args.calls)
            print(f"sqlite: loaded {rows:,} rows in {time.perf_counter() - start:.1f} s")
            print_results("sqlite", rows, asyncio.run(measure(url, args.repeat)))


if __name__ == "__main__":
    main()
