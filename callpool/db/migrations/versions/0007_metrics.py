"""Metrics: call facts, rollups, ad spend, metric settings; hangup cause and outcome on calls

- ``calls``: the Q.850 ``hangup_cause`` of the customer's leg, an ``outcome`` and a
  ``value`` (set later by users or a CRM), and the indexes the metrics look calls up by
  (call-backs to a number; calls changed since the last roll-up).
- ``campaigns``: the metric settings, with their defaults for existing campaigns.
- ``ad_spend``: imported spend per channel and local day.
- ``metric_call_facts``, ``metric_rollups``: derived, rebuilt from ``calls`` at any time
  (``callpool metrics rebuild``); ``metric_dirty_days`` and ``metric_state`` drive the
  roll-up job.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import callpool.db.types

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "metric_state",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("watermark", callpool.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("fresh_at", callpool.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_metric_state")),
    )
    op.create_table(
        "metric_dirty_days",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("local_day", sa.Date(), nullable=False),
        sa.Column("marked_at", callpool.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_metric_dirty_days_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("campaign_id", "local_day", name=op.f("pk_metric_dirty_days")),
    )
    op.create_table(
        "metric_rollups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("local_day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("channel_key", sa.Integer(), nullable=False),
        sa.Column("hour", sa.SmallInteger(), nullable=False),
        sa.Column("weekday", sa.SmallInteger(), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("first_time_calls", sa.Integer(), nullable=False),
        sa.Column("answered", sa.Integer(), nullable=False),
        sa.Column("no_answer", sa.Integer(), nullable=False),
        sa.Column("busy", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("abandoned", sa.Integer(), nullable=False),
        sa.Column("short_abandons", sa.Integer(), nullable=False),
        sa.Column("target_calls", sa.Integer(), nullable=False),
        sa.Column("answered_in_sl", sa.Integer(), nullable=False),
        sa.Column("successful_calls", sa.Integer(), nullable=False),
        sa.Column("billed_minutes", sa.Integer(), nullable=False),
        sa.Column("known_missed_calls", sa.Integer(), nullable=False),
        sa.Column("revenue", sa.Numeric(precision=16, scale=2), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_metric_rollups_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metric_rollups")),
        sa.UniqueConstraint(
            "campaign_id",
            "local_day",
            "kind",
            "channel_key",
            "hour",
            name="uq_metric_rollups_campaign_id_key",
        ),
    )
    op.create_table(
        "ad_spend",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=True),
        sa.Column("updated_at", callpool.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_ad_spend_amount_nonnegative")),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_ad_spend_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.id"],
            name=op.f("fk_ad_spend_channel_id_channels"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ad_spend")),
        sa.UniqueConstraint("channel_id", "day", name="uq_ad_spend_channel_id_day"),
    )
    with op.batch_alter_table("ad_spend", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ad_spend_campaign_id"), ["campaign_id"], unique=False)

    op.create_table(
        "metric_call_facts",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=True),
        sa.Column("local_day", sa.Date(), nullable=False),
        sa.Column("hour", sa.SmallInteger(), nullable=False),
        sa.Column("weekday", sa.SmallInteger(), nullable=False),
        sa.Column("customer", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("short_abandon", sa.Boolean(), nullable=False),
        sa.Column("wait_seconds", sa.Integer(), nullable=False),
        sa.Column("talk_seconds", sa.Integer(), nullable=False),
        sa.Column("target", sa.Boolean(), nullable=False),
        sa.Column("first_time", sa.Boolean(), nullable=False),
        sa.Column("answered_in_sl", sa.Boolean(), nullable=False),
        sa.Column("billed_minutes", sa.Integer(), nullable=False),
        sa.Column("successful", sa.Boolean(), nullable=False),
        sa.Column("value", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("hangup_cause", sa.Integer(), nullable=True),
        sa.Column("answered_by", sa.String(length=64), nullable=True),
        sa.Column("called_back_by_us", sa.Boolean(), nullable=False),
        sa.Column("called_back_by_themselves", sa.Boolean(), nullable=False),
        sa.Column("attempted", sa.Boolean(), nullable=False),
        sa.Column("attempt_delay", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["call_id"],
            ["calls.id"],
            name=op.f("fk_metric_call_facts_call_id_calls"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_metric_call_facts_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("campaign_id", "call_id", name=op.f("pk_metric_call_facts")),
    )
    with op.batch_alter_table("metric_call_facts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_metric_call_facts_campaign_id_local_day", ["campaign_id", "local_day"], unique=False
        )
        batch_op.create_index(
            "ix_metric_call_facts_customer_local_day", ["customer", "local_day"], unique=False
        )

    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.add_column(sa.Column("hangup_cause", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("outcome", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("value", sa.Numeric(precision=14, scale=2), nullable=True))
        batch_op.create_index(
            "ix_calls_called_number_started_at", ["called_number", "started_at"], unique=False
        )
        batch_op.create_index("ix_calls_updated_at", ["updated_at"], unique=False)

    defaults = {
        "short_abandon_seconds": (sa.Integer(), sa.text("5")),
        "service_level_seconds": (sa.Integer(), sa.text("20")),
        "callback_window_days": (sa.Integer(), sa.text("7")),
        "self_callback_same_day": (sa.Boolean(), sa.true()),
        "outcomes": (sa.JSON(), sa.text("""'["lead", "sale", "spam", "not relevant"]'""")),
        "successful_outcomes": (sa.JSON(), sa.text("""'["lead", "sale"]'""")),
        "telephony_cost_per_minute": (sa.Numeric(precision=10, scale=4), sa.text("0")),
    }
    with op.batch_alter_table("campaigns") as batch_op:
        for name, (type_, default) in defaults.items():
            batch_op.add_column(sa.Column(name, type_, nullable=False, server_default=default))
        batch_op.add_column(sa.Column("first_time_lookback_days", sa.Integer(), nullable=True))
    # The model sets these defaults itself: only existing rows needed them.
    with op.batch_alter_table("campaigns") as batch_op:
        for name in defaults:
            batch_op.alter_column(name, server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_column("telephony_cost_per_minute")
        batch_op.drop_column("successful_outcomes")
        batch_op.drop_column("outcomes")
        batch_op.drop_column("first_time_lookback_days")
        batch_op.drop_column("self_callback_same_day")
        batch_op.drop_column("callback_window_days")
        batch_op.drop_column("service_level_seconds")
        batch_op.drop_column("short_abandon_seconds")

    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_index("ix_calls_updated_at")
        batch_op.drop_index("ix_calls_called_number_started_at")
        batch_op.drop_column("value")
        batch_op.drop_column("outcome")
        batch_op.drop_column("hangup_cause")

    with op.batch_alter_table("metric_call_facts", schema=None) as batch_op:
        batch_op.drop_index("ix_metric_call_facts_customer_local_day")
        batch_op.drop_index("ix_metric_call_facts_campaign_id_local_day")

    op.drop_table("metric_call_facts")
    with op.batch_alter_table("ad_spend", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ad_spend_campaign_id"))

    op.drop_table("ad_spend")
    op.drop_table("metric_rollups")
    op.drop_table("metric_dirty_days")
    op.drop_table("metric_state")
