"""The file-system side of recordings: find each call's files, checksum, copy; retention.

:func:`link_recordings` is the linking job: for every PBX with a ``recordings_dir``, each
recording a CDR named is looked for where :func:`~callpool.recordings.naming.candidate_paths`
says; a file that is there is checksummed (SHA-256) and, with
``recordings_storage = "copy"``, copied into callpool's storage; one still absent
``recordings_link_hours`` after its call ended is marked missing. Calls no CDR named a
recording of are matched against the PBX's ``recording_pattern``. Running it again
changes nothing. MixMonitor closes its file after the hang-up, so a file still growing
(modified in the last ``settle`` seconds) waits for the next run.

:func:`apply_retention` is the retention job: every present file that its site's rule
removes (:mod:`retention`) is deleted, with its cached conversion; the row stays,
``deleted``, and the call row is untouched. Each deletion is logged.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.recordings import store
from callpool.recordings.naming import candidate_paths, pattern_glob
from callpool.recordings.retention import RecordingFacts, RetentionRule, why_due
from callpool.recordings.service import SERVICES, RecordingService
from callpool.settings import PbxSettings

log = logging.getLogger("callpool.recordings")

SETTLE_SECONDS = 2.0


@dataclass
class LinkRun:
    found: int = 0
    missing: int = 0
    waiting: int = 0
    by_pattern: int = 0
    problems: int = 0


def _checksum(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def _ingest(service: RecordingService, source: Path) -> store.FoundFile:
    """Checksum ``source``; with copy storage, copy it (atomically) and point at the copy."""
    size, sha = _checksum(source)
    if not service.copies:
        return store.FoundFile(str(source), size, sha)
    target = service.files_dir / sha[:2] / f"{sha}{source.suffix}"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".part")
        shutil.copyfile(source, partial)
        os.replace(partial, target)
    return store.FoundFile(str(target), size, sha)


def _settled(path: Path, now: datetime, settle: float) -> bool:
    return path.is_file() and now.timestamp() - path.stat().st_mtime >= settle


def _glob(root: Path, pattern: str) -> list[Path]:
    return sorted(root.glob(pattern))


def _first_settled(paths: list[Path], now: datetime, settle: float) -> Path | None:
    return next((p for p in paths if _settled(p, now, settle)), None)


async def _link_pbx(
    engine: AsyncEngine, service: RecordingService, pbx: PbxSettings, now: datetime, settle: float
) -> LinkRun:
    run = LinkRun()
    assert pbx.recordings_dir is not None
    root, tz = pbx.recordings_dir, ZoneInfo(pbx.timezone)
    window = timedelta(hours=service.settings.recordings_link_hours)
    gone: list[int] = []
    for rec in await store.pending(engine, pbx.name):
        paths = candidate_paths(
            rec.name, root, pbx.recordings_pbx_dir, rec.started_at.astimezone(tz)
        )
        path = await asyncio.to_thread(_first_settled, paths, now, settle)
        if path is not None:
            found = await asyncio.to_thread(_ingest, service, path)
            await store.mark_found(engine, rec.id, found, now)
            run.found += 1
            log.info(
                "recording of %s/%s linked: %s (%d bytes)",
                pbx.name,
                rec.linkedid,
                path,
                found.size_bytes,
            )
        elif rec.ended_at < now - window or not paths:
            gone.append(rec.id)
        else:
            run.waiting += 1
    await store.mark_missing(engine, gone)
    run.missing = len(gone)
    for rec_id in gone:
        log.warning("recording %d of PBX %s never appeared: shown as missing", rec_id, pbx.name)
    if pbx.recording_pattern:
        for call in await store.calls_without_recordings(engine, pbx.name, now - window):
            pattern = pattern_glob(
                pbx.recording_pattern, call.linkedid, call.uniqueid, call.started_at.astimezone(tz)
            )
            matches = await asyncio.to_thread(_glob, root, pattern)
            for path in matches:
                if not await asyncio.to_thread(_settled, path, now, settle):
                    continue
                found = await asyncio.to_thread(_ingest, service, path)
                name = path.relative_to(root).as_posix()
                await store.add_found(engine, pbx.name, call.linkedid, name, found, now)
                run.by_pattern += 1
    return run


async def link_recordings(
    engine: AsyncEngine, now: datetime, *, settle: float = SETTLE_SECONDS
) -> dict[str, LinkRun]:
    """The linking job, for the recordings of every running app (see module doc)."""
    runs: dict[str, LinkRun] = {}
    for service in list(SERVICES):
        for pbx in service.pbxes:
            try:
                runs[pbx.name] = await _link_pbx(engine, service, pbx, now, settle)
            except Exception:
                log.exception("linking the recordings of PBX %s failed; retried next run", pbx.name)
    return runs


def _remove(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return True
    except OSError as exc:
        log.warning("retention: cannot delete %s: %s", path, exc)
        return False
    return True


def _remove_cached(cache_dirs: list[Path], sha256: str) -> None:
    for cache in cache_dirs:
        for cached in cache.glob(f"{sha256}.*"):
            _remove(cached)


async def apply_retention(engine: AsyncEngine, now: datetime) -> int:
    """The retention job (see module doc). Returns how many files it deleted."""
    deleted = 0
    cache_dirs = [service.cache_dir for service in SERVICES]
    for kept in await store.retention_candidates(engine):
        rule = RetentionRule(kept.retention_days, kept.keep_target_only)
        facts = RecordingFacts(
            kept.ended_at, kept.direction, kept.disposition, kept.talk_seconds, kept.target_seconds
        )
        reason = why_due(rule, facts, now)
        if reason is None:
            continue
        if not await asyncio.to_thread(_remove, Path(kept.path)):
            continue
        if kept.sha256:
            await asyncio.to_thread(_remove_cached, cache_dirs, kept.sha256)
        await store.mark_deleted(engine, kept.id, now)
        deleted += 1
        log.info(
            "retention: deleted recording %d of site %s (%s): %s",
            kept.id,
            kept.site,
            reason,
            kept.path,
        )
    return deleted
