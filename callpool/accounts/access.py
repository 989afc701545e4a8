"""What a signed-in user may see and do: role and site membership, as one value.

Pure: the store builds an ``Access`` once per request (``store.access_for_user`` or
``store.access_for_token``) and every consumer (the report API, the dashboard, exports)
asks it the same questions, so no two places decide membership differently.

- A **viewer** reads the sites they are granted; an **admin** also edits them.
- ``all_sites``: granted every site, present and future (users from before site
  membership; the bootstrap token). Only such an admin manages sites, users and tokens:
  an admin of one site cannot create a site or hand themselves another.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from callpool.errors import Forbidden, NotFound

ROLES = ("viewer", "admin")


@dataclass(frozen=True, slots=True)
class Access:
    user_id: int | None
    username: str
    role: str
    all_sites: bool
    site_ids: frozenset[int] = frozenset()

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def is_superadmin(self) -> bool:
        """An admin of every site: manages sites, users and tokens."""
        return self.is_admin and self.all_sites

    def can_see_site(self, site_id: int) -> bool:
        return self.all_sites or site_id in self.site_ids

    def can_edit_site(self, site_id: int) -> bool:
        return self.is_admin and self.can_see_site(site_id)

    def visible(self, site_ids: Iterable[int]) -> list[int]:
        return [site_id for site_id in site_ids if self.can_see_site(site_id)]

    def require_site(self, site_id: int, name: str) -> None:
        """NotFound, not Forbidden: another customer's site is not even said to exist."""
        if not self.can_see_site(site_id):
            raise NotFound(f"no site named {name!r}")

    def require_edit(self, site_id: int, name: str) -> None:
        self.require_site(site_id, name)
        if not self.is_admin:
            raise Forbidden("this needs the admin role")

    def require_superadmin(self) -> None:
        if not self.is_superadmin:
            raise Forbidden("this needs an admin of every site")


def bootstrap_access() -> Access:
    """The settings' bootstrap admin token: every site."""
    return Access(user_id=None, username="bootstrap", role="admin", all_sites=True)
