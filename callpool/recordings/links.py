"""A call's recordings as its pages and JSON show them: state and short-lived signed links.

:func:`recording_links` is what the dashboard's calls list, the call's player page and the
report API (``callpool/reports/api.py``: call :func:`call_recordings_json` for the calls
of a page) share, so all of them decide who gets a link the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.accounts.access import Access
from callpool.recordings import store
from callpool.recordings.policy import Right, may, recording_right
from callpool.recordings.service import RecordingService
from callpool.recordings.signing import Action, Grant, sign_grant

__all__ = [
    "CallRecordings",
    "RecordingLink",
    "call_recordings_json",
    "recording_links",
    "signed_url",
]

MEDIA_PATH = "/recordings"


@dataclass(frozen=True, slots=True)
class RecordingLink:
    id: int
    state: str  # pending, present, missing, deleted
    play_url: str | None
    download_url: str | None


@dataclass(frozen=True, slots=True)
class CallRecordings:
    right: Right
    recordings: tuple[RecordingLink, ...]
    mask_callers: bool

    @property
    def playable(self) -> list[RecordingLink]:
        return [r for r in self.recordings if r.play_url]


def signed_url(
    service: RecordingService,
    recording_id: int,
    user_id: int,
    action: Action,
    now: datetime,
    *,
    session_bound: bool,
) -> str:
    expires = int(now.timestamp()) + service.settings.recordings_url_ttl
    grant = Grant(recording_id, user_id, action, expires, session_bound)
    return f"{MEDIA_PATH}/{recording_id}?{sign_grant(service.secret, grant)}"


async def recording_links(
    engine: AsyncEngine,
    service: RecordingService,
    access: Access,
    call_ids: Sequence[int],
    now: datetime,
    *,
    session_bound: bool,
) -> dict[int, CallRecordings]:
    """Per call with any recording: what ``access`` may do and the links it gets."""
    out: dict[int, CallRecordings] = {}
    for call_id, found in (await store.recordings_of_calls(engine, call_ids)).items():
        first = found[0]
        right = recording_right(
            access,
            first.site_id,
            enabled=first.recordings_enabled,
            for_viewers=first.recordings_for_viewers,
        )
        if right == "unseen":
            continue
        links = []
        for rec in found:
            play = download = None
            # A token or user without an id (the bootstrap token) gets no link: the audit
            # log must name who listened.
            if rec.state == "present" and access.user_id is not None:
                if may(right, "play"):
                    play = signed_url(
                        service, rec.id, access.user_id, "play", now, session_bound=session_bound
                    )
                if may(right, "download"):
                    download = signed_url(
                        service,
                        rec.id,
                        access.user_id,
                        "download",
                        now,
                        session_bound=session_bound,
                    )
            links.append(RecordingLink(rec.id, rec.state, play, download))
        out[call_id] = CallRecordings(right, tuple(links), first.mask_callers)
    return out


async def call_recordings_json(
    engine: AsyncEngine,
    service: RecordingService,
    access: Access,
    call_ids: Sequence[int],
    now: datetime,
) -> dict[int, dict[str, Any]]:
    """For the report API's call JSON: ``{call_id: {"has_recording", "recordings"}}``.

    Every call asked for is in the answer. ``recordings`` lists each file's ``state`` and,
    for a holder of the right, ``url`` (and ``download_url`` for admins): bearer links
    valid ``recordings_url_ttl`` seconds, not bound to a dashboard session.
    """
    found = await recording_links(engine, service, access, call_ids, now, session_bound=False)
    out: dict[int, dict[str, Any]] = {}
    for call_id in call_ids:
        links = found.get(call_id)
        recordings = [
            {"id": r.id, "state": r.state, "url": r.play_url, "download_url": r.download_url}
            for r in (links.recordings if links else ())
        ]
        out[call_id] = {
            "has_recording": any(r["state"] == "present" for r in recordings),
            "recordings": recordings,
        }
    return out
