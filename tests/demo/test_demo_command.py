"""``callpool demo`` as a user runs it: a subprocess on SQLite and PostgreSQL.

The calls it places go through the AMI simulator and the real listener; the report
engine's figures for today must equal the simulator's ground truth, channel by channel.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from callpool.db.engine import connection, create_engine
from callpool.db.tables import Call
from callpool.demo import catalog
from callpool.metrics.report_query import Period, ReportQuery, run_report

CALLPOOL = [str(Path(sys.executable).with_name("callpool"))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def demo_env(database_url: str) -> dict[str, str]:
    return os.environ | {"CALLPOOL_DATABASE_URL": database_url, "PYTHONUNBUFFERED": "1"}


async def test_demo_calls_are_ingested_over_ami_and_the_report_equals_the_truth(
    database_url: str, tmp_path: Path
) -> None:
    truth_file = tmp_path / "truth.json"
    done = await asyncio.to_thread(
        subprocess.run,  # type: ignore[arg-type]
        [
            *CALLPOOL,
            "demo",
            "--duration",
            "45",
            "--no-history",
            "--port",
            str(free_port()),
            "--seed",
            "3",
            "--truth",
            str(truth_file),
        ],
        env=demo_env(database_url),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "dashboard: http://127.0.0.1:" in done.stdout
    assert "stopped" in done.stdout
    placed = json.loads(truth_file.read_text())
    assert len(placed) >= 3
    engine = create_engine(database_url)
    try:
        async with connection(engine) as conn:
            stored = (
                await conn.execute(
                    select(Call.caller_number, Call.called_number, Call.attribution).where(
                        Call.pbx == "demo", Call.direction == "inbound"
                    )
                )
            ).all()
        # The calls placed were heard over AMI, stored and credited (a call still open
        # when the demo stopped may be missing: at most one).
        pairs = sorted((row[0], row[1]) for row in stored)
        unmatched = list(pairs)
        heard = []
        for call in placed:
            if (call["caller"], call["dialled"]) in unmatched:
                unmatched.remove((call["caller"], call["dialled"]))
                heard.append(call)
        assert not unmatched
        assert len(heard) >= len(placed) - 1
        assert all(row[2] is not None for row in stored)
        now = datetime.now(UTC)
        today = now.astimezone(ZoneInfo(catalog.TIMEZONE)).date()
        query = ReportQuery(catalog.SITE, catalog.CAMPAIGN, Period(today, today))
        result = await run_report(engine, query, now)
    finally:
        await engine.dispose()
    expected: dict[str, int] = {}
    answered: dict[str, int] = {}
    for call in heard:
        expected[call["channel"]] = expected.get(call["channel"], 0) + 1
        is_answered = call["kind"] in ("answered", "short")
        answered[call["channel"]] = answered.get(call["channel"], 0) + is_answered
    rows = {row.key["channel"]: row.figures for row in result.report.rows if row.key["channel"]}
    for channel, count in expected.items():
        assert rows[channel]["calls"] == count, channel
        assert rows[channel]["answered"] == answered[channel], channel
    assert result.report.total["calls"] == len(heard)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_demo_stops_cleanly_on_a_signal_and_serve_opens_its_database(
    sig: signal.Signals, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}"
    env = demo_env(url)
    proc = subprocess.Popen(
        [*CALLPOOL, "demo", "--no-history", "--port", str(free_port())],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    lines = []
    while not any("visitors" in line for line in lines):
        line = proc.stdout.readline()
        assert line, "the demo ended before it ran"
        lines.append(line)
    time.sleep(3)
    proc.send_signal(sig)
    started = time.monotonic()
    out, err = proc.communicate(timeout=30)
    assert time.monotonic() - started < 10
    assert proc.returncode == 0, err[-2000:]
    assert "stopped" in out
    port = free_port()
    serve = subprocess.Popen(
        [*CALLPOOL, "serve", "--port", str(port)], env=env, cwd=tmp_path, stderr=subprocess.DEVNULL
    )
    try:
        import urllib.request

        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz") as answer:
                    assert answer.status == 200
                    break
            except OSError:
                time.sleep(0.2)
        else:
            pytest.fail("callpool serve did not answer /healthz")
    finally:
        serve.send_signal(signal.SIGINT)
        serve.wait(timeout=20)
