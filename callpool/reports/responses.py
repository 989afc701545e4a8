"""A ``ReportDoc`` as an HTTP answer in the format asked for: JSON, CSV, xlsx or PDF.

JSON answers name their file twins in a ``Link: rel=alternate`` header. Files are sent
as attachments named after the report, campaign and period; CSV and xlsx stream (the
xlsx is built in a temporary directory, then sent in chunks and deleted).
"""

from __future__ import annotations

import asyncio
import re
import shutil
import tempfile
from collections.abc import AsyncGenerator, Mapping
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import web

from callpool.reports.exports.csv_file import csv_chunks
from callpool.reports.exports.pdf import MAX_ROWS, render_pdf
from callpool.reports.exports.xlsx import write_xlsx
from callpool.reports.rows import ReportDoc, Row, each_row
from callpool.settings import Settings

MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}
_CHUNK = 256 * 1024


def jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def table_key(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def doc_json(doc: ReportDoc) -> dict[str, Any]:
    """``{"report", "site", "campaign", "from", "to", "timezone", "fresh_at",
    "generated_at", "rows", "total"}``, other tables under their names, then extras."""
    m = doc.meta
    main = doc.main
    assert not hasattr(main.rows, "__aiter__"), "JSON answers hold one page"
    out: dict[str, Any] = {
        "report": m.report,
        "site": m.site,
        "campaign": m.campaign,
        "from": m.start.isoformat(),
        "to": m.end.isoformat(),
        "timezone": m.timezone,
        "fresh_at": jsonable(m.fresh_at),
        "generated_at": jsonable(m.generated_at),
        "rows": [jsonable(row) for row in main.rows],
        "total": jsonable(main.total),
    }
    for table in doc.tables[1:]:
        out[table_key(table.name)] = {
            "rows": [jsonable(row) for row in table.rows],  # type: ignore[union-attr]
            "total": jsonable(table.total),
        }
    out.update(jsonable(doc.extra))
    return out


def file_name(doc: ReportDoc, extension: str) -> str:
    m = doc.meta
    return f"callpool-{m.report}-{m.campaign}-{m.start}-{m.end}.{extension}"


def _disposition(name: str) -> str:
    ascii_name = re.sub(r"[^A-Za-z0-9._-]+", "_", name)
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"


def json_answer(request: web.Request, doc: ReportDoc) -> web.Response:
    response = web.json_response(doc_json(doc))
    base = request.rel_url.with_query([(k, v) for k, v in request.query.items() if k != "format"])
    response.headers["Link"] = ", ".join(
        f'<{base.update_query(format=kind)}>; rel="alternate"; type="{MEDIA[kind].split(";")[0]}"'
        for kind in MEDIA
    )
    return response


async def file_answer(
    request: web.Request,
    doc: ReportDoc,
    kind: str,
    settings: Settings,
    *,
    delimiter: str = ",",
    bom: bool = False,
) -> web.StreamResponse:
    headers = {
        "Content-Type": MEDIA[kind],
        "Content-Disposition": _disposition(file_name(doc, kind)),
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }
    if kind == "pdf":
        tables = [await _first_rows(table.rows) for table in doc.tables]
        body = await asyncio.to_thread(
            render_pdf,
            doc,
            tables,
            font=settings.pdf_font,
            company=settings.report_company,
            logo=settings.report_logo,
        )
        return web.Response(body=body, headers=headers)
    response = web.StreamResponse(headers=headers)
    if kind == "csv":
        await response.prepare(request)
        async for chunk in csv_chunks(doc, delimiter=delimiter, bom=bom):
            await response.write(chunk)
        await response.write_eof()
        return response
    folder = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="callpool-xlsx-"))
    try:
        path = folder / "report.xlsx"
        await write_xlsx(doc, path)
        response.content_length = path.stat().st_size
        await response.prepare(request)
        with path.open("rb") as handle:
            while chunk := await asyncio.to_thread(handle.read, _CHUNK):
                await response.write(chunk)
        await response.write_eof()
    finally:
        await asyncio.to_thread(shutil.rmtree, folder, True)
    return response


async def _first_rows(rows: Any) -> list[Row]:
    """At most ``MAX_ROWS`` rows; a stream is closed after them (no query left open)."""
    found: list[Row] = []
    walker = each_row(rows)
    assert isinstance(walker, AsyncGenerator)
    try:
        async for row in walker:
            found.append(row)
            if len(found) >= MAX_ROWS:
                break
    finally:
        await walker.aclose()
        if hasattr(rows, "aclose"):
            await rows.aclose()
    return found
