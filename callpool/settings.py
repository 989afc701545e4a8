"""Typed, frozen settings: the only place callpool reads its environment.

Precedence, lowest first: defaults < TOML file (``--config`` or ``CALLPOOL_CONFIG``) <
environment (``CALLPOOL_*``) < command-line options. A bad value stops start-up with one
line that names the setting. Secrets are ``SecretStr``: their repr is masked.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
import zoneinfo
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic import ValidationError as PydanticValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from callpool.errors import ConfigError

ENV_PREFIX = "CALLPOOL_"
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./callpool.db"


class PbxSettings(BaseModel):
    """One Asterisk PBX reached over AMI."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    host: str = "127.0.0.1"
    port: int = Field(default=5038, ge=1, le=65535)
    username: str = Field(min_length=1)
    secret: SecretStr
    ping_interval: float = Field(default=20.0, gt=0)
    # Contexts that mark an inbound leg on a tracking number.
    inbound_contexts: tuple[str, ...] = ("from-pstn",)
    # Contexts from which a dial is an agent calling out (outbound, or internal to an agent).
    internal_contexts: tuple[str, ...] = ("from-internal",)
    # Regular expressions with a named group ``ext``: channels that are an agent's.
    agent_channel_patterns: tuple[str, ...] = (r"^Local/(?P<ext>\d+)@(?:agents|agent-phone)-",)
    # Channels that are a caller's own device, never the PBX's inbound leg.
    device_channel_patterns: tuple[str, ...] = (r"^Local/.+;1$",)
    # The PBX's time zone: CDR times are local and carry no zone.
    timezone: str = "UTC"
    # Master.csv written by cdr_csv, read to recover calls that ended while the link was down.
    cdr_csv_path: Path | None = None
    # A PostgreSQL database with the CDR table cdr_pgsql (or cdr_adaptive_odbc) writes,
    # read like Master.csv (postgresql+asyncpg://...; a secret: it may hold a password).
    cdr_db_url: SecretStr | None = None
    cdr_db_table: str = Field(
        default="cdr", pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$"
    )
    # A call open longer than this is reported by /healthz (no real call lasts that long).
    max_call_seconds: int = Field(default=4 * 3600, ge=60)
    # Call recordings (asterisk/README.md, "Call recordings"): the PBX's monitor
    # directory as callpool reads it (same host or a mount), the same directory as the
    # PBX names it (absolute names in CDRs are under it), and optionally a file pattern
    # for calls no CDR names a recording of: a glob under recordings_dir with {linkedid},
    # {uniqueid} and {started:%Y/%m/%d} (the call's start in the PBX's time zone).
    recordings_dir: Path | None = None
    recordings_pbx_dir: str = "/var/spool/asterisk/monitor"
    recording_pattern: str | None = None

    # Checked here, not when the listener starts: a bad entry stops start-up with one line.
    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, name: str) -> str:
        try:
            zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {name[:40]!r} (use an IANA name like Europe/Moscow)"
            ) from None
        return name

    @field_validator("agent_channel_patterns", "device_channel_patterns")
    @classmethod
    def _regular_expressions(cls, patterns: tuple[str, ...], info: Any) -> tuple[str, ...]:
        for pattern in patterns:
            try:
                compiled = re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{pattern[:60]!r} is not a regular expression: {exc}") from None
            if info.field_name == "agent_channel_patterns" and "ext" not in compiled.groupindex:
                raise ValueError(f"{pattern[:60]!r} needs a group (?P<ext>...) for the extension")
        return patterns


_TOML_FILE: ContextVar[Path | None] = ContextVar("callpool_toml_file", default=None)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        frozen=True,
        extra="forbid",
    )

    # A SecretStr because a PostgreSQL URL may carry a password.
    database_url: SecretStr = SecretStr(DEFAULT_DATABASE_URL)
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)  # 0: any free port (serve prints it)
    # SO_REUSEPORT: several `serve` processes on one host share the port; the kernel
    # spreads new connections over them.
    reuse_port: bool = False
    # Where browsers reach this server, for the snippet's API base; taken from the request if unset.
    public_url: str | None = None
    default_region: str = "RU"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # text for a terminal; json: one object a line, for a log collector.
    log_format: Literal["text", "json"] = "text"
    # Callers' numbers are masked in every log line unless this is on, and then only in
    # DEBUG lines (callpool/logs.py).
    log_caller_numbers: bool = False
    # One log line per HTTP request costs about a third of the heartbeat throughput.
    access_log: bool = False
    # A bootstrap admin token, e.g. for the first `curl` against the admin API.
    admin_token: SecretStr | None = None
    max_body_bytes: int = Field(default=16 * 1024, ge=1024, le=16 * 1024 * 1024)
    # Token buckets of the public API, per client address and per visitor id.
    ip_rate_per_second: float = Field(default=20.0, gt=0)
    ip_burst: int = Field(default=200, ge=1)
    visitor_rate_per_second: float = Field(default=2.0, gt=0)
    visitor_burst: int = Field(default=30, ge=1)
    scheduler_enabled: bool = True
    # Seconds between metrics roll-ups: a finished call shows in today's figures within
    # this plus the roll-up's own run time.
    metrics_interval: int = Field(default=60, ge=5, le=3600)
    # The metrics roll-up and nightly jobs, apart from the other scheduled jobs: off where
    # another process (or `callpool metrics rebuild` from cron) keeps the figures fresh.
    metrics_jobs_enabled: bool = True
    # How often the snippet sends a heartbeat while its page is visible.
    heartbeat_interval: int = Field(default=30, ge=5, le=300)
    ami_enabled: bool = False
    pbx: tuple[PbxSettings, ...] = ()
    journal_dir: Path = Path("./var/journal")
    # Credit a known caller's earlier visit, not the stranger now leasing the number.
    credit_repeat_callers: bool = True
    # Bearer token Prometheus sends to scrape /metrics; unset: /metrics answers 404.
    metrics_token: SecretStr | None = None
    # On SIGTERM/SIGINT: how long in-flight requests may take before they are cut.
    shutdown_timeout: float = Field(default=10.0, gt=0, le=300)
    # Call recordings: read in place from each PBX's recordings_dir, or copied into
    # recordings_storage_dir (which also caches the browser-playable conversions).
    recordings_storage: Literal["in_place", "copy"] = "in_place"
    recordings_storage_dir: Path = Path("./var/recordings")
    # Signs recording URLs (HMAC-SHA256). Unset: a random key per process start, so
    # links die with a restart and several processes cannot serve each other's links.
    recordings_secret: SecretStr | None = None
    # Seconds a signed recording URL is valid.
    recordings_url_ttl: int = Field(default=600, ge=10, le=24 * 3600)
    # How long after a call ends its named recording may still appear (MixMonitor
    # finishing late, a slow copy); after that it is shown as missing.
    recordings_link_hours: int = Field(default=24, ge=1, le=24 * 30)
    # Report exports: the PDF's TrueType font (default: DejaVu Sans where Debian, Fedora
    # or Arch put it), and the company name and logo (PNG/JPEG) printed on its first page.
    pdf_font: Path | None = None
    report_company: str | None = Field(default=None, max_length=120)
    report_logo: Path | None = None

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: SecretStr) -> SecretStr:
        url = value.get_secret_value()
        if not url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                "must start with sqlite+aiosqlite:// or postgresql+asyncpg:// "
                f"(got a URL starting with {url.split(':', 1)[0]!r})"
            )
        return value

    @field_validator("pbx")
    @classmethod
    def _unique_pbx_names(cls, pbxes: tuple[PbxSettings, ...]) -> tuple[PbxSettings, ...]:
        names = [pbx.name for pbx in pbxes]
        if twice := sorted({name for name in names if names.count(name) > 1}):
            # Two listeners of one name would share one journal and one lock.
            raise ValueError(f"two PBXes are named {twice[0]!r}: each needs a name of its own")
        return pbxes

    @field_validator("default_region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        region = value.upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"{value!r} is not a region code such as RU, US or GB")
        return region

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _TomlSource(settings_cls, _TOML_FILE.get()))


class _TomlSource(PydanticBaseSettingsSource):
    def __init__(self, settings_cls: type[BaseSettings], path: Path | None) -> None:
        super().__init__(settings_cls)
        self._data: dict[str, Any] = _read_toml(path) if path else {}

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._data)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings; raise ``ConfigError`` with one line naming the bad setting."""
    if config_file is None and os.environ.get(f"{ENV_PREFIX}CONFIG"):
        config_file = Path(os.environ[f"{ENV_PREFIX}CONFIG"])
    given = {key: value for key, value in overrides.items() if value is not None}
    # The file reaches the TOML source through a context variable: pydantic-settings builds
    # its sources in a classmethod, and a class attribute would be shared by every caller.
    token = _TOML_FILE.set(config_file)
    try:
        return Settings(**given)
    except PydanticValidationError as exc:
        raise ConfigError(_describe(exc)) from None
    except SettingsError as exc:  # a value that is not JSON where JSON is expected
        raise ConfigError(_describe_unparsed(exc)) from None
    finally:
        _TOML_FILE.reset(token)


# pydantic's wording for what a newcomer gets wrong most, in plain words.
_PLAIN = {
    "extra_forbidden": "unknown setting",
    "missing": "is required",
    "tuple_type": "must be a list",
    "model_type": 'must be an object with "name", "username" and "secret"',
}


def _describe(exc: PydanticValidationError) -> str:
    first = exc.errors()[0]
    loc = first["loc"]
    # pydantic puts the input in its message for some errors: keep only the reason.
    reason = first["msg"].removeprefix("Value error, ")
    reason = _PLAIN.get(first["type"], reason)
    if loc[0] == "pbx" and len(loc) > 1 and isinstance(loc[1], int):
        # One entry of the list: which one (counted from 1), and its field.
        field = "".join(f"{part}: " for part in loc[2:])
        return f"invalid setting {ENV_PREFIX}PBX: PBX {loc[1] + 1}: {field}{reason}"
    path = "__".join(str(part) for part in loc)
    return f"invalid setting {ENV_PREFIX}{path.upper()}: {reason}"


def _describe_unparsed(exc: SettingsError) -> str:
    """pydantic-settings' "error parsing value for field ..." in words; never the value (the
    PBX list holds AMI secrets), only where the JSON breaks."""
    found = re.search(r'field "(\w+)"', str(exc))
    name = f"{ENV_PREFIX}{found.group(1).upper()}" if found else "a setting"
    cause = exc.__cause__
    where = ""
    if isinstance(cause, json.JSONDecodeError):
        where = f" (line {cause.lineno}, column {cause.colno}: {cause.msg})"
    example = (
        ' such as [{"name": "main", "host": "10.0.0.5", "username": "callpool", "secret": "..."}]'
    )
    hint = example if name == f"{ENV_PREFIX}PBX" else ""
    return f"invalid setting {name}: not valid JSON{where}; write a JSON list{hint}"
