"""Short-lived signed recording URLs: HMAC-SHA256 over what the link grants.

A link names the recording, the user it was made for, the action (``play`` or
``download``), when it expires and whether it is bound to that user's dashboard session
(links made in the dashboard are; links handed to an API token holder are not, they
are bearer links for their short life). The server checks the signature, the expiry,
and then, every time, that the user may still hear the recording. Nothing in the path
is guessable: without the secret no link can be made or changed.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from urllib.parse import urlencode

from callpool.errors import Forbidden

__all__ = ["ACTIONS", "Action", "Grant", "sign_grant", "verify_grant"]

Action = Literal["play", "download"]
ACTIONS: tuple[Action, ...] = ("play", "download")


@dataclass(frozen=True, slots=True)
class Grant:
    recording_id: int
    user_id: int
    action: Action
    expires: int  # Unix seconds
    session_bound: bool

    def message(self) -> bytes:
        bound = "s" if self.session_bound else "b"
        return (
            f"rec:{self.recording_id}:{self.user_id}:{self.action}:{self.expires}:{bound}".encode()
        )


def _signature(secret: bytes, grant: Grant) -> str:
    return hmac.new(secret, grant.message(), hashlib.sha256).hexdigest()


def sign_grant(secret: bytes, grant: Grant) -> str:
    """The query string of a link for ``grant`` (the path names the recording too)."""
    params = {
        "u": str(grant.user_id),
        "a": grant.action,
        "e": str(grant.expires),
        "b": "s" if grant.session_bound else "b",
        "sig": _signature(secret, grant),
    }
    return urlencode(params)


def verify_grant(
    secret: bytes, recording_id: int, query: Mapping[str, str], now: datetime
) -> Grant:
    """The grant of a link, or ``Forbidden`` (tampered, expired or malformed)."""
    try:
        action = query["a"]
        if action not in ACTIONS:
            raise ValueError(action)
        grant = Grant(
            recording_id=recording_id,
            user_id=int(query["u"]),
            action=action,
            expires=int(query["e"]),
            session_bound=query["b"] == "s",
        )
        given = query["sig"]
    except (KeyError, ValueError):
        raise Forbidden("this recording link is not valid") from None
    if not hmac.compare_digest(given, _signature(secret, grant)):
        raise Forbidden("this recording link is not valid")
    if now.timestamp() >= grant.expires:
        raise Forbidden("this recording link has expired; open the call again")
    return grant
