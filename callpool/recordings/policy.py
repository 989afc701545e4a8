"""Who may hear a call's recording: one pure decision used by every page and route.

- A call of a site the user is not granted: not even said to exist (404).
- The site switched recording links off (``recordings_enabled`` false): nobody.
- The site denies viewers recordings (``recordings_for_viewers`` false): admins only.
- Downloads: admins of the site only.
"""

from __future__ import annotations

from typing import Literal

from callpool.accounts.access import Access

__all__ = ["Right", "recording_right"]

Right = Literal["unseen", "off", "denied", "play", "download"]


def recording_right(
    access: Access, site_id: int | None, *, enabled: bool, for_viewers: bool
) -> Right:
    """The most the user may do with the recordings of a call of ``site_id``.

    A call of no campaign belongs to no site: only users granted every site see it.
    """
    if site_id is None:
        if not access.all_sites:
            return "unseen"
    elif not access.can_see_site(site_id):
        return "unseen"
    if not enabled:
        return "off"
    if access.is_admin:
        return "download"
    return "play" if for_viewers else "denied"


def may(right: Right, action: str) -> bool:
    if action == "download":
        return right == "download"
    return right in ("play", "download")
