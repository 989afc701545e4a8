"""The durable journal: append, fsync, replay after a crash, torn lines, commit, rotation."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from callpool.pbx.journal import Journal, JournalRecord


def event(n: int) -> dict[str, str | list[str]]:
    return {
        "Event": "Newchannel",
        "Uniqueid": f"1795401185.{n}",
        "CallerIDName": "Алекс",
        "ChanVariable": ["A=1", "B=2"],
    }


def fill(journal: Journal, n: int) -> list[int]:
    return [journal.append("main", 1000.0 + i, event(i)) for i in range(n)]


def segments(directory: Path) -> list[Path]:
    return sorted(directory.glob("segment-*.jsonl"))


def test_flushed_records_replay_in_order_after_a_restart(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    assert fill(journal, 3) == [1, 2, 3]
    assert journal.pending == 3 and journal.durable_seq == 0
    journal.flush()
    assert journal.pending == 0 and journal.durable_seq == 3
    reopened = Journal(tmp_path)  # a "crash": the old object is simply dropped
    records = list(reopened.replay())
    assert records[0] == JournalRecord(1, "main", 1000.0, event(0))
    assert [r.seq for r in records] == [1, 2, 3]
    assert reopened.append("main", 2000.0, event(9)) == 4


def test_unflushed_records_are_the_durability_window(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    fill(journal, 2)
    journal.flush()
    fill(journal, 5)  # never flushed: lost in a crash
    assert [r.seq for r in Journal(tmp_path).replay()] == [1, 2]


def test_replay_skips_committed_records(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    fill(journal, 5)
    journal.commit(3)
    journal.flush()
    reopened = Journal(tmp_path)
    assert reopened.committed_seq == 3
    assert [r.seq for r in reopened.replay()] == [4, 5]
    assert reopened.append("main", 0.0, event(0)) == 6


def test_torn_last_line_is_ignored_counted_and_cut(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    fill(journal, 3)
    journal.flush()
    [path] = segments(tmp_path)
    intact = path.stat().st_size
    with path.open("ab") as file:
        file.write(b'{"seq":4,"pbx":"main","received_at":1.0,"headers":{"Event":"Ha')
    reopened = Journal(tmp_path)
    assert reopened.torn_records == 1 and reopened.corrupt_records == 0
    assert path.stat().st_size == intact
    assert [r.seq for r in reopened.replay()] == [1, 2, 3]
    assert reopened.append("main", 0.0, event(4)) == 4
    reopened.flush()
    again = Journal(tmp_path)
    assert [r.seq for r in again.replay()] == [1, 2, 3, 4] and again.torn_records == 0


def test_corrupt_line_in_the_middle_is_skipped_not_fatal(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    fill(journal, 1)
    journal.flush()
    [path] = segments(tmp_path)
    with path.open("ab") as file:
        file.write(b"garbage\n")
    journal.append("main", 0.0, event(2))
    journal.flush()
    reopened = Journal(tmp_path)
    assert reopened.corrupt_records == 1
    assert [r.seq for r in reopened.replay()] == [1, 2]


def test_commit_rotates_and_deletes_committed_segments(tmp_path: Path) -> None:
    journal = Journal(tmp_path, segment_bytes=1000)
    for _ in range(10):
        fill(journal, 5)
        journal.flush()
    assert len(segments(tmp_path)) >= 5
    journal.commit(45)
    journal.flush()
    assert len(segments(tmp_path)) <= 2
    assert [r.seq for r in journal.replay()] == [46, 47, 48, 49, 50]
    assert [r.seq for r in Journal(tmp_path, segment_bytes=1000).replay()] == [46, 47, 48, 49, 50]
    journal.commit(50)
    journal.flush()
    reopened = Journal(tmp_path, segment_bytes=1000)
    assert list(reopened.replay()) == []
    assert reopened.append("main", 0.0, event(0)) == 51


async def test_background_flusher_makes_appends_durable(tmp_path: Path) -> None:
    journal = Journal(tmp_path, flush_interval=0.05, flush_records=10)
    journal.start()
    try:
        fill(journal, 25)
        async with asyncio.timeout(5):
            while journal.durable_seq < 25:  # noqa: ASYNC110 - polling the flusher's progress
                await asyncio.sleep(0.01)
        journal.commit(20)
    finally:
        await journal.close()
    assert [r.seq for r in Journal(tmp_path).replay()] == [21, 22, 23, 24, 25]


def test_a_record_is_the_line_json_dumps_writes(tmp_path: Path) -> None:
    headers: dict[str, str | list[str]] = {
        "Event": "Cdr",
        "CallerID": '"Алекс" <79161110001>',
        "Data": "PJSIP/201\\x,30\t",
        "Variable": ["A=1", "B=2"],
    }
    journal = Journal(tmp_path)
    journal.append("main", 1795401185.123456, headers)
    journal.flush()
    record = {"seq": 1, "pbx": "main", "received_at": 1795401185.123456, "headers": headers}
    want = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
    assert segments(tmp_path)[0].read_text(encoding="utf-8") == want
    assert list(Journal(tmp_path).replay()) == [
        JournalRecord(1, "main", 1795401185.123456, headers)
    ]
