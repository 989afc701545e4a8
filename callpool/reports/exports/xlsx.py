"""The shareable workbook: one sheet per table of a report, written by XlsxWriter.

Each sheet starts with a header block (campaign, period, time zone, generation time and
how fresh the figures are), then the table with a frozen header row, real numbers with
number formats (counts, percentages, durations as ``[h]:mm:ss``, money), a bold totals
row, and a native column chart of the table's charted figure (calls per channel on the
channel sheet). XlsxWriter runs in constant-memory mode: each row is flushed to a
temporary file as soon as it is written, so a long calls list costs the same memory as
a short one (rows must therefore be written in order, which they are). Rows are written
a batch at a time in a worker thread, so the event loop keeps serving while a big file
is built.

Text is always written as a string cell (never parsed as a formula or a URL); text a
spreadsheet would run as a formula is also marked "quote prefix" (see ``cells``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import xlsxwriter

from callpool.reports.exports.cells import is_formula_like, plain
from callpool.reports.rows import Column, ReportDoc, Row, Table, each_row, total_row

HEADER_ROWS = 6  # the header block, then a blank row
_BATCH = 1000
_NUMBER_FORMATS: Mapping[str, str] = {
    "count": "#,##0",
    "pct": "0.00%",
    "ratio": "0.00%",
    "seconds": "[h]:mm:ss",
    "money": "#,##0.00",
    "number": "General",
    "date": "yyyy-mm-dd",
    "datetime": "yyyy-mm-dd hh:mm:ss",
}
_WIDTHS: Mapping[str, int] = {"text": 18, "date": 11, "datetime": 19, "pct": 9, "ratio": 9}


class _Formats:
    def __init__(self, book: Any) -> None:
        self.title = book.add_format({"bold": True, "font_size": 14})
        self.label = book.add_format({"bold": True})
        self.header = book.add_format(
            {"bold": True, "bg_color": "#DDE4EE", "bottom": 1, "text_wrap": True, "valign": "top"}
        )
        self.text = book.add_format({})
        self.quoted = book.add_format({"quote_prefix": True})
        self.cells = {
            kind: book.add_format({"num_format": f}) for kind, f in _NUMBER_FORMATS.items()
        }
        self.total_text = book.add_format({"bold": True, "top": 1})
        self.total_quoted = book.add_format({"bold": True, "top": 1, "quote_prefix": True})
        self.totals = {
            kind: book.add_format({"num_format": f, "bold": True, "top": 1})
            for kind, f in _NUMBER_FORMATS.items()
        }


def cell_number(value: Any, kind: str) -> float | int | datetime | None:
    """The number a cell stores for a value of a column kind, or None to write text.

    Percentages (0-100 in the JSON) and ratios (0-1) become fractions under a ``%``
    format; seconds become days under a duration format, as spreadsheets count time.
    """
    if isinstance(value, bool) or value is None:
        return None
    if kind == "datetime" and isinstance(value, datetime):
        return value.replace(tzinfo=None)  # local time of the campaign (the header says)
    if kind == "date" and isinstance(value, date):
        return datetime.combine(value, datetime.min.time())
    if not isinstance(value, int | float | Decimal):
        return None
    number = float(value) if isinstance(value, Decimal) else value
    if kind == "pct":
        return number / 100
    if kind == "seconds":
        return number / 86400
    return number


def _write_cell(
    sheet: Any, row: int, col: int, value: Any, column: Column, f: _Formats, total: bool
) -> None:
    number = cell_number(value, column.kind)
    if number is not None and column.kind != "text":
        formats = f.totals if total else f.cells
        if isinstance(number, datetime):
            sheet.write_datetime(row, col, number, formats[column.kind])
        else:
            sheet.write_number(row, col, number, formats[column.kind])
        return
    if value is None:
        if total:
            sheet.write_blank(row, col, None, f.total_text)
        return
    text = plain(value)
    if is_formula_like(text):
        sheet.write_string(row, col, text, f.total_quoted if total else f.quoted)
    else:
        sheet.write_string(row, col, text, f.total_text if total else f.text)


def _header_block(sheet: Any, doc: ReportDoc, table: Table, f: _Formats) -> None:
    m = doc.meta
    fresh = "never" if m.fresh_at is None else m.fresh_at.isoformat(timespec="seconds")
    sheet.write_string(0, 0, table.title, f.title)
    lines = (
        ("Campaign", f"{m.site} / {m.campaign}"),
        ("Period", f"{m.start.isoformat()} .. {m.end.isoformat()}"),
        ("Time zone", m.timezone),
        ("Generated", f"{m.generated_at.isoformat(timespec='seconds')} (figures as of {fresh})"),
    )
    for i, (label, value) in enumerate(lines, start=1):
        sheet.write_string(i, 0, label, f.label)
        _write_cell(sheet, i, 1, value, Column("v", "v", "text"), f, False)


def _write_rows(
    sheet: Any, first: int, rows: Sequence[Row], table: Table, f: _Formats, total: bool
) -> None:
    for offset, row in enumerate(rows):
        for col, column in enumerate(table.columns):
            _write_cell(sheet, first + offset, col, row.get(column.name), column, f, total)


def _chart(book: Any, sheet: Any, table: Table, header_row: int, last_row: int) -> None:
    """A column chart under the table (a wide sheet has no room beside it)."""
    assert table.chart is not None
    names = [c.name for c in table.columns]
    label, value = (names.index(n) for n in table.chart)
    chart = book.add_chart({"type": "column"})
    title = f"{table.columns[value].title} by {table.columns[label].title.lower()}"
    chart.add_series(
        {
            "name": table.columns[value].title,
            "categories": [sheet.name, header_row + 1, label, last_row, label],
            "values": [sheet.name, header_row + 1, value, last_row, value],
        }
    )
    chart.set_title({"name": title})
    chart.set_legend({"none": True})
    sheet.insert_chart(last_row + 3, 0, chart, {"x_scale": 1.6, "y_scale": 1.1})


async def write_xlsx(doc: ReportDoc, path: Path) -> None:
    """Write every table of ``doc`` to ``path`` (a new .xlsx file)."""
    options = {
        "constant_memory": True,
        "strings_to_numbers": False,
        "strings_to_formulas": False,
        "strings_to_urls": False,
        "tmpdir": str(path.parent),
    }
    book = xlsxwriter.Workbook(str(path), options)
    try:
        f = _Formats(book)
        for table in doc.tables:
            await _write_table(book, doc, table, f)
    finally:
        await asyncio.to_thread(book.close)


async def _write_table(book: Any, doc: ReportDoc, table: Table, f: _Formats) -> None:
    sheet = book.add_worksheet(table.name[:31])
    for col, column in enumerate(table.columns):
        sheet.set_column(col, col, _WIDTHS.get(column.kind, 12))
    _header_block(sheet, doc, table, f)
    header_row = HEADER_ROWS
    sheet.set_row(header_row, 30)
    for col, column in enumerate(table.columns):
        sheet.write_string(header_row, col, column.title, f.header)
    sheet.freeze_panes(header_row + 1, 1)
    next_row = header_row + 1
    batch: list[Row] = []
    async for row in each_row(table.rows):
        batch.append(row)
        if len(batch) == _BATCH:
            await asyncio.to_thread(_write_rows, sheet, next_row, batch, table, f, False)
            next_row += len(batch)
            batch = []
    _write_rows(sheet, next_row, batch, table, f, False)
    next_row += len(batch)
    last_data_row = next_row - 1
    total = total_row(table)
    if total is not None:
        _write_rows(sheet, next_row, [total], table, f, True)
    if table.chart is not None and last_data_row > header_row:
        _chart(book, sheet, table, header_row, last_data_row)
