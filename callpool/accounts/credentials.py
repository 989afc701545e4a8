"""Passwords and API tokens.

Passwords are hashed with Argon2id (argon2-cffi). API tokens are 32 random bytes shown
once; only their SHA-256 is stored, which is enough for a secret that cannot be guessed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from callpool.errors import ValidationError

TOKEN_PREFIX = "cp_"
MIN_PASSWORD_LENGTH = 10

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(f"password: must be at least {MIN_PASSWORD_LENGTH} characters")
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class NewToken:
    token: str
    token_hash: str
    prefix: str

    def __repr__(self) -> str:
        return f"NewToken(prefix={self.prefix!r}, token='**********')"


def new_token() -> NewToken:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return NewToken(token=token, token_hash=hash_token(token), prefix=token[:10])


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def tokens_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
