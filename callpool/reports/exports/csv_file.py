"""CSV of a report's main table: UTF-8 (optionally with a BOM, for Excel), the delimiter
the user chooses, streamed a few hundred rows at a time so a year of calls never sits in
memory. Every text cell is formula-neutralised (``cells``)."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator

from callpool.reports.exports.cells import text_cell
from callpool.reports.rows import ReportDoc, Row, Table, each_row, total_row

DELIMITERS = (",", ";", "\t", "|")
BOM = "\ufeff"
_FLUSH_ROWS = 500


async def csv_chunks(
    doc: ReportDoc, *, delimiter: str = ",", bom: bool = False
) -> AsyncIterator[bytes]:
    """The main table as CSV bytes: header, rows, then the total row if any."""
    table = doc.main
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    if bom:
        buffer.write(BOM)
    writer.writerow([text_cell(c.name) for c in table.columns])
    count = 0
    async for row in each_row(table.rows):
        writer.writerow(_cells(table, row))
        count += 1
        if count % _FLUSH_ROWS == 0:
            yield _drain(buffer)
    total = total_row(table)
    if total is not None:
        writer.writerow(_cells(table, total))
    yield _drain(buffer)


def _cells(table: Table, row: Row) -> list[str]:
    return [text_cell(row.get(c.name)) for c in table.columns]


def _drain(buffer: io.StringIO) -> bytes:
    data = buffer.getvalue().encode("utf-8")
    buffer.seek(0)
    buffer.truncate()
    return data
