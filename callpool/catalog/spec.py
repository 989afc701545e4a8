"""What a site, campaign, channel and tracking number must look like: validated input specs.

The CLI and the admin API both build these from user input, so a bad value gets the
same clear message either way. Pure: no I/O.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Mapping
from decimal import Decimal
from ipaddress import ip_network
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic import ValidationError as PydanticValidationError

from callpool.errors import ValidationError
from callpool.phone import normalize_e164

NAME_PATTERN = r"^[^\x00-\x1f\x7f<>]{1,120}$"


class Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class SiteSpec(Spec):
    name: str = Field(pattern=NAME_PATTERN)
    allowed_origins: tuple[str, ...] = ()
    own_numbers: tuple[str, ...] = ()
    blocked_cidrs: tuple[str, ...] = ()
    consent_required: bool = False
    consent_cookie: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,120}$")
    mask_callers: bool = False
    # Days to keep raw AMI events, page views and sessions; None: forever (retention/).
    raw_events_retention_days: int | None = Field(default=None, ge=1, le=36500)
    page_views_retention_days: int | None = Field(default=None, ge=1, le=36500)
    sessions_retention_days: int | None = Field(default=None, ge=1, le=36500)
    # Call recordings (recordings/): links at all, to viewers too, days kept (None:
    # forever), and only target calls' files kept.
    recordings_enabled: bool = True
    recordings_for_viewers: bool = True
    recording_retention_days: int | None = Field(default=None, ge=1, le=36500)
    recording_keep_target_only: bool = False

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, origins: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(normalize_origin(origin) for origin in origins)

    @field_validator("blocked_cidrs")
    @classmethod
    def _cidrs(cls, cidrs: tuple[str, ...]) -> tuple[str, ...]:
        try:
            return tuple(str(ip_network(cidr, strict=False)) for cidr in cidrs)
        except ValueError as exc:
            raise ValueError(str(exc)) from None


class SiteAdditions(Spec):
    """Origins and own numbers added to an existing site (``callpool site update``)."""

    name: str = Field(pattern=NAME_PATTERN)
    allowed_origins: tuple[str, ...] = ()
    own_numbers: tuple[str, ...] = ()

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, origins: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(normalize_origin(origin) for origin in origins)


class SiteRecordings(Spec):
    """A change to a site's recording settings; a field not given stays as it is.

    ``recording_retention_days`` given as null keeps the files forever.
    """

    recordings_enabled: bool = True
    recordings_for_viewers: bool = True
    recording_retention_days: int | None = Field(default=None, ge=1, le=36500)
    recording_keep_target_only: bool = False

    def changes(self) -> dict[str, Any]:
        """The columns this change sets, by name."""
        return {name: getattr(self, name) for name in sorted(self.model_fields_set)}


RECORDING_FIELDS = tuple(SiteRecordings.model_fields)


class CampaignSpec(Spec):
    site: str = Field(pattern=NAME_PATTERN)
    name: str = Field(pattern=NAME_PATTERN)
    timezone: str = "UTC"
    target_seconds: int = Field(default=10, ge=0, le=3600)
    hold_seconds: int = Field(default=900, ge=30, le=86400)
    cooldown_seconds: int = Field(default=60, ge=0, le=86400)
    attribution_grace_seconds: int = Field(default=1800, ge=0, le=7 * 86400)
    fallback_number: str | None = None
    # The site's own numbers the campaign replaces; empty means all of them. Each must be
    # one of the site's own numbers: the store checks, as only it knows the site.
    swap_numbers: tuple[str, ...] = ()

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, name: str) -> str:
        if name not in zoneinfo.available_timezones():
            raise ValueError(
                f"unknown time zone {name[:40]!r} (use an IANA name like Europe/Moscow)"
            )
        return name


class ChannelSpec(Spec):
    site: str = Field(pattern=NAME_PATTERN)
    campaign: str = Field(pattern=NAME_PATTERN)
    name: str = Field(pattern=NAME_PATTERN)
    kind: Literal["pool", "static"] = "pool"
    utm_source: str | None = Field(default=None, max_length=255)
    utm_medium: str | None = Field(default=None, max_length=255)
    utm_campaign: str | None = Field(default=None, max_length=255)
    referrer_host: str | None = Field(default=None, pattern=r"^[A-Za-z0-9.-]{1,255}$")
    click_id_param: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_]{1,32}$")
    priority: int = Field(default=100, ge=0, le=10000)
    ad_spend_per_day: Decimal = Field(default=Decimal("0"), ge=0, max_digits=14, decimal_places=2)


class NumberSpec(Spec):
    number: str
    site: str = Field(pattern=NAME_PATTERN)
    campaign: str = Field(pattern=NAME_PATTERN)
    # A static channel's name; empty means the campaign's dynamic pool.
    channel: str | None = None


def normalize_origin(origin: str) -> str:
    parts = urlsplit(origin.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"origin {origin[:60]!r} must look like https://example.com")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"origin {origin[:60]!r} must have no path")
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname.lower()}{port}"


SpecT = TypeVar("SpecT", bound=Spec)

# What each pattern a spec uses asks for, in words: a regular expression is no answer.
PATTERN_WORDS = {
    NAME_PATTERN: "1 to 120 characters, without control characters, < or >",
    r"^[A-Za-z0-9_.-]{1,120}$": "1 to 120 letters, digits, _ . or -",
    r"^[A-Za-z0-9.-]{1,255}$": "a host name such as example.com",
    r"^[A-Za-z0-9_]{1,32}$": "1 to 32 letters, digits or _",
}


def parse_spec(kind: type[SpecT], data: Mapping[str, Any], row: int | None = None) -> SpecT:
    """Validate ``data`` into ``kind``; the error names the first bad field (and the row)."""
    try:
        return kind.model_validate(dict(data))
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"] if isinstance(part, str)) or "body"
        where = f"{field}: " if row is None else f"{at_row(row, field)}: "
        raise ValidationError(where + plain_reason(first)) from None


def at_row(row: int, column: str) -> str:
    """How an import error names its place: ``row 2, column "campaign"``."""
    return f'row {row}, column "{column}"'


def plain_reason(error: Any) -> str:
    """A pydantic error in plain words, without repeating the input (it may be a secret)."""
    kind: str = error["type"]
    ctx: dict[str, Any] = error.get("ctx") or {}
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    if kind == "string_pattern_mismatch":
        return f"must be {PATTERN_WORDS.get(ctx.get('pattern', ''), 'in the expected form')}"
    words = {
        "string_type": "must be text",
        "string_too_long": f"must be at most {ctx.get('max_length')} characters",
        "int_type": "must be a whole number",
        "int_parsing": "must be a whole number",
        "int_from_float": "must be a whole number",
        "bool_type": "must be true or false",
        "bool_parsing": "must be true or false",
        "tuple_type": "must be a list",
        "greater_than_equal": f"must be at least {ctx.get('ge')}",
        "less_than_equal": f"must be at most {ctx.get('le')}",
        "decimal_parsing": "must be a number",
        "decimal_type": "must be a number",
        "decimal_max_digits": f"must have at most {ctx.get('max_digits')} digits",
        "decimal_max_places": f"must have at most {ctx.get('decimal_places')} decimals",
        "literal_error": f"must be {ctx.get('expected')}",
    }
    return words.get(kind, str(error["msg"]))


def normalize_numbers(numbers: tuple[str, ...], region: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(normalize_e164(number, region) for number in numbers))
