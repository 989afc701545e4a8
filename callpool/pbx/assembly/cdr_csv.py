"""Calls from Asterisk's ``Master.csv``: recovering calls that ended while AMI was down.

AMI has no replay. When the link comes back, the calls that ended in between are
rebuilt from the CDRs Asterisk's ``cdr_csv`` appended to ``Master.csv`` (setting
``cdr_csv_path`` of the PBX). The same vocabulary as the event assembly comes out: one
:class:`~callpool.pbx.assembly.call_state.AssembledCall` per linkedid, direction from the same
``PbxDialplan``, the same outcomes. Parsing and assembly are pure; only
:func:`read_master_csv` opens the file.

**Rows.** Only rows written with ``newcdrcolumns = yes`` (21 columns, ending
``peeraccount, linkedid, sequence``) are used: without a linkedid the rows of one call
cannot be grouped, nor matched with the calls already stored from AMI (keyed by
linkedid). Every row that cannot be used (another column count, a bad time, a negative
or non-numeric duration, an end before its start...) becomes a :class:`BadCsvRow` with
its line number and reason; nothing raises out of a batch.

**Rules, as in the event assembly** (``call_state``):

- *direction*: ``inbound`` when a row's party A is the inbound leg: its ``dcontext`` is an
  inbound context, or it is a ``Local/<DID>@<inbound context>-...`` channel (after a
  queue ``Goto`` or a transfer the rows say ``ext-queues``/``transfer``, the channel name
  still says ``from-pstn``), or its userfield carries ``did=<number>`` (see below);
  the caller's own device (``;1`` half) never is. Otherwise a dial from an internal
  context is ``internal`` when it rang an agent's channel, else ``outbound``. Linkedids
  with neither are not calls we track and are skipped.
- *answered*: a row that rang someone (it has a ``dstchannel``) ended ``ANSWERED``. The
  0-second ``ANSWERED`` row Asterisk writes for the ``Hangup()`` after an unanswered
  call-back has no ``dstchannel``, so that call stays unanswered (its ``NO ANSWER`` row
  has ``billsec > 0`` too: the agent's own leg was up). Answer time: the first such row;
  ``answered_by``: its agent; later answered agents are transfers.
- *abandoned*: the caller's leg ended while still ringing someone (its last row is a
  ``NO ANSWER`` dial). When the PBX gives up instead (Dial or Queue timeout) the dialplan
  runs one more application (``Hangup()``, ``Busy()``), which gets a row of its own.
  Else ``busy`` (a ``BUSY`` row), ``failed`` (``FAILED``/``CONGESTION``, or nobody was
  rung and the PBX hung up) or ``no_answer``. A queue that rang two rounds of two
  members has four ``NO ANSWER`` rows and is still one missed call.
- *times*: start is the earliest row start, end the latest row end; ``wait`` runs from
  the start (outbound: the first dial row's start) until the answer or the end;
  ``talk`` is the answered rows' ``billsec``, overlaps counted once.

**The dialled tracking number (inbound)**: ``did=<number>`` in the userfield if the
dialplan put it there (``asterisk/extensions.conf`` does, ``Set(CDR(userfield)=...)``),
else the ``dst`` of a row still in the inbound context, else the DID in a Local inbound
channel's name. What CDRs alone cannot know, checked on the captures:

- after a queue ``Goto`` every row says ``dst=700, dcontext=ext-queues``; after a blind
  transfer the rows say ``dst=<agent>, dcontext=transfer`` (in ``transfer`` both rows, in
  ``mixed-01`` only the second). With Local channels the name keeps the DID; with a SIP
  trunk (``PJSIP/trunk-00000012``) it does not: without the userfield such a call is not
  even recognised as inbound and is skipped.
- call-backs and internal calls originated through AMI (click-to-call, as in the
  captures) answer the agent's own leg first: the CDR answer time is the agent's pick-up,
  so ``answered_at`` is that pick-up, ``wait`` is about 1 s and ``talk`` (``billsec``)
  includes the callee's ring time (``talk`` here = ``wait + talk`` of the events). From a
  real phone, party A is answered when the callee answers: then all three are right.
- after a blind transfer the new agent's row starts "answered" at the transfer moment
  (the caller was up), so ``talk`` includes the new agent's ring time.
- the Dial/Queue rows give no time for a caller who hung up in an IVR before any dial;
  the call is ``abandoned`` unless the last application was ``Hangup``/``Busy``/
  ``Congestion`` (then the PBX ended it: ``failed``/``busy``).

Times are the PBX's local time without a zone: pass its ``tz``.
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path

from callpool.errors import AmiProtocolError
from callpool.pbx.assembly.call_state import AssembledCall, Direction, Outcome, missed_by
from callpool.pbx.assembly.cdr import CdrRecord, parse_master_csv_row
from callpool.pbx.assembly.dialplan import PbxDialplan

__all__ = [
    "MASTER_CSV_COLUMNS",
    "BadCsvRow",
    "CsvCalls",
    "MasterCsvBatch",
    "calls_from_cdrs",
    "calls_from_master_csv",
    "parse_master_csv",
    "read_master_csv",
]

MASTER_CSV_COLUMNS = (
    "accountcode", "src", "dst", "dcontext", "clid", "channel", "dstchannel", "lastapp",
    "lastdata", "start", "answer", "end", "duration", "billsec", "disposition", "amaflags",
    "uniqueid", "userfield", "peeraccount", "linkedid", "sequence",
)  # fmt: skip
# read_master_csv skips rows that ended this long before its window: no call lasts longer.
DEFAULT_LOOKBACK = timedelta(hours=12)

_ANSWERED = "ANSWERED"
_NO_ANSWER = "NO ANSWER"
_BUSY = "BUSY"
_FAILED = frozenset({"FAILED", "CONGESTION"})
_DIALS = frozenset({"Dial", "Queue"})  # applications that ring someone
# The application that ended a call in which nobody was rung, when the PBX ended it.
_PBX_ENDS: dict[str, Outcome] = {"Hangup": "failed", "Congestion": "failed", "Busy": "busy"}
_LOCAL = re.compile(r"^Local/(?P<exten>[^@]+)@(?P<context>.+)-[0-9a-f]+;[12]$")
_DID_TAG = re.compile(r"(?:^|[\s;,])did=(?P<did>\+?\d+)(?:$|[\s;,])")
_UNKNOWN = "<unknown>"


@dataclass(frozen=True, slots=True)
class BadCsvRow:
    """A line of Master.csv that was skipped, and why."""

    line: int
    reason: str


@dataclass(frozen=True, slots=True)
class MasterCsvBatch:
    cdrs: tuple[CdrRecord, ...]
    bad_rows: tuple[BadCsvRow, ...]


@dataclass(frozen=True, slots=True)
class CsvCalls:
    """Calls rebuilt from CDRs; ``untracked`` are linkedids that are no call we track."""

    calls: tuple[AssembledCall, ...]
    untracked: tuple[str, ...]
    bad_rows: tuple[BadCsvRow, ...] = ()


def parse_master_csv(lines: Iterable[str], tz: tzinfo = UTC) -> MasterCsvBatch:
    """Every usable row of Master.csv text (one row per line), and the skipped ones."""
    cdrs: list[CdrRecord] = []
    bad: list[BadCsvRow] = []
    for item in _iter_rows(lines, tz):
        if isinstance(item, BadCsvRow):
            bad.append(item)
        else:
            cdrs.append(item)
    return MasterCsvBatch(tuple(cdrs), tuple(bad))


def calls_from_master_csv(
    lines: Iterable[str], dialplan: PbxDialplan | None = None, tz: tzinfo = UTC
) -> CsvCalls:
    batch = parse_master_csv(lines, tz)
    found = calls_from_cdrs(batch.cdrs, dialplan)
    return CsvCalls(found.calls, found.untracked, batch.bad_rows)


def calls_from_cdrs(cdrs: Iterable[CdrRecord], dialplan: PbxDialplan | None = None) -> CsvCalls:
    """One call per linkedid, in the order the calls ended. CDRs without a linkedid are ignored."""
    dialplan = dialplan or PbxDialplan()
    groups: dict[str, list[CdrRecord]] = defaultdict(list)
    for cdr in cdrs:
        if cdr.linkedid:
            groups[cdr.linkedid].append(cdr)
    calls: list[AssembledCall] = []
    untracked: list[str] = []
    for linkedid, rows in groups.items():
        call = _call_from_rows(linkedid, rows, dialplan)
        if call is None:
            untracked.append(linkedid)
        else:
            calls.append(call)
    calls.sort(key=lambda c: (c.ended_at, c.linkedid))
    return CsvCalls(tuple(calls), tuple(untracked))


def read_master_csv(
    path: Path | str,
    since: datetime,
    until: datetime,
    tz: tzinfo = UTC,
    *,
    lookback: timedelta = DEFAULT_LOOKBACK,
) -> MasterCsvBatch:
    """The rows of every call whose last row ended in ``[since, until)``, and all bad rows.

    A call with a row ending at or after ``until`` is left out (it may still be going
    on). Rows ending before ``since - lookback`` are not kept. ``OSError`` if the file
    cannot be read.
    """
    kept: dict[str, list[CdrRecord]] = defaultdict(list)
    later: set[str] = set()
    bad: list[BadCsvRow] = []
    horizon = since - lookback
    with Path(path).open(encoding="utf-8", errors="replace", newline="") as fh:
        for item in _iter_rows(fh, tz):
            if isinstance(item, BadCsvRow):
                bad.append(item)
            elif item.end >= until:
                later.add(str(item.linkedid))
            elif item.end >= horizon:
                kept[str(item.linkedid)].append(item)
    cdrs = [
        cdr
        for linkedid, rows in kept.items()
        if linkedid not in later and max(r.end for r in rows) >= since
        for cdr in rows
    ]
    return MasterCsvBatch(tuple(cdrs), tuple(bad))


# --- rows ----------------------------------------------------------------------------
def _iter_rows(lines: Iterable[str], tz: tzinfo) -> Iterator[CdrRecord | BadCsvRow]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield _parse_line(line, tz)
        except AmiProtocolError as exc:
            yield BadCsvRow(number, str(exc))
        except csv.Error as exc:
            yield BadCsvRow(number, f"not a CSV row: {exc}")


def _parse_line(line: str, tz: tzinfo) -> CdrRecord:
    if "\x00" in line:
        raise AmiProtocolError("a NUL byte in the line")
    rows = list(csv.reader([line], strict=True))
    row: Sequence[str] = rows[0] if rows else []
    if len(row) == len(MASTER_CSV_COLUMNS) - 3:
        raise AmiProtocolError(
            "no linkedid column (18 columns): set newcdrcolumns = yes in cdr.conf [csv]"
        )
    if len(row) != len(MASTER_CSV_COLUMNS):
        raise AmiProtocolError(f"{len(row)} columns, expected {len(MASTER_CSV_COLUMNS)}")
    cdr = parse_master_csv_row(row, tz)
    if not cdr.linkedid:
        raise AmiProtocolError("empty linkedid")
    if cdr.end < cdr.start:
        raise AmiProtocolError(f"end {row[11]!r} is before start {row[9]!r}")
    if cdr.answer is not None and not cdr.start <= cdr.answer <= cdr.end:
        raise AmiProtocolError(f"answer {row[10]!r} is outside start..end")
    if cdr.billsec > cdr.duration:
        raise AmiProtocolError(f"billsec {cdr.billsec} exceeds duration {cdr.duration}")
    return cdr


# --- calls ---------------------------------------------------------------------------
def _call_from_rows(
    linkedid: str, rows: list[CdrRecord], dialplan: PbxDialplan
) -> AssembledCall | None:
    rows = sorted(rows, key=lambda r: (r.start, r.sequence or 0))
    inbound = [r for r in rows if _is_inbound_row(r, dialplan)]
    direction: Direction
    if inbound:
        direction = "inbound"
        caller_channel = inbound[0].channel
        caller = next((_number(r.src) for r in inbound if _number(r.src)), "")
        dialled = _dialled_did(inbound, dialplan)
    else:
        first = next(
            (r for r in rows if r.dstchannel and dialplan.is_internal_context(r.dcontext)), None
        )
        if first is None:
            return None
        direction = "internal" if dialplan.agent_extension(first.dstchannel) else "outbound"
        caller_channel = first.channel
        caller = _number(first.src) or dialplan.agent_extension(first.channel) or ""
        dialled = first.dst
    leg = [r for r in rows if r.channel == caller_channel]
    rang = [r for r in rows if r.dstchannel or r.lastapp in _DIALS]
    answered = sorted(
        (r for r in rang if r.dstchannel and r.disposition == _ANSWERED and r.answer),
        key=lambda r: (r.answer or r.start, r.sequence or 0),
    )
    started_at = rows[0].start
    ended_at = max(r.end for r in rows)
    answered_at = answered[0].answer if answered else None
    answered_by = dialplan.agent_extension(answered[0].dstchannel) if answered else None
    transfers: list[str] = []
    for row in answered[1:]:
        agent = dialplan.agent_extension(row.dstchannel)
        if agent and agent != answered_by and agent not in transfers:
            transfers.append(agent)
    wait_from = started_at
    if direction != "inbound" and rang:
        wait_from = min(r.start for r in rang)
    return AssembledCall(
        pbx=dialplan.pbx,
        linkedid=linkedid,
        uniqueid=linkedid,  # the linkedid is the uniqueid of the call's first channel
        direction=direction,
        caller_number=caller,
        dialled_number=dialled,
        started_at=started_at,
        answered_at=answered_at,
        ended_at=ended_at,
        wait_seconds=_seconds((answered_at or ended_at) - wait_from),
        talk_seconds=_talk_seconds(answered),
        outcome="answered" if answered else _unanswered_outcome(leg, rang),
        answered_by=answered_by,
        transfers=tuple(transfers),
        missed_by=missed_by(_agents(rang, dialplan), answered_by, transfers)
        if direction == "inbound"
        else (),
        cdrs=tuple(sorted(rows, key=lambda r: r.sequence or 0)),
        end_reason="cdr",
    )


def _agents(rows: Iterable[CdrRecord], dialplan: PbxDialplan) -> list[str]:
    return [a for r in rows if (a := dialplan.agent_extension(r.dstchannel))]


def _is_inbound_row(row: CdrRecord, dialplan: PbxDialplan) -> bool:
    if _DID_TAG.search(row.userfield):
        return True
    local = _LOCAL.match(row.channel)
    created_in = local["context"] if local else ""
    return dialplan.is_inbound_leg(row.channel, row.dcontext) or dialplan.is_inbound_leg(
        row.channel, created_in
    )


def _dialled_did(rows: list[CdrRecord], dialplan: PbxDialplan) -> str:
    for row in rows:
        if tag := _DID_TAG.search(row.userfield):
            return tag["did"]
    for row in rows:
        if row.dcontext in dialplan.inbound_contexts and row.dst:
            return row.dst
    for row in rows:
        local = _LOCAL.match(row.channel)
        if local and local["context"] in dialplan.inbound_contexts:
            return local["exten"]
    return ""


def _unanswered_outcome(leg: list[CdrRecord], rang: list[CdrRecord]) -> Outcome:
    last = max(leg, key=lambda r: (r.end, r.sequence or 0))
    if not rang:  # nobody was rung: the PBX ended the call, or the caller did
        return _PBX_ENDS.get(last.lastapp, "abandoned")
    if (last.dstchannel or last.lastapp in _DIALS) and last.disposition == _NO_ANSWER:
        return "abandoned"  # the caller's leg ended while it was still ringing someone
    dispositions = {r.disposition for r in rang}
    if _BUSY in dispositions:
        return "busy"
    if dispositions & _FAILED:
        return "failed"
    return "no_answer"


def _talk_seconds(answered: list[CdrRecord]) -> int:
    spans = sorted(
        (r.answer, r.answer + timedelta(seconds=r.billsec)) for r in answered if r.answer
    )
    total = timedelta()
    current: tuple[datetime, datetime] | None = None
    for start, end in spans:
        if current is None or start > current[1]:
            if current is not None:
                total += current[1] - current[0]
            current = (start, end)
        else:
            current = (current[0], max(current[1], end))
    if current is not None:
        total += current[1] - current[0]
    return _seconds(total)


def _number(value: str) -> str:
    return "" if value == _UNKNOWN else value


def _seconds(span: timedelta) -> int:
    return max(0, int(span.total_seconds()))
