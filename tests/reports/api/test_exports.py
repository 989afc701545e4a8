"""Every report as CSV, xlsx and PDF, read back: values, formats, sheets, text.

One of each kind is kept in ``test-artifacts/exports/`` (the PDF also as PNG pages)."""

from __future__ import annotations

import asyncio
import csv
import io
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.metrics.report_query import parse_report_query, run_report
from tests.reports.api.conftest import Client, auth
from tests.reports.api.seed import (
    CYRILLIC_CHANNEL,
    FORMULA_CHANNEL,
    HYPERLINK,
    LANDING,
    SUM,
    XSS,
    World,
)

ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "exports"
REPORTS = ("channels", "daily", "hourly", "weekdays", "agents", "status", "callers", "missed",
           "calls", "compare/periods")  # fmt: skip
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _params(world: World, **more: Any) -> dict[str, Any]:
    return {"site": "shop", "campaign": "autumn", "from": str(world.start),
            "to": str(world.end), **more}  # fmt: skip


async def _file(client: Client, world: World, path: str, fmt: str, **more: Any) -> bytes:
    response = await client.get(
        f"/api/v1/reports/{path}", params=_params(world, format=fmt, **more),
        headers=auth(world, "boss"),
    )  # fmt: skip
    assert response.status == 200, await response.text()
    assert "attachment" in response.headers["Content-Disposition"]
    return await response.read()


def _keep(name: str, data: bytes, database_url: str) -> Path:
    if not database_url.startswith("sqlite"):
        return Path("/dev/null")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("path", REPORTS)
async def test_every_report_answers_every_format(client: Client, world: World, path: str) -> None:
    data = (await _file(client, world, path, "csv")).decode("utf-8")
    rows = list(csv.reader(io.StringIO(data)))
    assert len(rows) >= 2
    book = openpyxl.load_workbook(io.BytesIO(await _file(client, world, path, "xlsx")))
    assert book.sheetnames
    assert (await _file(client, world, path, "pdf")).startswith(b"%PDF-")


async def test_channel_csv_is_the_report_with_the_chosen_delimiter_and_bom(
    client: Client, world: World, engine: AsyncEngine, database_url: str
) -> None:
    raw = await _file(client, world, "channels", "csv", delimiter="semicolon", bom="true")
    _keep("channels.csv", raw, database_url)
    assert raw.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    query = parse_report_query("shop", "autumn", start=str(world.start), end=str(world.end))
    result = await run_report(engine, query, datetime.now(UTC))
    assert [r["kind"] for r in rows] == [r.key["kind"] for r in result.report.rows] + [""]
    assert rows[-1]["channel"] == "Total"
    assert int(rows[-1]["calls"]) == result.report.total["calls"]
    names = [r["channel"] for r in rows]
    assert CYRILLIC_CHANNEL in names and "'" + FORMULA_CHANNEL in names


async def test_calls_csv_neutralises_every_formula_and_keeps_the_text(
    client: Client, world: World, database_url: str
) -> None:
    raw = await _file(client, world, "calls", "csv")
    _keep("calls.csv", raw, database_url)
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8"))))
    assert len(rows) == 11
    for row in rows:
        for name, value in row.items():
            if name not in ("id", "wait_seconds", "talk_seconds", "value") and value:
                assert not value.startswith(FORMULA_STARTS) or value[1:].isdigit(), (name, value)
    visited = [r for r in rows if r["utm_source"]]
    assert {r["utm_source"] for r in visited} == {XSS}
    assert {r["utm_medium"] for r in visited} == {"'" + HYPERLINK}
    assert {r["utm_campaign"] for r in visited} == {"'" + SUM}
    assert {r["landing_url"] for r in visited} == {LANDING}
    assert "'=1+2" in {r["caller"] for r in rows}  # a PBX's garbage caller id too
    assert "+79161110001" in {r["caller"] for r in rows}  # E.164 numbers stay as they are


async def test_workbook_has_every_sheet_with_numbers_formats_totals_and_a_chart(
    client: Client, world: World, engine: AsyncEngine, database_url: str
) -> None:
    raw = await _file(client, world, "channels", "xlsx")
    path = _keep("channels.xlsx", raw, database_url)
    book = openpyxl.load_workbook(io.BytesIO(raw))
    assert book.sheetnames == ["Channels", "Daily", "Hourly", "Weekdays", "Status",
                               "Failure reasons", "Agents"]  # fmt: skip
    sheet = book["Channels"]
    assert sheet["A1"].value == "Channel report"
    assert sheet["B2"].value == "shop / autumn" and sheet["B4"].value == "Europe/Moscow"
    assert sheet["B3"].value == f"{world.start} .. {world.end}"
    assert sheet.freeze_panes == "B8"
    header = [c.value for c in sheet[7]]
    col = {title: i for i, title in enumerate(header)}
    query = parse_report_query("shop", "autumn", start=str(world.start), end=str(world.end))
    total = (await run_report(engine, query, datetime.now(UTC))).report.total
    rows = list(sheet.iter_rows(min_row=8))
    total_row = rows[-1]
    assert total_row[0].value == "Total" and total_row[0].font.b
    assert total_row[col["Calls"]].value == total["calls"]
    assert total_row[col["Calls"]].number_format == "#,##0"
    answered = total_row[col["Answered %"]]
    assert answered.value == pytest.approx(total["answered_pct"] / 100)
    assert answered.number_format == "0.00%"
    talk = total_row[col["Talk avg seconds"]]
    # openpyxl reads a duration-formatted number back as a timedelta.
    assert talk.value.total_seconds() == pytest.approx(total["talk_avg_seconds"])
    assert talk.number_format == "[h]:mm:ss"
    cost = total_row[col["Cost"]]
    assert cost.value == pytest.approx(float(total["cost"])) and cost.number_format == "#,##0.00"
    names = [r[0].value for r in rows]
    assert CYRILLIC_CHANNEL in names and FORMULA_CHANNEL in names
    formula_cell = next(r[0] for r in rows if r[0].value == FORMULA_CHANNEL)
    assert formula_cell.data_type == "s" and formula_cell.quotePrefix
    assert len(sheet._charts) == 1 or _has_chart(path, raw)
    status = book["Status"]
    assert [r[0].value for r in status.iter_rows(min_row=8)][-1] == "Total"


def _has_chart(path: Path, raw: bytes) -> bool:
    import zipfile

    return any(n.startswith("xl/charts/chart") for n in zipfile.ZipFile(io.BytesIO(raw)).namelist())


async def test_calls_workbook_keeps_hostile_text_as_quoted_strings(
    client: Client, world: World, database_url: str
) -> None:
    raw = await _file(client, world, "calls", "xlsx")
    _keep("calls.xlsx", raw, database_url)
    sheet = openpyxl.load_workbook(io.BytesIO(raw))["Calls"]
    header = [c.value for c in sheet[7]]
    medium = header.index("utm_medium")
    cells = [r[medium] for r in sheet.iter_rows(min_row=8) if r[medium].value]
    assert cells and all(c.value == HYPERLINK and c.data_type == "s" and c.quotePrefix
                         for c in cells)  # fmt: skip
    started = header.index("Started")
    assert isinstance(sheet.cell(8, started + 1).value, datetime)
    assert sheet.cell(8, started + 1).number_format == "yyyy-mm-dd hh:mm:ss"


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs poppler-utils (make test)")
async def test_pdf_renders_and_reads_as_the_report(
    client: Client, world: World, database_url: str, tmp_path: Path
) -> None:
    raw = await _file(client, world, "channels", "pdf")
    path = _keep("channels.pdf", raw, database_url)
    if path == Path("/dev/null"):
        path = tmp_path / "channels.pdf"
        path.write_bytes(raw)
    text = await _run("pdftotext", "-layout", str(path), "-")
    assert "Channel report" in text and "shop / autumn" in text
    assert f"{world.start.isoformat()} .. {world.end.isoformat()} (Europe/Moscow)" in text
    assert CYRILLIC_CHANNEL in text and "Status breakdown" in text
    assert "Daily trend" in text and "Calls by hour of day" in text
    png = path.with_suffix("") if path.parent == ARTIFACTS else tmp_path / "page"
    await _run("pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(path), str(png))
    pages = list(png.parent.glob(png.name + "*.png"))
    assert pages and pages[0].stat().st_size > 5000
    calls = await _file(client, world, "calls", "pdf")
    calls_path = tmp_path / "calls.pdf"
    calls_path.write_bytes(calls)
    _keep("calls.pdf", calls, database_url)
    calls_text = await _run("pdftotext", str(calls_path), "-")
    assert "=1+2" in calls_text  # drawn as text, never run or interpreted


async def _run(*argv: str) -> str:
    done = await asyncio.to_thread(subprocess.run, argv, capture_output=True, check=True)
    return done.stdout.decode("utf-8")
