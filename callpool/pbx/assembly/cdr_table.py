"""CDRs from a database table, as Asterisk's ``cdr_pgsql`` and ``cdr_adaptive_odbc`` write them.

Pure: a row (a mapping of column name to value, as a driver returns it) in, a
:class:`~callpool.pbx.assembly.cdr.CdrRecord` out. The columns are Asterisk's defaults
(``cdr_pgsql``'s table, which FreePBX's ``asteriskcdrdb.cdr`` and the usual
``cdr_adaptive_odbc`` set-up share): ``calldate`` (the start), ``clid``, ``src``, ``dst``,
``dcontext``, ``channel``, ``dstchannel``, ``lastapp``, ``lastdata``, ``duration``,
``billsec``, ``disposition``, ``amaflags``, ``accountcode``, ``uniqueid``, ``userfield``,
``peeraccount``, ``linkedid``, ``sequence``. That table has no end or answer time: the end
is ``calldate + duration`` and the answer ``end - billsec`` (when ``billsec > 0``), as
Asterisk computes them; ``start``/``answer``/``end`` columns are used when present
(``cdr_adaptive_odbc`` fills columns named after them). Times without a zone are the
PBX's local time.

:func:`cdrs_in_window` is the window rule both sources share: the rows of every call
whose last row ended in ``[since, until)``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, tzinfo
from typing import Any

from callpool.errors import AmiProtocolError
from callpool.pbx.assembly.cdr import CdrRecord

__all__ = ["CDR_TABLE_COLUMNS", "cdr_from_table_row", "cdrs_in_window"]

CDR_TABLE_COLUMNS = (
    "calldate", "clid", "src", "dst", "dcontext", "channel", "dstchannel", "lastapp",
    "lastdata", "duration", "billsec", "disposition", "amaflags", "accountcode", "uniqueid",
    "userfield", "peeraccount", "linkedid", "sequence",
)  # fmt: skip
# amaflags as a number (cdr_pgsql's bigint column) and as Master.csv writes it.
_AMA_FLAGS = {"1": "OMIT", "2": "BILLING", "3": "DOCUMENTATION"}


def cdr_from_table_row(row: Mapping[str, Any], tz: tzinfo) -> CdrRecord:
    """One CDR table row as a record; ``AmiProtocolError`` when it cannot be used."""
    start = _time("calldate", row.get("start") or row.get("calldate"), tz)
    duration = _count("duration", row.get("duration"))
    billsec = _count("billsec", row.get("billsec"))
    if billsec > duration:
        raise AmiProtocolError(f"billsec {billsec} exceeds duration {duration}")
    end = _time("end", row["end"], tz) if row.get("end") else start + timedelta(seconds=duration)
    answer: datetime | None
    if row.get("answer"):
        answer = _time("answer", row["answer"], tz)
    else:
        answer = end - timedelta(seconds=billsec) if billsec > 0 else None
    linkedid = _text(row.get("linkedid"))
    if not linkedid:
        raise AmiProtocolError("empty linkedid (add the linkedid column to the CDR table)")
    sequence = row.get("sequence")
    amaflags = _text(row.get("amaflags"))
    return CdrRecord(
        accountcode=_text(row.get("accountcode")),
        src=_text(row.get("src")),
        dst=_text(row.get("dst")),
        dcontext=_text(row.get("dcontext")),
        clid=_text(row.get("clid")),
        channel=_text(row.get("channel")),
        dstchannel=_text(row.get("dstchannel")),
        lastapp=_text(row.get("lastapp")),
        lastdata=_text(row.get("lastdata")),
        start=start,
        answer=answer,
        end=end,
        duration=duration,
        billsec=billsec,
        disposition=_text(row.get("disposition")),
        amaflags=_AMA_FLAGS.get(amaflags, amaflags),
        uniqueid=_text(row.get("uniqueid")),
        userfield=_text(row.get("userfield")),
        linkedid=linkedid,
        sequence=None if sequence is None else _count("sequence", sequence),
        # FreePBX's column (a table without it leaves the recording to the file pattern).
        recording_file=_text(row.get("recordingfile")),
    )


def cdrs_in_window(
    cdrs: Iterable[CdrRecord], since: datetime, until: datetime
) -> tuple[CdrRecord, ...]:
    """The rows of every call whose last row ended in ``[since, until)``.

    A call with a row ending at or after ``until`` is left out (it may still be going on).
    """
    by_call: dict[str, list[CdrRecord]] = defaultdict(list)
    for cdr in cdrs:
        by_call[str(cdr.linkedid)].append(cdr)
    return tuple(
        cdr
        for rows in by_call.values()
        if since <= max(r.end for r in rows) < until
        for cdr in rows
    )


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _count(field: str, value: Any) -> int:
    if isinstance(value, int) and value >= 0:
        return value
    text = _text(value).strip()
    if not text.isascii() or not text.isdigit():
        raise AmiProtocolError(f"CDR {field} is not a non-negative whole number: {value!r}")
    return int(text)


def _time(field: str, value: Any, tz: tzinfo) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(tz) if value.tzinfo is not None else value.replace(tzinfo=tz)
    try:
        parsed = datetime.strptime(_text(value).strip()[:19], "%Y-%m-%d %H:%M:%S")
    except ValueError:
        raise AmiProtocolError(f"CDR {field} is not a time: {value!r}") from None
    return parsed.replace(tzinfo=tz)
