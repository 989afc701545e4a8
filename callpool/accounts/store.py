"""SQL for users, their sites and their API tokens. Each public function is one transaction."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from callpool.accounts.access import Access
from callpool.accounts.credentials import (
    NewToken,
    hash_password,
    hash_token,
    new_token,
    verify_password,
)
from callpool.db.engine import flush_or_conflict, transaction
from callpool.db.tables import ApiToken, Site, User, UserSite
from callpool.errors import AuthError, NotFound, ValidationError

LOCALES = ("en", "ru")
# Verified against when the user does not exist, so that an unknown name costs the same
# Argon2 time as a wrong password and the answer time does not tell which it was.
_DUMMY_HASH = (
    "$argon2id$v=19$m=65536,t=3,p=4$l8ss10e7mC23rmXrecsAtg$"
    "j1dMbagu+1+zDzrJ1mJK0ZJQ4hXQhwtSmDDAMi2ZH1w"
)


def _now() -> datetime:
    return datetime.now(UTC)


async def add_user(
    engine: AsyncEngine,
    username: str,
    password: str,
    role: str,
    sites: Sequence[str] | None = None,
) -> User:
    """A new user; ``sites`` None grants every site, else exactly the sites named."""
    if role not in ("admin", "viewer"):
        raise ValidationError("role: must be admin or viewer")
    if not username or len(username) > 64 or not username.isprintable():
        raise ValidationError("username: must be 1 to 64 printable characters")
    user = User(
        username=username,
        password_hash=hash_password(password),
        role=role,
        all_sites=sites is None,
        created_at=_now(),
    )
    async with transaction(engine) as session:
        session.add(user)
        await flush_or_conflict(session, f"user {username!r} already exists")
        if sites is not None:
            await _grant(session, user.id, sites)
    return user


async def _grant(session: AsyncSession, user_id: int, sites: Sequence[str]) -> None:
    wanted = list(dict.fromkeys(sites))
    query = select(Site.name, Site.id).where(Site.name.in_(wanted))
    found: dict[str, int] = {name: id_ for name, id_ in (await session.execute(query)).all()}
    missing = [name for name in wanted if name not in found]
    if missing:
        raise NotFound(f"no site named {missing[0]!r}")
    await session.execute(delete(UserSite).where(UserSite.user_id == user_id))
    session.add_all(UserSite(user_id=user_id, site_id=found[name]) for name in wanted)


async def set_user_sites(engine: AsyncEngine, username: str, sites: Sequence[str] | None) -> None:
    """Grant exactly ``sites`` (None: every site)."""
    async with transaction(engine) as session:
        user = await _user(session, username)
        user.all_sites = sites is None
        await session.execute(delete(UserSite).where(UserSite.user_id == user.id))
        if sites is not None:
            await _grant(session, user.id, sites)


async def set_user_locale(engine: AsyncEngine, user_id: int, locale: str | None) -> None:
    if locale is not None and locale not in LOCALES:
        raise ValidationError(f"locale: must be one of {', '.join(LOCALES)}")
    async with transaction(engine) as session:
        await session.execute(update(User).where(User.id == user_id).values(locale=locale))


@dataclass(frozen=True, slots=True)
class UserRow:
    id: int
    username: str
    role: str
    active: bool
    all_sites: bool
    sites: tuple[str, ...]


async def list_users(engine: AsyncEngine) -> list[UserRow]:
    async with transaction(engine) as session:
        users = (await session.scalars(select(User).order_by(User.username))).all()
        grants = (
            await session.execute(
                select(UserSite.user_id, Site.name)
                .join(Site, Site.id == UserSite.site_id)
                .order_by(Site.name)
            )
        ).all()
    by_user: dict[int, list[str]] = {}
    for user_id, site in grants:
        by_user.setdefault(user_id, []).append(site)
    return [
        UserRow(u.id, u.username, u.role, u.active, u.all_sites, tuple(by_user.get(u.id, ())))
        for u in users
    ]


async def authenticate(engine: AsyncEngine, username: str, password: str) -> User | None:
    """The active user with this name and password, else None (same cost either way)."""
    async with transaction(engine) as session:
        user = await session.scalar(
            select(User).where(User.username == username, User.active.is_(True))
        )
    # Argon2 takes tens of milliseconds of CPU: off the event loop.
    stored = user.password_hash if user is not None else _DUMMY_HASH
    ok = await asyncio.to_thread(verify_password, stored, password)
    return user if ok and user is not None else None


async def access_for_user(engine: AsyncEngine, user_id: int) -> Access | None:
    """The access of an active user, or None."""
    async with transaction(engine) as session:
        user = await session.get(User, user_id)
        if user is None or not user.active:
            return None
        return await _access(session, user)


async def _access(session: AsyncSession, user: User) -> Access:
    site_ids: frozenset[int] = frozenset()
    if not user.all_sites:
        rows = await session.scalars(select(UserSite.site_id).where(UserSite.user_id == user.id))
        site_ids = frozenset(rows.all())
    return Access(user.id, user.username, user.role, user.all_sites, site_ids)


async def _user(session: AsyncSession, username: str) -> User:
    user = await session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"no user named {username!r}")
    return user


async def create_token(engine: AsyncEngine, username: str, name: str) -> NewToken:
    token = new_token()
    async with transaction(engine) as session:
        user = await session.scalar(select(User).where(User.username == username))
        if user is None:
            raise NotFound(f"no user named {username!r}")
        session.add(
            ApiToken(
                user_id=user.id,
                name=name,
                token_hash=token.token_hash,
                prefix=token.prefix,
                created_at=_now(),
            )
        )
    return token


async def access_for_token(engine: AsyncEngine, token: str) -> Access:
    """The access of a live token's user; AuthError for an unknown or revoked one."""
    query = (
        select(User)
        .join(ApiToken, User.id == ApiToken.user_id)
        .where(
            ApiToken.token_hash == hash_token(token),
            ApiToken.revoked_at.is_(None),
            User.active.is_(True),
        )
    )
    async with transaction(engine) as session:
        user = await session.scalar(query)
        if user is None:
            raise AuthError("unknown or revoked token")
        return await _access(session, user)


@dataclass(frozen=True, slots=True)
class TokenRow:
    id: int
    username: str
    name: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


async def list_tokens(engine: AsyncEngine) -> list[TokenRow]:
    query = (
        select(ApiToken, User.username)
        .join(User, User.id == ApiToken.user_id)
        .order_by(User.username, ApiToken.created_at)
    )
    async with transaction(engine) as session:
        rows = (await session.execute(query)).all()
    return [
        TokenRow(t.id, username, t.name, t.prefix, t.created_at, t.revoked_at)
        for t, username in rows
    ]


async def revoke_token(engine: AsyncEngine, token_id: int) -> None:
    async with transaction(engine) as session:
        found = await session.get(ApiToken, token_id)
        if found is None:
            raise NotFound(f"no token with id {token_id}")
        if found.revoked_at is None:
            found.revoked_at = _now()


async def role_for_token(engine: AsyncEngine, token: str) -> str:
    """The role of a live token's user; AuthError for an unknown or revoked one."""
    query = (
        select(User.role, ApiToken.id)
        .join(User, User.id == ApiToken.user_id)
        .where(
            ApiToken.token_hash == hash_token(token),
            ApiToken.revoked_at.is_(None),
            User.active.is_(True),
        )
    )
    async with transaction(engine) as session:
        row = (await session.execute(query)).first()
    if row is None:
        raise AuthError("unknown or revoked token")
    return str(row[0])
