"""Who rang but missed, and callers' region and line type

- ``calls.missed_by``: the agents whose phone rang for an inbound call and who never
  answered it (a JSON list; existing rows: nobody known).
- ``metric_agent_misses``: derived with the facts, one row per (call, agent who missed it).
- ``metric_call_facts.caller_region`` and ``line_type``: from the caller's number.

Revision ID: 0014
Revises: 0009
Create Date: 2026-12-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch_op:
        batch_op.add_column(sa.Column("missed_by", sa.JSON(), nullable=False, server_default="[]"))
    with op.batch_alter_table("calls") as batch_op:
        batch_op.alter_column("missed_by", server_default=None)
    with op.batch_alter_table("metric_call_facts") as batch_op:
        batch_op.add_column(sa.Column("caller_region", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("line_type", sa.String(length=24), nullable=True))
    op.create_table(
        "metric_agent_misses",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.Integer(), nullable=False),
        sa.Column("agent", sa.String(length=64), nullable=False),
        sa.Column("local_day", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["call_id"],
            ["calls.id"],
            name=op.f("fk_metric_agent_misses_call_id_calls"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_metric_agent_misses_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "campaign_id", "call_id", "agent", name=op.f("pk_metric_agent_misses")
        ),
    )
    with op.batch_alter_table("metric_agent_misses") as batch_op:
        batch_op.create_index(
            "ix_metric_agent_misses_campaign_id_local_day", ["campaign_id", "local_day"]
        )


def downgrade() -> None:
    op.drop_table("metric_agent_misses")
    with op.batch_alter_table("metric_call_facts") as batch_op:
        batch_op.drop_column("line_type")
        batch_op.drop_column("caller_region")
    with op.batch_alter_table("calls") as batch_op:
        batch_op.drop_column("missed_by")
