"""A recorded call from the simulator to a linked, checksummed file, on both databases."""

from __future__ import annotations

import hashlib
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.db.engine import connection
from callpool.db.tables import Call
from callpool.pbx.sim.recorder import missing_tools, write_speech
from callpool.pbx.sim.scenarios import SimCall
from callpool.recordings.linker import link_recordings
from callpool.recordings.service import RecordingService
from callpool.settings import PbxSettings
from tests.recordings.helpers import place_recorded_calls, recordings, registered, settings_for


@pytest.fixture(autouse=True)
def _tools() -> None:
    # espeak-ng and sox are test prerequisites (`make test` installs them): never a skip.
    assert not missing_tools(), f"install {missing_tools()} (make recording-tools)"


RECORDED = SimCall("answered", "79161110002", ring=1, talk=6, record="wav")
PLAIN = SimCall("answered", "79161110003", ring=1, talk=6)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def test_recorded_call_is_linked_when_its_file_appears_late(
    engine: AsyncEngine, database_url: str, tmp_path: Path
) -> None:
    monitor = tmp_path / "monitor"
    seen_before: list[dict[str, object]] = []

    async def link_before_the_file_exists(pbx: PbxSettings) -> None:
        service = RecordingService(settings_for(database_url, pbx, tmp_path / "store"))
        with registered(service):
            runs = await link_recordings(engine, datetime.now(UTC), settle=0)
        assert runs[pbx.name].waiting == 1 and runs[pbx.name].found == 0
        seen_before.extend(await recordings(engine))

    pbx, recorder, calls = await place_recorded_calls(
        engine,
        tmp_path,
        monitor,
        [RECORDED, PLAIN],
        delay=0.5,
        meanwhile=link_before_the_file_exists,
    )
    assert len(calls) == 2
    # The Cdr named the file: pending while MixMonitor had not finished it.
    assert [r["state"] for r in seen_before] == ["pending"]
    (written,) = recorder.written
    assert written.stat().st_size > 10_000  # real speech, 8 kHz PCM
    service = RecordingService(settings_for(database_url, pbx, tmp_path / "store"))
    with registered(service):
        runs = await link_recordings(engine, datetime.now(UTC), settle=0)
        assert runs[pbx.name].found == 1
        again = await link_recordings(engine, datetime.now(UTC), settle=0)
        assert again[pbx.name].found == 0
    (row,) = await recordings(engine)
    recorded_call = next(c for c in calls.values() if c["caller_number"].endswith("0002"))
    assert row["linkedid"] == recorded_call["linkedid"]
    assert row["state"] == "present" and row["source"] == "cdr"
    assert row["path"] == str(written)  # read in place
    assert row["sha256"] == _sha(written) and row["size_bytes"] == written.stat().st_size
    assert row["name"].endswith(f"-{recorded_call['linkedid']}.wav")


async def test_copy_storage_keeps_its_own_checksummed_copy(
    engine: AsyncEngine, database_url: str, tmp_path: Path
) -> None:
    monitor = tmp_path / "monitor"
    pbx, recorder, _ = await place_recorded_calls(engine, tmp_path, monitor, [RECORDED])
    settings = settings_for(database_url, pbx, tmp_path / "store", recordings_storage="copy")
    with registered(RecordingService(settings)):
        await link_recordings(engine, datetime.now(UTC), settle=0)
    (row,) = await recordings(engine)
    copy = Path(row["path"])
    assert copy.is_relative_to(tmp_path / "store" / "files")
    assert _sha(recorder.written[0]) == _sha(copy)
    assert row["sha256"] == _sha(copy)


async def test_a_file_that_never_appears_is_marked_missing_after_the_window(
    engine: AsyncEngine, database_url: str, tmp_path: Path
) -> None:
    monitor = tmp_path / "monitor"
    pbx, _, _ = await place_recorded_calls(engine, tmp_path, monitor, [RECORDED])
    shutil.rmtree(monitor)  # the PBX lost it
    service = RecordingService(settings_for(database_url, pbx, tmp_path / "store"))
    with registered(service):
        soon = await link_recordings(engine, datetime.now(UTC), settle=0)
        assert soon[pbx.name].waiting == 1
        later = datetime.now(UTC) + timedelta(hours=25)
        runs = await link_recordings(engine, later, settle=0)
    assert runs[pbx.name].missing == 1
    assert [r["state"] for r in await recordings(engine)] == ["missing"]


async def test_pattern_links_recordings_no_cdr_names(
    engine: AsyncEngine, database_url: str, tmp_path: Path
) -> None:
    """A PBX without the cdr_manager mapping: files named with the linkedid, by pattern."""
    monitor = tmp_path / "monitor"
    pattern = "{started:%Y/%m/%d}/*-{linkedid}.*"
    pbx, _, calls = await place_recorded_calls(
        engine, tmp_path, monitor, [PLAIN], pbx_fields={"recording_pattern": pattern}
    )
    (call,) = calls.values()
    day = call["started_at"].strftime("%Y/%m/%d")
    target = monitor / day / f"out-201-79161110003-{call['linkedid']}.gsm"
    await write_speech(target, "A short call.")
    (monitor / day / "out-201-other-1.gsm").write_bytes(b"not this call")
    with registered(RecordingService(settings_for(database_url, pbx, tmp_path / "store"))):
        runs = await link_recordings(engine, datetime.now(UTC), settle=0)
        await link_recordings(engine, datetime.now(UTC), settle=0)
    assert runs[pbx.name].by_pattern == 1
    (row,) = await recordings(engine)
    assert row["source"] == "pattern" and row["state"] == "present"
    assert row["name"] == f"{day}/{target.name}"
    async with connection(engine) as conn:
        assert await conn.scalar(select(Call.linkedid)) == row["linkedid"]
