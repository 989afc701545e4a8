"""Where a PBX's CDRs can be read back: Master.csv, or a CDR table in PostgreSQL.

AMI has no replay; the CDRs Asterisk writes are the record of what happened while
callpool was not listening. A PBX may have either source or both (``cdr_csv_path``,
``cdr_db_url`` + ``cdr_db_table`` in its settings); :func:`read_cdrs` reads every one
configured and merges them (a row in both counts once). Each source gives the rows of
every call whose last row ended in ``[since, until)`` (see
:func:`~callpool.pbx.assembly.cdr_table.cdrs_in_window`).

MySQL (FreePBX's ``asteriskcdrdb``) is not supported here: no well-kept async MySQL
driver is a dependency of callpool; point ``cdr_adaptive_odbc`` at PostgreSQL, or share
Master.csv.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from pydantic import SecretStr
from sqlalchemy import Select, column, literal_column, select, table
from sqlalchemy.ext.asyncio import create_async_engine

from callpool.errors import AmiProtocolError
from callpool.pbx.assembly.cdr import CdrRecord
from callpool.pbx.assembly.cdr_csv import DEFAULT_LOOKBACK, read_master_csv
from callpool.pbx.assembly.cdr_table import cdr_from_table_row, cdrs_in_window
from callpool.pbx.listener_stats import brief
from callpool.settings import PbxSettings

log = logging.getLogger("callpool.ami")


@dataclass
class CdrRead:
    """The CDRs read from every source, and what went wrong on the way."""

    cdrs: tuple[CdrRecord, ...] = ()
    sources: int = 0  # sources read without an error
    failed: list[str] = field(default_factory=list)  # one line per source that failed
    bad_rows: int = 0


class CdrSource(Protocol):
    label: str

    async def read(self, since: datetime, until: datetime) -> tuple[list[CdrRecord], int]:
        """The rows in the window, and how many unusable rows were skipped."""
        ...


class MasterCsvSource:
    def __init__(self, path: Path, tz: tzinfo) -> None:
        self.path = path
        self.tz = tz
        self.label = str(path)

    async def read(self, since: datetime, until: datetime) -> tuple[list[CdrRecord], int]:
        batch = await asyncio.to_thread(read_master_csv, self.path, since, until, self.tz)
        if batch.bad_rows:
            first = batch.bad_rows[0]
            log.warning(
                "CDR %s: skipped %d unusable rows (line %d: %s)",
                self.label,
                len(batch.bad_rows),
                first.line,
                first.reason,
            )
        return list(batch.cdrs), len(batch.bad_rows)


class CdrTableSource:
    """``SELECT * FROM <table>`` since the window's start (less a day's slack), filtered here.

    The engine is made for each read (recovery and sweeps are rare) inside the running
    loop, and disposed after it.
    """

    def __init__(self, url: SecretStr, name: str, tz: tzinfo) -> None:
        self._url = url
        schema, _, table_name = name.rpartition(".")
        self._table = table(table_name, column("calldate"), schema=schema or None)
        self.tz = tz
        self.label = f"CDR table {name}"

    async def read(self, since: datetime, until: datetime) -> tuple[list[CdrRecord], int]:
        # calldate may be a timestamp with or without a zone: compare with a generous
        # local bound in SQL, and exactly here.
        horizon = (since - DEFAULT_LOOKBACK - timedelta(days=1)).astimezone(self.tz)
        statement: Select[Any] = (
            select(literal_column("*"))
            .select_from(self._table)
            .where(self._table.c.calldate >= horizon.replace(tzinfo=None))
        )
        engine = create_async_engine(self._url.get_secret_value(), pool_pre_ping=False)
        try:
            async with engine.connect() as conn:
                rows = (await conn.execute(statement)).mappings().all()
        finally:
            await engine.dispose()
        cdrs: list[CdrRecord] = []
        bad: list[str] = []
        for row in rows:
            try:
                cdrs.append(cdr_from_table_row(row, self.tz))
            except AmiProtocolError as exc:
                bad.append(str(exc))
        if bad:
            log.warning("CDR %s: skipped %d unusable rows (%s)", self.label, len(bad), bad[0])
        kept = [cdr for cdr in cdrs if cdr.end >= since - DEFAULT_LOOKBACK]
        return list(cdrs_in_window(kept, since, until)), len(bad)


def cdr_sources_for(pbx: PbxSettings) -> list[CdrSource]:
    tz = ZoneInfo(pbx.timezone)
    sources: list[CdrSource] = []
    if pbx.cdr_csv_path is not None:
        sources.append(MasterCsvSource(pbx.cdr_csv_path, tz))
    if pbx.cdr_db_url is not None:
        sources.append(CdrTableSource(pbx.cdr_db_url, pbx.cdr_db_table, tz))
    return sources


async def read_cdrs(
    pbx: str, sources: list[CdrSource], since: datetime, until: datetime
) -> CdrRead:
    """Every source's rows in the window, a row found in two sources once."""
    result = CdrRead()
    seen: set[tuple[object, ...]] = set()
    merged: list[CdrRecord] = []
    for source in sources:
        try:
            cdrs, bad = await source.read(since, until)
        except Exception as exc:  # a file or database we cannot read must not stop us
            line = f"{source.label}: {brief(exc)}"
            log.warning("AMI %s: cannot read CDRs from %s", pbx, line)
            result.failed.append(line)
            continue
        result.sources += 1
        result.bad_rows += bad
        for cdr in cdrs:
            key = (cdr.linkedid, cdr.sequence, *cdr.key)
            if key not in seen:
                seen.add(key)
                merged.append(cdr)
    result.cdrs = tuple(merged)
    return result
