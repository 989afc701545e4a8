"""Asterisk's own call detail records, from the AMI ``Cdr`` event or a ``Master.csv`` row.

Both carry the same values (checked field by field on the captures); the CSV written
with ``newcdrcolumns = yes`` adds ``peeraccount``, ``linkedid`` and ``sequence``. The
``Cdr`` event has no linkedid: the call assembler fills it in from the channel events.

CDR times are the PBX's *local* time without a zone (``YYYY-MM-DD HH:MM:SS``, one-second
resolution), so every parser takes the PBX's ``tz`` and returns aware datetimes.
A value that cannot be right (a non-numeric or negative duration, a bad date) raises
``AmiProtocolError`` naming the field.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from callpool.errors import AmiProtocolError
from callpool.pbx.assembly import names
from callpool.pbx.assembly.events import AmiMessage

__all__ = ["CdrRecord", "cdr_from_event", "parse_master_csv_row"]


@dataclass(frozen=True, slots=True)
class CdrRecord:
    """One CDR row, as Asterisk wrote it, with aware datetimes."""

    accountcode: str
    src: str
    dst: str
    dcontext: str
    clid: str
    channel: str
    dstchannel: str
    lastapp: str
    lastdata: str
    start: datetime
    answer: datetime | None
    end: datetime
    duration: int
    billsec: int
    disposition: str
    amaflags: str
    uniqueid: str
    userfield: str
    linkedid: str | None = None
    sequence: int | None = None
    # The recording's file name, where a cdr_manager mapping (or a CDR table column)
    # carries CDR(recordingfile); empty otherwise.
    recording_file: str = ""

    @property
    def key(self) -> tuple[str, str, datetime, str]:
        """What tells two CDRs of one party A apart when there is no ``sequence``.

        ``uniqueid`` repeats across the CDRs of one party A (a queue call has one per
        member per ring round); with the destination channel, start and application it
        is unique in every capture.
        """
        return (self.uniqueid, self.dstchannel, self.start, self.lastapp)


def cdr_from_event(msg: AmiMessage, tz: tzinfo = UTC) -> CdrRecord:
    """The CDR carried by an ``Event: Cdr`` message (``linkedid``/``sequence`` are None)."""
    if msg.event != names.CDR:
        raise AmiProtocolError(f"not a Cdr event: {msg.event!r}")
    get = msg.get
    if not get(names.CDR_UNIQUEID):
        raise AmiProtocolError("Cdr event without UniqueID")
    return CdrRecord(
        accountcode=get(names.CDR_ACCOUNT_CODE),
        src=get(names.CDR_SOURCE),
        dst=get(names.CDR_DESTINATION),
        dcontext=get(names.CDR_DESTINATION_CONTEXT),
        clid=get(names.CDR_CALLERID),
        channel=get(names.CDR_CHANNEL),
        dstchannel=get(names.CDR_DESTINATION_CHANNEL),
        lastapp=get(names.CDR_LAST_APPLICATION),
        lastdata=get(names.CDR_LAST_DATA),
        start=_time(names.CDR_START_TIME, get(names.CDR_START_TIME), tz),
        answer=_optional_time(names.CDR_ANSWER_TIME, get(names.CDR_ANSWER_TIME), tz),
        end=_time(names.CDR_END_TIME, get(names.CDR_END_TIME), tz),
        duration=_non_negative_int(names.CDR_DURATION, get(names.CDR_DURATION)),
        billsec=_non_negative_int(names.CDR_BILLABLE_SECONDS, get(names.CDR_BILLABLE_SECONDS)),
        disposition=get(names.CDR_DISPOSITION),
        amaflags=get(names.CDR_AMA_FLAGS),
        uniqueid=get(names.CDR_UNIQUEID),
        userfield=get(names.CDR_USER_FIELD),
        recording_file=get(names.CDR_RECORDING_FILE).strip(),
    )


# Master.csv columns with loguniqueid + loguserfield (18), plus newcdrcolumns (21).
_CSV_BASE_COLUMNS = 18
_CSV_NEW_COLUMNS = 21


def parse_master_csv_row(row: Sequence[str], tz: tzinfo = UTC) -> CdrRecord:
    """One ``Master.csv`` row (as ``csv.reader`` yields it) as a record.

    Columns: accountcode, src, dst, dcontext, clid, channel, dstchannel, lastapp,
    lastdata, start, answer, end, duration, billsec, disposition, amaflags, uniqueid,
    userfield[, peeraccount, linkedid, sequence]. ``peeraccount`` is not kept.
    """
    if len(row) not in (_CSV_BASE_COLUMNS, _CSV_NEW_COLUMNS):
        raise AmiProtocolError(
            f"Master.csv row has {len(row)} columns, expected {_CSV_BASE_COLUMNS} "
            f"or {_CSV_NEW_COLUMNS}"
        )
    linkedid: str | None = None
    sequence: int | None = None
    if len(row) == _CSV_NEW_COLUMNS:
        linkedid = row[19]
        sequence = _non_negative_int("sequence", row[20])
    return CdrRecord(
        accountcode=row[0],
        src=row[1],
        dst=row[2],
        dcontext=row[3],
        clid=row[4],
        channel=row[5],
        dstchannel=row[6],
        lastapp=row[7],
        lastdata=row[8],
        start=_time("start", row[9], tz),
        answer=_optional_time("answer", row[10], tz),
        end=_time("end", row[11], tz),
        duration=_non_negative_int("duration", row[12]),
        billsec=_non_negative_int("billsec", row[13]),
        disposition=row[14],
        amaflags=row[15],
        uniqueid=row[16],
        userfield=row[17],
        linkedid=linkedid,
        sequence=sequence,
    )


def _non_negative_int(field: str, value: str) -> int:
    text = value.strip()
    if not text.isascii() or not text.isdigit():
        raise AmiProtocolError(f"CDR {field} is not a non-negative whole number: {value!r}")
    return int(text)


def _time(field: str, value: str, tz: tzinfo) -> datetime:
    try:
        parsed = datetime.strptime(value.strip(), "%Y-%m-%d %H:%M:%S")
    except ValueError:
        raise AmiProtocolError(
            f"CDR {field} is not a YYYY-MM-DD HH:MM:SS time: {value!r}"
        ) from None
    return parsed.replace(tzinfo=tz)


def _optional_time(field: str, value: str, tz: tzinfo) -> datetime | None:
    # Asterisk leaves the answer time empty when the call was never answered.
    return _time(field, value, tz) if value.strip() else None
