"""The data model: SQLAlchemy 2 typed declarative tables.

Migrations in ``db/migrations/`` build exactly this model on SQLite and PostgreSQL; a test
checks that autogenerate finds no difference. Relationships are ``lazy="raise_on_sql"``
so that no query runs behind the async code's back.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from callpool.db.types import UtcDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

E164 = String(16)
UTM = String(255)
URL = String(2048)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UtcDateTime(), dict[str, Any]: JSON, list[str]: JSON}  # noqa: RUF012


class Site(Base):
    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    public_key: Mapped[str] = mapped_column(String(64), unique=True)
    allowed_origins: Mapped[list[str]] = mapped_column(default=list)
    own_numbers: Mapped[list[str]] = mapped_column(default=list)
    blocked_cidrs: Mapped[list[str]] = mapped_column(default=list)
    consent_required: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_cookie: Mapped[str | None] = mapped_column(String(120))
    # Viewers see callers' numbers masked (+7495*****67); admins see them whole.
    mask_callers: Mapped[bool] = mapped_column(Boolean, default=False)
    # Days to keep raw AMI events, page views and sessions (NULL: forever); calls and
    # rollups are kept whatever these say (callpool/retention/).
    raw_events_retention_days: Mapped[int | None] = mapped_column(Integer)
    page_views_retention_days: Mapped[int | None] = mapped_column(Integer)
    sessions_retention_days: Mapped[int | None] = mapped_column(Integer)
    # Call recordings (callpool/recordings/): links shown at all, to viewers too, and how
    # long the files are kept (NULL: forever; keep_target_only: other calls' files go).
    recordings_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    recordings_for_viewers: Mapped[bool] = mapped_column(Boolean, default=True)
    recording_retention_days: Mapped[int | None] = mapped_column(Integer)
    recording_keep_target_only: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]


class Campaign(Base):
    __tablename__ = "campaigns"
    __table_args__ = (
        UniqueConstraint("site_id", "name", name="uq_campaigns_site_id_name"),
        CheckConstraint("target_seconds >= 0", name="target_seconds_nonnegative"),
        CheckConstraint("hold_seconds > 0", name="hold_seconds_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    target_seconds: Mapped[int] = mapped_column(Integer, default=10)
    hold_seconds: Mapped[int] = mapped_column(Integer, default=900)
    cooldown_seconds: Mapped[int] = mapped_column(Integer, default=60)
    attribution_grace_seconds: Mapped[int] = mapped_column(Integer, default=1800)
    fallback_number: Mapped[str | None] = mapped_column(E164)
    # The site's own numbers this campaign replaces (E.164); empty: all of them.
    swap_numbers: Mapped[list[str]] = mapped_column(default=list)
    # Metric settings (docs/metrics.md).
    short_abandon_seconds: Mapped[int] = mapped_column(Integer, default=5)
    service_level_seconds: Mapped[int] = mapped_column(Integer, default=20)
    callback_window_days: Mapped[int] = mapped_column(Integer, default=7)
    self_callback_same_day: Mapped[bool] = mapped_column(Boolean, default=True)
    first_time_lookback_days: Mapped[int | None] = mapped_column(Integer)  # NULL: unlimited
    # The outcomes a call of this campaign can be given, and which of them count as success.
    outcomes: Mapped[list[str]] = mapped_column(
        default=lambda: ["lead", "sale", "spam", "not relevant"]
    )
    successful_outcomes: Mapped[list[str]] = mapped_column(default=lambda: ["lead", "sale"])
    telephony_cost_per_minute: Mapped[Decimal] = mapped_column(Numeric(10, 4), default=Decimal("0"))
    created_at: Mapped[datetime]


class Channel(Base):
    __tablename__ = "channels"
    __table_args__ = (
        UniqueConstraint("campaign_id", "name", name="uq_channels_campaign_id_name"),
        CheckConstraint("kind IN ('pool', 'static')", name="kind_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(16), default="pool")
    utm_source: Mapped[str | None] = mapped_column(UTM)
    utm_medium: Mapped[str | None] = mapped_column(UTM)
    utm_campaign: Mapped[str | None] = mapped_column(UTM)
    referrer_host: Mapped[str | None] = mapped_column(String(255))
    click_id_param: Mapped[str | None] = mapped_column(String(32))
    priority: Mapped[int] = mapped_column(Integer, default=100)
    ad_spend_per_day: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal("0"))
    created_at: Mapped[datetime]


class TrackingNumber(Base):
    """A number callers dial: in a campaign's pool (channel_id NULL) or a static channel's."""

    __tablename__ = "tracking_numbers"
    __table_args__ = (
        # The pool pick (tracking/visit_sql.py) in pick order: the numbers free to hand out,
        # least recently released first. A number leaves the index while it is leased
        # (leased_until set) and comes back when its lease is released. The predicate is
        # spelt per database as each renders the pick's WHERE, so that both see the query
        # implies it.
        Index(
            "ix_tracking_numbers_pick",
            "campaign_id",
            "last_released_at",
            "e164",
            sqlite_where=text(
                "channel_id IS NULL AND active = 1 AND retiring = 0 AND leased_until IS NULL"
            ),
            postgresql_where=text(
                "channel_id IS NULL AND active AND NOT retiring AND leased_until IS NULL"
            ),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    e164: Mapped[str] = mapped_column(E164, unique=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    channel_id: Mapped[int | None] = mapped_column(
        ForeignKey("channels.id", ondelete="SET NULL"), index=True
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # A retiring number finishes its live lease, then is no longer handed out.
    retiring: Mapped[bool] = mapped_column(Boolean, default=False)
    last_released_at: Mapped[datetime | None]
    # Expiry of the open lease, kept on the number row itself so that the pick's row lock
    # re-checks it: a number leased by a concurrent visit is skipped, not picked twice.
    # NULL exactly when no lease is open (releasing a lease clears it).
    leased_until: Mapped[datetime | None]
    created_at: Mapped[datetime]


class Visitor(Base):
    __tablename__ = "visitors"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    client_id: Mapped[str | None] = mapped_column(String(100))
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]


class Session(Base):
    """One visit: where it came from and which channel it belongs to."""

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    visitor_id: Mapped[str] = mapped_column(
        ForeignKey("visitors.id", ondelete="CASCADE"), index=True
    )
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="SET NULL"))
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("channels.id", ondelete="SET NULL"))
    source: Mapped[str] = mapped_column(String(16), default="direct")
    utm_source: Mapped[str | None] = mapped_column(UTM)
    utm_medium: Mapped[str | None] = mapped_column(UTM)
    utm_campaign: Mapped[str | None] = mapped_column(UTM)
    utm_content: Mapped[str | None] = mapped_column(UTM)
    utm_term: Mapped[str | None] = mapped_column(UTM)
    referrer: Mapped[str | None] = mapped_column(URL)
    landing_url: Mapped[str | None] = mapped_column(URL)
    gclid: Mapped[str | None] = mapped_column(String(255))
    yclid: Mapped[str | None] = mapped_column(String(255))
    fbclid: Mapped[str | None] = mapped_column(String(255))
    msclkid: Mapped[str | None] = mapped_column(String(255))
    click_ids: Mapped[dict[str, Any]] = mapped_column(default=dict)
    client_id: Mapped[str | None] = mapped_column(String(100))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    ip: Mapped[str | None] = mapped_column(String(45))
    started_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_sessions_campaign_id_started_at", "campaign_id", "started_at"),
        # The retention walk, oldest first, keyset by (time, id) (retention/prune.py).
        Index("ix_sessions_started_at_id", "started_at", "id"),
    )


class Lease(Base):
    """A number shown to a session. Rows are never deleted: calls are attributed against them."""

    __tablename__ = "leases"
    __table_args__ = (
        # The backbone of "never two live sessions on one number": at most one open lease a number.
        Index(
            "uq_leases_open_number",
            "number_id",
            unique=True,
            sqlite_where=text("released_at IS NULL"),
            postgresql_where=text("released_at IS NULL"),
        ),
        Index("ix_leases_number_id_leased_at", "number_id", "leased_at"),
        Index("ix_leases_expires_at", "expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number_id: Mapped[int] = mapped_column(ForeignKey("tracking_numbers.id", ondelete="CASCADE"))
    session_id: Mapped[str] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), index=True
    )
    visitor_id: Mapped[str] = mapped_column(String(36), index=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    leased_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    released_at: Mapped[datetime | None]


class PageView(Base):
    __tablename__ = "page_views"
    __table_args__ = (
        Index("ix_page_views_session_id_viewed_at", "session_id", "viewed_at"),
        Index("ix_page_views_viewed_at_id", "viewed_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(URL)
    title: Mapped[str | None] = mapped_column(String(255))
    viewed_at: Mapped[datetime]


class Call(Base):
    """One call, keyed by PBX and linkedid, with its attribution and raw CDRs."""

    __tablename__ = "calls"
    __table_args__ = (
        UniqueConstraint("pbx", "linkedid", name="uq_calls_pbx_linkedid"),
        Index("ix_calls_campaign_id_started_at", "campaign_id", "started_at"),
        Index("ix_calls_caller_number_started_at", "caller_number", "started_at"),
        # Metrics: a number's latest earlier call in a campaign (first-time callers).
        Index(
            "ix_calls_caller_number_campaign_id_started_at",
            "caller_number",
            "campaign_id",
            "started_at",
        ),
        Index("ix_calls_started_at", "started_at"),
        # Metrics: our call-back attempts to a number; the calls changed since a roll-up.
        Index("ix_calls_called_number_started_at", "called_number", "started_at"),
        Index("ix_calls_updated_at", "updated_at"),
        CheckConstraint("direction IN ('inbound', 'outbound', 'internal')", name="direction"),
        CheckConstraint("wait_seconds >= 0 AND talk_seconds >= 0", name="durations"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    pbx: Mapped[str] = mapped_column(String(64))
    linkedid: Mapped[str] = mapped_column(String(64))
    uniqueid: Mapped[str] = mapped_column(String(64))
    direction: Mapped[str] = mapped_column(String(16))
    caller_number: Mapped[str | None] = mapped_column(String(32))
    called_number: Mapped[str | None] = mapped_column(String(32))
    started_at: Mapped[datetime]
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime]
    # How the end is known (asterisk/README.md, "End markers"): NULL = its hangups were
    # seen; "cdr", "pbx_lost", "listener_down" or "stale" otherwise. end_estimated: the
    # end is callpool's estimate, not the PBX's.
    end_estimated: Mapped[bool] = mapped_column(default=False)
    end_reason: Mapped[str | None] = mapped_column(String(16))
    wait_seconds: Mapped[int] = mapped_column(Integer, default=0)
    talk_seconds: Mapped[int] = mapped_column(Integer, default=0)
    disposition: Mapped[str] = mapped_column(String(16))
    answered_by: Mapped[str | None] = mapped_column(String(64))
    transfers: Mapped[list[str]] = mapped_column(default=list)
    # Inbound: the agents whose phone rang for the call and who never answered it.
    missed_by: Mapped[list[str]] = mapped_column(default=list)
    tracking_number_id: Mapped[int | None] = mapped_column(
        ForeignKey("tracking_numbers.id", ondelete="SET NULL")
    )
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="SET NULL"))
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("channels.id", ondelete="SET NULL"))
    session_id: Mapped[str | None] = mapped_column(
        ForeignKey("sessions.id", ondelete="SET NULL"), index=True
    )
    visitor_id: Mapped[str | None] = mapped_column(String(36))
    attribution: Mapped[str | None] = mapped_column(String(32))
    raw_cdrs: Mapped[list[str]] = mapped_column(default=list)
    # Q.850 cause of the customer's leg's hangup.
    hangup_cause: Mapped[int | None] = mapped_column(Integer)
    # Set later by a user or a CRM (one of the campaign's outcomes, and a value); writers
    # that change them must bump updated_at so that the metrics roll the call up again.
    outcome: Mapped[str | None] = mapped_column(String(32))
    value: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class AmiEvent(Base):
    """A raw AMI event as received, so calls can be rebuilt from what the PBX said.

    ``seq`` is the journal's sequence number: replaying the journal writes nothing twice.
    """

    __tablename__ = "ami_events"
    __table_args__ = (
        UniqueConstraint("pbx", "seq", name="uq_ami_events_pbx_seq"),
        Index("ix_ami_events_pbx_linkedid", "pbx", "linkedid"),
        Index("ix_ami_events_received_at_id", "received_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    pbx: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(BigInteger)
    received_at: Mapped[datetime]
    event: Mapped[str] = mapped_column(String(64))
    linkedid: Mapped[str | None] = mapped_column(String(64))
    frame: Mapped[str] = mapped_column(Text)


class LiveCall(Base):
    """A call in progress, as its PBX's listener last published it (for the live page).

    The listener upserts a row when a call starts ringing or is answered and deletes it
    when every channel hung up; it clears its PBX's rows when it starts or stops
    listening. Derived and short-lived: the finished call is in ``calls``.
    """

    __tablename__ = "live_calls"

    pbx: Mapped[str] = mapped_column(String(64), primary_key=True)
    linkedid: Mapped[str] = mapped_column(String(64), primary_key=True)
    direction: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))  # ringing | talking
    caller_number: Mapped[str] = mapped_column(String(32))
    dialled_number: Mapped[str] = mapped_column(String(32))  # E.164 where it is one
    agent: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime]
    answered_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class LoginFailure(Base):
    """A failed dashboard log-in, counted by every process (login throttling).

    ``key`` is the SHA-256 of "name and address" or of "address": the name typed is never
    stored. Rows older than the throttling window are purged.
    """

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_key_failed_at", "key", "failed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64))
    failed_at: Mapped[datetime]


class PoolCounter(Base):
    """Per-hour counts of what the number API refused or could not serve.

    ``campaign_id`` is 0 for counts that belong to no campaign (a bot on the site), so the
    key has no NULL in it and can be upserted on both databases.
    """

    __tablename__ = "pool_counters"
    __table_args__ = (
        UniqueConstraint(
            "site_id", "campaign_id", "hour", "kind", name="uq_pool_counters_site_id_key"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    campaign_id: Mapped[int] = mapped_column(Integer, default=0)
    hour: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(32))
    count: Mapped[int] = mapped_column(Integer, default=0)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint("role IN ('admin', 'viewer')", name="role_known"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(16), default="viewer")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # True: every site (users made before site membership); False: the sites in user_sites.
    all_sites: Mapped[bool] = mapped_column(Boolean, default=True)
    # The dashboard's language ("en", "ru"); NULL: the browser's Accept-Language.
    locale: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime]


class UserSite(Base):
    """A site a user may see (when the user is not granted all sites)."""

    __tablename__ = "user_sites"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    site_id: Mapped[int] = mapped_column(
        ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class WebSession(Base):
    """A dashboard log-in. The cookie holds a random token; only its SHA-256 is kept here,
    so logging out (deleting the row) ends the session whatever copy of the cookie exists."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class ApiToken(Base):
    """A bearer token; only its SHA-256 is kept (tokens are random, so a slow hash buys nothing)."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class AdSpend(Base):
    """Advertising spend of a channel on one local day of its campaign (imported)."""

    __tablename__ = "ad_spend"
    __table_args__ = (
        UniqueConstraint("channel_id", "day", name="uq_ad_spend_channel_id_day"),
        CheckConstraint("amount >= 0", name="amount_nonnegative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    currency: Mapped[str] = mapped_column(String(3), default="RUB")
    source: Mapped[str | None] = mapped_column(String(64))  # e.g. the import's file or API
    updated_at: Mapped[datetime]


class MetricCallFacts(Base):
    """One inbound call of a campaign's report, judged once (``metrics.model.CallFacts``).

    Derived: dropped and rebuilt from ``calls`` per campaign and local day. What exact
    distinct counts and medians over any period need. An untracked call (the site's main
    line) has a row in each campaign of its site.
    """

    __tablename__ = "metric_call_facts"
    __table_args__ = (
        Index("ix_metric_call_facts_campaign_id_local_day", "campaign_id", "local_day"),
        Index("ix_metric_call_facts_customer_local_day", "customer", "local_day"),
    )

    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    call_id: Mapped[int] = mapped_column(
        ForeignKey("calls.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(12))
    channel_id: Mapped[int | None] = mapped_column(Integer)
    local_day: Mapped[date] = mapped_column(Date)
    hour: Mapped[int] = mapped_column(SmallInteger)
    weekday: Mapped[int] = mapped_column(SmallInteger)
    customer: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(12))
    short_abandon: Mapped[bool] = mapped_column(Boolean)
    wait_seconds: Mapped[int] = mapped_column(Integer)
    talk_seconds: Mapped[int] = mapped_column(Integer)
    target: Mapped[bool] = mapped_column(Boolean)
    first_time: Mapped[bool] = mapped_column(Boolean)
    answered_in_sl: Mapped[bool] = mapped_column(Boolean)
    billed_minutes: Mapped[int] = mapped_column(Integer)
    successful: Mapped[bool] = mapped_column(Boolean)
    value: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    hangup_cause: Mapped[int | None] = mapped_column(Integer)
    answered_by: Mapped[str | None] = mapped_column(String(64))
    called_back_by_us: Mapped[bool] = mapped_column(Boolean)
    called_back_by_themselves: Mapped[bool] = mapped_column(Boolean)
    attempted: Mapped[bool] = mapped_column(Boolean)
    attempt_delay: Mapped[int | None] = mapped_column(Integer)
    # From the caller's number (phonenumbers): where it is, and mobile / fixed line / ...
    caller_region: Mapped[str | None] = mapped_column(String(64))
    line_type: Mapped[str | None] = mapped_column(String(24))


class MetricAgentMiss(Base):
    """An agent whose phone rang for a call of the report and who never answered it.

    Derived with ``metric_call_facts`` (same campaign, call and local day), rebuilt with
    them: per agent, "rang but missed" is a count over a period.
    """

    __tablename__ = "metric_agent_misses"
    __table_args__ = (
        Index("ix_metric_agent_misses_campaign_id_local_day", "campaign_id", "local_day"),
    )

    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    call_id: Mapped[int] = mapped_column(
        ForeignKey("calls.id", ondelete="CASCADE"), primary_key=True
    )
    agent: Mapped[str] = mapped_column(String(64), primary_key=True)
    local_day: Mapped[date] = mapped_column(Date)


class MetricRollup(Base):
    """Additive figures per campaign, row (kind, channel), local day and hour.

    Derived from ``metric_call_facts``; dropped and rebuilt with them. ``channel_key`` is
    the channel id, or 0 for the unattributed and untracked rows (no NULL in the key).
    """

    __tablename__ = "metric_rollups"
    __table_args__ = (
        UniqueConstraint(
            "campaign_id",
            "local_day",
            "kind",
            "channel_key",
            "hour",
            name="uq_metric_rollups_campaign_id_key",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    local_day: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(12))
    channel_key: Mapped[int] = mapped_column(Integer)
    hour: Mapped[int] = mapped_column(SmallInteger)
    weekday: Mapped[int] = mapped_column(SmallInteger)
    calls: Mapped[int] = mapped_column(Integer)
    first_time_calls: Mapped[int] = mapped_column(Integer)
    answered: Mapped[int] = mapped_column(Integer)
    no_answer: Mapped[int] = mapped_column(Integer)
    busy: Mapped[int] = mapped_column(Integer)
    failed: Mapped[int] = mapped_column(Integer)
    abandoned: Mapped[int] = mapped_column(Integer)
    short_abandons: Mapped[int] = mapped_column(Integer)
    target_calls: Mapped[int] = mapped_column(Integer)
    answered_in_sl: Mapped[int] = mapped_column(Integer)
    successful_calls: Mapped[int] = mapped_column(Integer)
    billed_minutes: Mapped[int] = mapped_column(Integer)
    known_missed_calls: Mapped[int] = mapped_column(Integer)
    revenue: Mapped[Decimal] = mapped_column(Numeric(16, 2))


class MetricDirtyDay(Base):
    """A campaign's local day whose facts must be rebuilt (written by whoever changes
    what they depend on outside ``calls``; the roll-up job clears it)."""

    __tablename__ = "metric_dirty_days"

    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    local_day: Mapped[date] = mapped_column(Date, primary_key=True)
    marked_at: Mapped[datetime]


class MetricState(Base):
    """Per job: the ``calls.updated_at`` seen so far and when the figures were fresh."""

    __tablename__ = "metric_state"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    watermark: Mapped[datetime | None]
    fresh_at: Mapped[datetime | None]


class CallRecording(Base):
    """A recording of a call, named by the PBX (a CDR field) or found by a file pattern.

    Keyed by (pbx, linkedid, name) like the call itself, so writing a call again names
    the same recording once. ``state``: ``pending`` (named, file not seen yet), ``present``
    (found, checksummed), ``missing`` (never appeared within the linking window),
    ``deleted`` (removed by retention; the row stays as the record that it existed).
    """

    __tablename__ = "call_recordings"
    __table_args__ = (
        UniqueConstraint("pbx", "linkedid", "name", name="uq_call_recordings_pbx_key"),
        Index("ix_call_recordings_pbx_linkedid", "pbx", "linkedid"),
        Index("ix_call_recordings_state", "state"),
        CheckConstraint(
            "state IN ('pending', 'present', 'missing', 'deleted')", name="state_known"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    pbx: Mapped[str] = mapped_column(String(64))
    linkedid: Mapped[str] = mapped_column(String(64))
    # As the PBX gave it (relative to its monitor directory, or absolute there).
    name: Mapped[str] = mapped_column(String(512))
    source: Mapped[str] = mapped_column(String(16))  # "cdr" or "pattern"
    state: Mapped[str] = mapped_column(String(16), default="pending")
    # Where callpool reads it: in place (the shared directory) or its own copy.
    path: Mapped[str | None] = mapped_column(String(1024))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    found_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]


class RecordingAccess(Base):
    """The audit log: every play and download of a recording, by whom and when."""

    __tablename__ = "recording_access"
    __table_args__ = (
        Index("ix_recording_access_at", "at"),
        CheckConstraint("action IN ('play', 'download')", name="action_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime]
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    username: Mapped[str] = mapped_column(String(64))
    recording_id: Mapped[int] = mapped_column(Integer, index=True)
    call_id: Mapped[int | None] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(16))
