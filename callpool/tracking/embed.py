"""The line a site's pages embed to load its snippet. Pure.

``<script async src="https://track.example/s/KEY.js"></script>``: the server answers that
URL with the snippet and the site's configuration built in (``tracking/snippet.py``).
"""

from __future__ import annotations

# Addresses a server listens on but a browser cannot be sent to.
WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::"})


def embed_tag(base_url: str, site_key: str) -> str:
    return f'<script async src="{base_url.rstrip("/")}/s/{site_key}.js"></script>'


def snippet_base(public_url: str | None, host: str, port: int) -> str:
    """Where browsers load the snippet from: ``public_url``, else where ``serve`` listens
    (reachable from this machine only; ``CALLPOOL_PUBLIC_URL`` says the real address)."""
    if public_url:
        return public_url.rstrip("/")
    shown = "127.0.0.1" if host in WILDCARD_HOSTS else host
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"
