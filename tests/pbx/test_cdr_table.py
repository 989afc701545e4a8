"""CDR table rows (cdr_pgsql's default columns) as records, and the window rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from callpool.errors import AmiProtocolError
from callpool.pbx.assembly.cdr_table import cdr_from_table_row, cdrs_in_window

MSK = ZoneInfo("Europe/Moscow")
ROW = {
    "calldate": datetime(2026, 12, 1, 12, 0, 0),  # a timestamp without a zone: PBX local
    "clid": '"79161110001" <79161110001>',
    "src": "79161110001",
    "dst": "74950000001",
    "dcontext": "from-pstn",
    "channel": "Local/74950000001@from-pstn-00000001;2",
    "dstchannel": "Local/201@agents-00000002;1",
    "lastapp": "Dial",
    "lastdata": "Local/201@agents,30",
    "duration": 25,
    "billsec": 20,
    "disposition": "ANSWERED",
    "amaflags": 3,
    "accountcode": "",
    "uniqueid": "1796000000.1",
    "userfield": "did=74950000001",
    "peeraccount": "",
    "linkedid": "1796000000.0",
    "sequence": 4,
}


def test_end_and_answer_come_from_duration_and_billsec_in_the_pbx_zone() -> None:
    cdr = cdr_from_table_row(ROW, MSK)
    assert cdr.start == datetime(2026, 12, 1, 12, 0, 0, tzinfo=MSK)
    assert cdr.end == cdr.start + timedelta(seconds=25)
    assert cdr.answer == cdr.end - timedelta(seconds=20)
    assert (cdr.amaflags, cdr.linkedid, cdr.sequence) == ("DOCUMENTATION", "1796000000.0", 4)


def test_a_zoned_calldate_and_explicit_end_columns_are_used() -> None:
    start = datetime(2026, 12, 1, 9, 0, 0, tzinfo=UTC)
    row = ROW | {"calldate": start, "end": start + timedelta(seconds=30), "billsec": 0}
    cdr = cdr_from_table_row(row, MSK)
    assert cdr.start == start and cdr.end == start + timedelta(seconds=30)
    assert cdr.answer is None


@pytest.mark.parametrize(
    "change", [{"linkedid": ""}, {"duration": -1}, {"billsec": 30}, {"calldate": "yesterday"}]
)
def test_unusable_rows_raise_a_protocol_error(change: dict[str, object]) -> None:
    with pytest.raises(AmiProtocolError):
        cdr_from_table_row(ROW | change, MSK)


def test_the_window_keeps_whole_calls_that_ended_inside_it() -> None:
    first = cdr_from_table_row(ROW, UTC)
    second = cdr_from_table_row(ROW | {"duration": 600, "billsec": 0, "sequence": 5}, UTC)
    other = cdr_from_table_row(ROW | {"linkedid": "x", "duration": 5, "billsec": 0}, UTC)
    since = first.start + timedelta(seconds=20)
    assert cdrs_in_window([first, other], since, since + timedelta(hours=1)) == (first,)
    # A call with a row ending after the window may still be going on: left out whole.
    assert cdrs_in_window([first, second], since, since + timedelta(seconds=60)) == ()
