"""SQL for users and their API tokens. Each public function is one transaction."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from callpool.accounts.credentials import NewToken, hash_password, hash_token, new_token
from callpool.db.engine import flush_or_conflict, transaction
from callpool.db.tables import ApiToken, User
from callpool.errors import AuthError, NotFound, ValidationError


def _now() -> datetime:
    return datetime.now(UTC)


async def add_user(engine: AsyncEngine, username: str, password: str, role: str) -> User:
    if role not in ("admin", "viewer"):
        raise ValidationError("role: must be admin or viewer")
    if not username or len(username) > 64 or not username.isprintable():
        raise ValidationError("username: must be 1 to 64 printable characters")
    user = User(
        username=username, password_hash=hash_password(password), role=role, created_at=_now()
    )
    async with transaction(engine) as session:
        session.add(user)
        await flush_or_conflict(session, f"user {username!r} already exists")
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
