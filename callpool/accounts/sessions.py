"""Dashboard log-in sessions, kept server-side.

The browser's cookie holds 32 random bytes; the table keeps their SHA-256, the user and
the session's CSRF token. Logging out deletes the row, so a copied cookie is worthless
afterwards. Sessions expire after ``IDLE`` without a request and ``ABSOLUTE`` in any
case; ``last_seen_at`` is written at most once a minute, not on every page.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.accounts.credentials import hash_token
from callpool.db.engine import transaction
from callpool.db.tables import User, WebSession

IDLE = timedelta(hours=12)
ABSOLUTE = timedelta(days=7)
TOUCH_EVERY = timedelta(minutes=1)

# The dashboard's session cookie (HttpOnly; the API accepts it for reads, see web/auth).
SESSION_COOKIE = "callpool_session"


@dataclass(frozen=True, slots=True)
class NewSession:
    token: str
    csrf_token: str

    def __repr__(self) -> str:
        return "NewSession(token='**********')"


@dataclass(frozen=True, slots=True)
class LiveSession:
    id: int
    user_id: int
    csrf_token: str
    locale: str | None


async def start_session(engine: AsyncEngine, user_id: int, now: datetime) -> NewSession:
    new = NewSession(secrets.token_urlsafe(32), secrets.token_urlsafe(32))
    async with transaction(engine) as session:
        session.add(
            WebSession(
                token_hash=hash_token(new.token),
                user_id=user_id,
                csrf_token=new.csrf_token,
                created_at=now,
                last_seen_at=now,
                expires_at=now + ABSOLUTE,
            )
        )
    return new


async def find_session(engine: AsyncEngine, token: str, now: datetime) -> LiveSession | None:
    """The live session of this cookie value (and its active user), else None."""
    query = (
        select(WebSession, User.locale)
        .join(User, User.id == WebSession.user_id)
        .where(WebSession.token_hash == hash_token(token), User.active.is_(True))
    )
    async with transaction(engine) as session:
        row = (await session.execute(query)).first()
        if row is None:
            return None
        found, locale = row
        if found.expires_at <= now or found.last_seen_at + IDLE <= now:
            await session.delete(found)
            return None
        if now - found.last_seen_at >= TOUCH_EVERY:
            found.last_seen_at = now
        return LiveSession(found.id, found.user_id, found.csrf_token, locale)


async def end_session(engine: AsyncEngine, token: str) -> None:
    async with transaction(engine) as session:
        await session.execute(delete(WebSession).where(WebSession.token_hash == hash_token(token)))


async def end_user_sessions(engine: AsyncEngine, user_id: int) -> None:
    """Log a user out everywhere (e.g. after deactivating them)."""
    async with transaction(engine) as session:
        await session.execute(delete(WebSession).where(WebSession.user_id == user_id))


async def delete_expired(engine: AsyncEngine, now: datetime) -> int:
    async with transaction(engine) as session:
        result = await session.execute(
            delete(WebSession).where(
                (WebSession.expires_at <= now) | (WebSession.last_seen_at <= now - IDLE)
            )
        )
    return int(getattr(result, "rowcount", 0) or 0)
