"""``callpool report`` and ``callpool metrics rebuild`` through click, on both databases."""

from __future__ import annotations

import asyncio
import csv
import io
import json

from click.testing import CliRunner, Result

from callpool.cli import main
from callpool.db.engine import create_engine
from tests.metrics.history import write_history
from tests.metrics.test_jobs import HISTORY


def _write(database_url: str) -> None:
    async def run() -> None:
        engine = create_engine(database_url)
        try:
            await write_history(engine, HISTORY)
        finally:
            await engine.dispose()

    asyncio.run(run())


def _run(database_url: str, *args: str) -> Result:
    return CliRunner().invoke(main, ["--database-url", database_url, *args])


REPORT = ("report", "--site", "shop", "--campaign", "main", "--from", "2026-12-01")


def test_report_json_has_the_issues_shape_and_exact_figures(database_url: str) -> None:
    _write(database_url)
    result = _run(database_url, *REPORT, "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert list(data) == ["campaign", "from", "to", "timezone", "fresh_at", "rows", "total"]
    assert (data["campaign"], data["from"], data["to"]) == ("main", "2026-12-01", "2026-12-01")
    assert data["timezone"] == "Europe/Moscow" and data["fresh_at"] is not None
    kinds = [(row["channel"], row["kind"]) for row in data["rows"]]
    assert kinds == [
        ("google", "channel"),
        ("radio", "channel"),
        (None, "unattributed"),
        (None, "untracked"),
    ]
    google = data["rows"][0]
    assert (google["calls"], google["unique_calls"], google["first_time_calls"]) == (7, 5, 4)
    assert (google["missed_callers"], google["called_back"], google["callback_rate"]) == (4, 2, 0.5)
    assert (data["total"]["calls"], data["total"]["unique_calls"]) == (11, 8)
    assert data["total"]["revenue"] == 1000.0


def test_report_by_hour_in_csv_and_with_a_comparison(database_url: str) -> None:
    _write(database_url)
    result = _run(
        database_url, *REPORT, "--by", "hour", "--format", "csv",
        "--compare-to", "2026-11-30..2026-11-30",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert len(rows) == 2 * 25  # 24 hours and the total, for each period
    assert rows[9]["hour"] == "9" and rows[9]["calls"] == "2"
    assert rows[24]["hour"] == "total" and rows[24]["calls"] == "11"
    assert rows[49]["from"] == "2026-11-30" and rows[49]["calls"] == "1"


def test_report_table_and_rebuild(database_url: str) -> None:
    _write(database_url)
    result = _run(database_url, *REPORT)
    assert result.exit_code == 0, result.output
    assert "shop / main: 2026-12-01 .. 2026-12-01 (Europe/Moscow)" in result.output
    assert any(line.split()[:2] == ["calls", "7"] for line in result.output.splitlines())
    result = _run(database_url, "metrics", "rebuild", "--site", "shop", "--campaign", "main")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("rebuilt ") and "days of shop/main" in result.output


def test_bad_report_input_is_one_clear_line(database_url: str) -> None:
    result = _run(database_url, "report", "--site", "shop", "--campaign", "main", "--from", "x")
    assert result.exit_code == 2
    assert result.output.strip() == "error: --from must be a date like 2026-12-01 (got 'x')"
    result = _run(
        database_url, "report", "--site", "nope", "--campaign", "main", "--period", "today"
    )
    assert result.exit_code == 2
    assert result.output.strip() == "error: no campaign 'main' in site 'nope'"
