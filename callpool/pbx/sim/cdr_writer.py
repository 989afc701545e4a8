"""The simulator's CDRs, written the way Asterisk writes them: Master.csv and a CDR table.

Asterisk posts a call's CDRs when its channels hang up, whether anyone listens to AMI or
not: ``cdr_csv`` appends them to ``Master.csv`` (every value quoted, ``newcdrcolumns``:
21 columns ending ``peeraccount, linkedid, sequence``), ``cdr_pgsql`` inserts them into
its ``cdr`` table. :class:`SimCdrWriter` does both for every ``Cdr`` event the simulator
plays (the linkedid comes from the ``Newchannel`` of the CDR's channel), so a crash can be
rehearsed without a PBX: the CDRs exist even for calls no listener saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

log = logging.getLogger("callpool.ami.sim")

# The Cdr event's headers, in Master.csv's column order.
CDR_EVENT_KEYS = (
    "AccountCode", "Source", "Destination", "DestinationContext", "CallerID", "Channel",
    "DestinationChannel", "LastApplication", "LastData", "StartTime", "AnswerTime", "EndTime",
    "Duration", "BillableSeconds", "Disposition", "AMAFlags", "UniqueID", "UserField",
)  # fmt: skip
# cdr_pgsql's table, as Asterisk's documentation creates it.
CDR_TABLE_DDL = """
CREATE TABLE IF NOT EXISTS {table} (
    calldate timestamp with time zone NOT NULL DEFAULT now(),
    clid varchar(80) NOT NULL DEFAULT '', src varchar(80) NOT NULL DEFAULT '',
    dst varchar(80) NOT NULL DEFAULT '', dcontext varchar(80) NOT NULL DEFAULT '',
    channel varchar(80) NOT NULL DEFAULT '', dstchannel varchar(80) NOT NULL DEFAULT '',
    lastapp varchar(80) NOT NULL DEFAULT '', lastdata varchar(80) NOT NULL DEFAULT '',
    duration bigint NOT NULL DEFAULT 0, billsec bigint NOT NULL DEFAULT 0,
    disposition varchar(45) NOT NULL DEFAULT '', amaflags bigint NOT NULL DEFAULT 0,
    accountcode varchar(20) NOT NULL DEFAULT '', uniqueid varchar(150) NOT NULL DEFAULT '',
    userfield varchar(255) NOT NULL DEFAULT '', peeraccount varchar(80) NOT NULL DEFAULT '',
    linkedid varchar(150) NOT NULL DEFAULT '', sequence integer NOT NULL DEFAULT 0
)
"""
_AMA = {"OMIT": 1, "BILLING": 2, "DOCUMENTATION": 3}


def _headers(frame: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in frame.decode("utf-8", "replace").split("\r\n"):
        key, sep, value = line.partition(": ")
        if sep:
            out.setdefault(key, value)
    return out


class SimCdrWriter:
    """Watches the frames played; writes each ``Cdr`` to Master.csv and/or a table."""

    def __init__(
        self, csv_path: Path | None = None, db_url: str | None = None, table: str = "cdr"
    ) -> None:
        self.csv_path = csv_path
        self.db_url = db_url
        self.table = table
        self.rows: list[list[str]] = []  # every row written, in order
        self._linkedids: dict[str, str] = {}
        self._pending: list[list[str]] = []
        self._more = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def observe(self, name: bytes, frame: bytes) -> None:
        if name == b"Newchannel":
            headers = _headers(frame)
            self._linkedids[headers.get("Uniqueid", "")] = headers.get("Linkedid", "")
        elif name == b"Cdr":
            headers = _headers(frame)
            linkedid = self._linkedids.get(headers.get("UniqueID", ""), "")
            row = [headers.get(key, "") for key in CDR_EVENT_KEYS]
            row += ["", linkedid, str(len(self.rows))]
            self.rows.append(row)
            if self.csv_path is not None:
                buffer = io.StringIO()
                csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\n").writerow(row)
                with self.csv_path.open("a", encoding="utf-8") as fh:
                    fh.write(buffer.getvalue())
            if self.db_url is not None:
                self._pending.append(row)
                self._more.set()

    def start(self) -> None:
        if self.db_url is not None and self._task is None:
            self._task = asyncio.create_task(self._insert_loop(), name="ami-sim-cdr-table")

    async def close(self) -> None:
        if self._task is not None:
            await self.flush_table()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def flush_table(self) -> None:
        """Wait until every CDR so far is in the table."""
        while self._pending:  # noqa: ASYNC110 - the insert loop empties it
            await asyncio.sleep(0.01)

    async def _insert_loop(self) -> None:
        assert self.db_url is not None
        engine = create_async_engine(self.db_url)
        try:
            async with engine.begin() as conn:
                await conn.execute(text(CDR_TABLE_DDL.format(table=self.table)))
            while True:
                await self._more.wait()
                self._more.clear()
                rows, self._pending = list(self._pending), self._pending
                if rows:
                    async with engine.begin() as conn:
                        await conn.execute(_insert(self.table), [_table_row(r) for r in rows])
                    del self._pending[: len(rows)]
        finally:
            await engine.dispose()


def _insert(table: str) -> Any:
    columns = (
        "calldate", "clid", "src", "dst", "dcontext", "channel", "dstchannel", "lastapp",
        "lastdata", "duration", "billsec", "disposition", "amaflags", "accountcode",
        "uniqueid", "userfield", "peeraccount", "linkedid", "sequence",
    )  # fmt: skip
    names = ", ".join(columns)
    values = ", ".join(f":{c}" for c in columns)
    return text(f"INSERT INTO {table} ({names}) VALUES ({values})")


def _table_row(row: list[str]) -> dict[str, Any]:
    """A Master.csv row as cdr_pgsql's columns (times: the PBX's local time, here UTC)."""
    return {
        "calldate": datetime.strptime(row[9], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC),
        "clid": row[4],
        "src": row[1],
        "dst": row[2],
        "dcontext": row[3],
        "channel": row[5],
        "dstchannel": row[6],
        "lastapp": row[7],
        "lastdata": row[8],
        "duration": int(row[12] or 0),
        "billsec": int(row[13] or 0),
        "disposition": row[14],
        "amaflags": _AMA.get(row[15], 0),
        "accountcode": row[0],
        "uniqueid": row[16],
        "userfield": row[17],
        "peeraccount": row[18],
        "linkedid": row[19],
        "sequence": int(row[20]),
    }
