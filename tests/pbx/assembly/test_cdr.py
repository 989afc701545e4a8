"""CDRs from the AMI ``Cdr`` event and from Master.csv rows."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from callpool.errors import AmiProtocolError
from callpool.pbx.assembly.cdr import cdr_from_event, parse_master_csv_row
from callpool.pbx.assembly.events import AmiMessage
from tests.pbx.captures import ALL_CAPTURES, load_capture

pytestmark = pytest.mark.pure

ROW = [
    "", "79161110001", "74950000001", "from-pstn", '"" <79161110001>',
    "Local/74950000001@from-pstn-00000000;2", "Local/201@agents-00000001;1", "Dial",
    "Local/201@agents,20", "2026-11-23 02:33:05", "2026-11-23 02:33:09",
    "2026-11-23 02:33:29", "24", "20", "ANSWERED", "DOCUMENTATION", "1795401185.1", "",
    "", "1795401185.0", "1",
]  # fmt: skip

EVENT = {
    "Event": "Cdr",
    "Privilege": "cdr,all",
    "AccountCode": "",
    "Source": "79161110001",
    "Destination": "74950000001",
    "DestinationContext": "from-pstn",
    "CallerID": '"" <79161110001>',
    "Channel": "Local/74950000001@from-pstn-00000000;2",
    "DestinationChannel": "Local/201@agents-00000001;1",
    "LastApplication": "Dial",
    "LastData": "Local/201@agents,20",
    "StartTime": "2026-11-23 02:33:05",
    "AnswerTime": "2026-11-23 02:33:09",
    "EndTime": "2026-11-23 02:33:29",
    "Duration": "24",
    "BillableSeconds": "20",
    "Disposition": "ANSWERED",
    "AMAFlags": "DOCUMENTATION",
    "UniqueID": "1795401185.1",
    "UserField": "",
}


def test_master_csv_row_has_every_field() -> None:
    cdr = parse_master_csv_row(ROW)
    assert (cdr.src, cdr.dst, cdr.dcontext, cdr.clid) == (
        "79161110001",
        "74950000001",
        "from-pstn",
        '"" <79161110001>',
    )
    assert (cdr.channel, cdr.dstchannel, cdr.lastapp, cdr.lastdata) == (
        "Local/74950000001@from-pstn-00000000;2",
        "Local/201@agents-00000001;1",
        "Dial",
        "Local/201@agents,20",
    )
    assert cdr.start == datetime(2026, 11, 23, 2, 33, 5, tzinfo=UTC)
    assert cdr.answer == datetime(2026, 11, 23, 2, 33, 9, tzinfo=UTC)
    assert (cdr.duration, cdr.billsec, cdr.disposition, cdr.amaflags) == (
        24,
        20,
        "ANSWERED",
        "DOCUMENTATION",
    )
    assert (cdr.uniqueid, cdr.userfield, cdr.linkedid, cdr.sequence) == (
        "1795401185.1",
        "",
        "1795401185.0",
        1,
    )


def test_event_and_row_give_the_same_record_but_linkedid_and_sequence() -> None:
    from_event = cdr_from_event(AmiMessage(EVENT))
    assert (from_event.linkedid, from_event.sequence) == (None, None)
    assert from_event == replace(parse_master_csv_row(ROW), linkedid=None, sequence=None)


def test_row_without_new_columns_has_no_linkedid() -> None:
    cdr = parse_master_csv_row(ROW[:18])
    assert (cdr.linkedid, cdr.sequence) == (None, None)


def test_empty_answer_time_means_never_answered() -> None:
    assert cdr_from_event(AmiMessage({**EVENT, "AnswerTime": ""})).answer is None
    assert parse_master_csv_row([*ROW[:10], "", *ROW[11:]]).answer is None


def test_local_times_take_the_pbx_time_zone() -> None:
    moscow = timezone(timedelta(hours=3))
    cdr = cdr_from_event(AmiMessage(EVENT), moscow)
    assert cdr.start == datetime(2026, 11, 22, 23, 33, 5, tzinfo=UTC)
    assert cdr.start.utcoffset() == timedelta(hours=3)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("Duration", "abc", "Duration"),
        ("Duration", "-5", "Duration"),
        ("BillableSeconds", "1.5", "BillableSeconds"),
        ("StartTime", "2026-13-45 99:00:00", "StartTime"),
        ("EndTime", "", "EndTime"),
        ("AnswerTime", "yesterday", "AnswerTime"),
        ("UniqueID", "", "UniqueID"),
    ],
)
def test_invalid_event_values_raise_naming_the_field(field: str, value: str, message: str) -> None:
    with pytest.raises(AmiProtocolError, match=message):
        cdr_from_event(AmiMessage({**EVENT, field: value}))


def test_invalid_csv_rows_raise() -> None:
    with pytest.raises(AmiProtocolError, match="columns"):
        parse_master_csv_row(ROW[:5])
    with pytest.raises(AmiProtocolError, match="duration"):
        parse_master_csv_row([*ROW[:12], "-1", *ROW[13:]])
    with pytest.raises(AmiProtocolError, match="sequence"):
        parse_master_csv_row([*ROW[:20], "x"])


def test_only_a_cdr_event_is_a_cdr() -> None:
    with pytest.raises(AmiProtocolError, match="not a Cdr"):
        cdr_from_event(AmiMessage({**EVENT, "Event": "CEL"}))


@pytest.mark.parametrize("name", ALL_CAPTURES)
def test_cdr_events_carry_the_master_csv_values(name: str) -> None:
    capture = load_capture(name)
    from_events = [cdr_from_event(msg) for msg, _ in capture.events if msg.event == "Cdr"]
    from_csv = [replace(cdr, linkedid=None, sequence=None) for cdr in capture.master]
    assert sorted(from_events, key=lambda c: c.key) == sorted(from_csv, key=lambda c: c.key)
    assert len({c.key for c in from_events}) == len(from_events)  # the key is unique
